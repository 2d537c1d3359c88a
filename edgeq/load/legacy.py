"""Keras 2 files (the TF 2.x years): what a .h5/.keras file holds before any Keras runs it, and the tf-keras loader.

A functional Keras 2 model that calls TensorFlow directly (`tf.nn.relu6(x)`, `x * 0.5`, `tf.concat`, `x[..., :4]`)
stores those calls as TFOpLambda / SlicingOpLambda layers: the name of a TensorFlow API function, no user code.
Keras 3 knows none of them; the legacy Keras 2 loader (`tf-keras`) rebuilds them. A `Lambda` layer, by contrast,
stores Python bytecode that runs when the file loads: only that needs the user's trust (--unsafe-load), and
tf-keras would run it even in its safe mode, so edgeq reads the config itself and decides before any loader runs.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import ModelLoadError
from edgeq.tfenv import captured_output, tensorflow

# Layers Keras 2 writes for TensorFlow calls in a functional graph (tf_keras/src/layers/core/tf_op_layer.py).
TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda", "ClassMethod", "InstanceMethod", "InstanceProperty"})
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TF_KERAS = "tf-keras"
LAMBDA_FUNCTION = "__lambda__"  # Keras' class name for a serialized Python lambda (its bytecode, base64)


@dataclass(frozen=True)
class KerasConfig:
    """What a Keras file declares: its Keras version and the layers (class, name) anywhere in its config."""

    keras_version: str
    layers: tuple[tuple[str, str], ...] = field(default=())

    @property
    def tf_op_layers(self) -> list[str]:
        return [name for cls, name in self.layers if cls in TF_OP_LAYERS]

    @property
    def lambda_layers(self) -> list[str]:
        """Layers holding Python bytecode: Lambda layers and lambda functions (e.g. an activation)."""
        return list(dict.fromkeys(name for cls, name in self.layers if cls in ("Lambda", LAMBDA_FUNCTION)))

    @property
    def is_keras2(self) -> bool:
        return self.keras_version.startswith("2.")


def read_config(path: Path) -> KerasConfig:
    """The model config inside a .keras (zip) or .h5 (HDF5) file; ModelLoadError when the file is not one."""
    if path.suffix.lower() == ".keras":
        return _keras_zip_config(path)
    return _h5_config(path)


def _invalid(path: Path, what: str, reason: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: not a valid Keras {what} file ({reason}); is it truncated or another format?")


def _keras_zip_config(path: Path) -> KerasConfig:
    if not zipfile.is_zipfile(path):
        raise _invalid(path, ".keras", "a .keras file is a zip archive and this is not one")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise _invalid(path, ".keras", "the archive has no config.json")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _invalid(path, ".keras", " ".join(str(exc).split())[:120]) from None
    return KerasConfig(str(metadata.get("keras_version", "")), tuple(_layers(config)))


def _h5_config(path: Path) -> KerasConfig:
    import h5py  # a Keras dependency

    with path.open("rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise _invalid(path, ".h5", "no HDF5 signature")
    try:
        with h5py.File(path, "r") as fh:
            raw_config = fh.attrs.get("model_config")
            version = fh.attrs.get("keras_version", "")
    except (OSError, ValueError, KeyError) as exc:
        raise _invalid(path, ".h5", " ".join(str(exc).split())[:120]) from None
    if raw_config is None:
        raise ModelLoadError(f"{path}: the .h5 file holds weights only (no model_config); save the whole model "
                             "(model.save) or rebuild the architecture and load these weights into it")
    if isinstance(raw_config, bytes):
        raw_config = raw_config.decode("utf-8")
    if isinstance(version, bytes):
        version = version.decode("utf-8")
    try:
        config = json.loads(raw_config)
    except ValueError as exc:
        raise _invalid(path, ".h5", f"model_config is not JSON: {exc}") from None
    return KerasConfig(str(version), tuple(_layers(config)))


def _layers(node: Any) -> list[tuple[str, str]]:
    """(class_name, name) of every object with a class name in a config, nested models included."""
    found: list[tuple[str, str]] = []

    def walk(item: Any, layer: str) -> None:
        if isinstance(item, dict):
            if _is_function_dump(item):  # a lambda as an activation: {"value": [bytecode, defaults, closure]}
                found.append((LAMBDA_FUNCTION, layer))
            if isinstance(item.get("class_name"), str):
                config = item.get("config")
                name = config.get("name") if isinstance(config, dict) else None
                found.append((item["class_name"], str(name or item.get("name") or "")))
                layer = str(name or item.get("name") or layer)
            for value in item.values():
                walk(value, layer)
        elif isinstance(item, list):
            for value in item:
                walk(value, layer)

    walk(node, "")
    return found


def _is_function_dump(item: dict[str, Any]) -> bool:
    """Keras' func_dump of a Python function: base64 bytecode with its defaults and closure."""
    if item.get("class_name") == LAMBDA_FUNCTION:
        return True
    value = item.get("value")
    return set(item) == {"value"} and isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def refuse_lambda(path: Path, config: KerasConfig) -> None:
    """A Lambda layer's Python bytecode runs on load: refuse it unless the user trusts the file."""
    names = config.lambda_layers
    if names:
        listed = ", ".join(repr(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise ModelLoadError(f"{path}: layer(s) {listed} hold Python code (a Lambda layer or a lambda function, "
                             "e.g. as an activation) that runs when the model loads; re-run with --unsafe-load only "
                             "if you trust the file")


def load_tf_keras(path: Path, unsafe: bool) -> Any:
    """Load a Keras 2 model with the legacy loader (Lambda layers were refused or allowed before this)."""
    tensorflow()
    try:
        import tf_keras
    except ImportError:
        raise ModelLoadError(f"{path}: a Keras 2 model with TensorFlow-op layers needs the legacy Keras 2 loader: "
                             "pip install tf-keras (matching your TensorFlow version)") from None
    try:
        with captured_output():
            return tf_keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # tf-keras raises ValueError/TypeError/OSError/KeyError for bad files
        message = " ".join(str(exc).split())[:300]
        raise ModelLoadError(f"{path}: the Keras 2 loader (tf-keras) could not load the model: {message}") from None
