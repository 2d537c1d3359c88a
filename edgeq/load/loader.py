"""Loading the float source model: .keras (safe mode), legacy .h5 and SavedModel directories."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import ModelLoadError
from edgeq.load import legacy
from edgeq.tfenv import captured_output, keras, tensorflow
from edgeq.tflite.signature import TensorSpec


@dataclass
class LoadedModel:
    """A float model ready for conversion and reference inference."""

    path: Path
    format: str
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    keras_model: Any = None
    signature: Any = None
    trackable: Any = field(default=None, repr=False)  # keeps a SavedModel's variables alive
    layer_names: list[str] = field(default_factory=list)
    compat_fixes: list[str] = field(default_factory=list)
    loader: str = "keras"  # what read the file: 'keras' (Keras 3), 'tf-keras' (legacy Keras 2), 'tf.saved_model'

    def predict(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Float inference on a batch: one array per input, [N, *shape] -> one array per output."""
        if self.keras_model is not None:
            feed = inputs if len(inputs) > 1 else inputs[0]
            result = self.keras_model(feed, training=False)
        else:
            tf = tensorflow()
            kwargs = {spec.name: tf.constant(x) for spec, x in zip(self.inputs, inputs, strict=True)}
            result = self.signature(**kwargs)
        if isinstance(result, dict):
            result = [result[spec.name] for spec in self.outputs]
        if not isinstance(result, list | tuple):
            result = [result]
        return [np.asarray(r, dtype=np.float32) for r in result]


def model_sha256(path: Path) -> str:
    """sha256 of a model file, or of a SavedModel directory's relative paths and contents."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode())
            digest.update(item.read_bytes())
    else:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_model(path: str | Path, unsafe: bool = False) -> LoadedModel:
    """Load a .keras file, a legacy .h5 file or a SavedModel directory."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or directory")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ModelLoadError(f"{path}: a directory must be a SavedModel (no saved_model.pb found)")
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return _load_keras(path, unsafe, "keras")
    if suffix in (".h5", ".hdf5"):
        return _load_keras(path, unsafe, "h5")
    if suffix == ".tflite":
        raise ModelLoadError(f"{path}: already a .tflite model; use `edgeq check/inspect/emit` on it")
    raise ModelLoadError(f"{path}: unknown model format {suffix!r}; expected .keras, .h5 or a SavedModel directory")


# Keras 3's safe-mode refusals; `\blambda` so that 'TFOpLambda' (a TensorFlow call, no user code) is no hint.
_UNSAFE_HINT = re.compile(r"safe_mode|arbitrary code|\blambda\b", re.I)
_UNREGISTERED = re.compile(r"Could not locate (?:class|function) '([^']+)'")
_UNRECOGNIZED = re.compile(r"Unrecognized keyword arguments? passed to (\w+): \{(.*)\}", re.S)


def _load_keras(path: Path, unsafe: bool, fmt: str) -> LoadedModel:
    config = legacy.read_config(path)  # a truncated or foreign file fails here, before any loader runs
    if not unsafe:
        legacy.refuse_lambda(path, config)
    if config.tf_op_layers:
        model = legacy.load_tf_keras(path, unsafe)
        return _from_keras(path, fmt, model, [], loader=legacy.TF_KERAS)
    try:
        return _load_keras3(path, unsafe, fmt)
    except ModelLoadError as exc:
        if not config.is_keras2:
            raise
        keras3_error = exc
    try:  # a Keras 2 file Keras 3 cannot rebuild may still load with the Keras 2 loader
        model = legacy.load_tf_keras(path, unsafe)
    except ModelLoadError:
        raise keras3_error from None
    reason = str(keras3_error).split(": ", 1)[-1][:160]
    return _from_keras(path, fmt, model, [f"loaded with tf-keras (Keras 2): Keras 3 failed: {reason}"],
                       loader=legacy.TF_KERAS)


def _load_keras3(path: Path, unsafe: bool, fmt: str) -> LoadedModel:
    k = keras()
    custom_objects: dict[str, Any] = {}
    fixes: list[str] = []
    while True:
        try:
            with captured_output():
                model = k.models.load_model(path, compile=False, safe_mode=not unsafe,
                                            custom_objects=custom_objects or None)
            break
        except Exception as exc:  # Keras raises ValueError/TypeError/OSError/KeyError for bad files
            message = " ".join(str(exc).split())
            fix = _legacy_fix(message, custom_objects)
            if fix and len(fixes) < 32:
                fixes.append(fix)
                continue
            raise _explain_keras_failure(path, message, unsafe) from None
    return _from_keras(path, fmt, model, fixes)


def _legacy_fix(message: str, custom_objects: dict[str, Any]) -> str | None:
    """Keras 2 configs carry keys Keras 3 rejects (e.g. DepthwiseConv2D's `groups`): drop exactly those."""
    match = _UNRECOGNIZED.search(message)
    if not match:
        return None
    class_name = match.group(1)
    keys = set(re.findall(r"'(\w+)'", match.group(2)))
    base = getattr(keras().layers, class_name, None)
    if base is None or not keys:
        return None
    previous = custom_objects.get(class_name)
    dropped = set(getattr(previous, "_edgeq_dropped", set())) | keys
    custom_objects[class_name] = _compat_layer(base, dropped)
    return f"{class_name}: ignored Keras 2 config key(s) {', '.join(sorted(keys))}"


def _compat_layer(base: type, dropped: set[str]) -> type:
    def from_config(cls: type, config: dict[str, Any]) -> Any:
        return base.from_config({k: v for k, v in config.items() if k not in dropped})

    return type(base.__name__, (base,), {"from_config": classmethod(from_config), "_edgeq_dropped": dropped})


def _explain_keras_failure(path: Path, message: str, unsafe: bool) -> ModelLoadError:
    lowered = message.lower()
    if not unsafe and _UNSAFE_HINT.search(lowered):
        return ModelLoadError(
            f"{path}: the model needs unsafe deserialization (e.g. a Lambda layer runs arbitrary code); "
            "re-run with --unsafe-load only if you trust the file")
    custom = _UNREGISTERED.search(message)
    if custom:
        registered = re.search(r"'registered_name': '([^']+)'", message[custom.end():])
        known_as = f" (saved as {registered.group(1)!r})" if registered else ""
        return ModelLoadError(
            f"{path}: the model uses the custom class {custom.group(1)!r}{known_as}, which is not part of Keras: "
            "from the command line edgeq loads built-in layers only; rebuild the model from built-in layers, or "
            "import the module that registers the class (@keras.saving.register_keras_serializable) and call "
            "edgeq.convert() from Python")
    layer = re.search(r"layer[^'\"]*['\"]([\w./-]+)['\"]", message)
    where = f" (layer {layer.group(1)!r})" if layer else ""
    return ModelLoadError(f"{path}: Keras could not load the model{where}: {message[:300]}")


def _from_keras(path: Path, fmt: str, model: Any, fixes: list[str], loader: str = "keras") -> LoadedModel:
    try:
        inputs = [TensorSpec(_tensor_name(t, f"input_{i}"), _static_shape(path, t.shape), _dtype(t))
                  for i, t in enumerate(model.inputs)]
        output_names = [producer_layer(t) or _tensor_name(t, f"output_{i}") for i, t in enumerate(model.outputs)]
        outputs = [TensorSpec(name, tuple(int(d or 0) for d in t.shape[1:]), "float32")
                   for name, t in zip(output_names, model.outputs, strict=True)]
    except AttributeError:
        raise ModelLoadError(f"{path}: a subclassed Keras model without defined inputs cannot be converted; "
                             "build it with keras.Input or call it once before saving") from None
    return LoadedModel(path=path, format=fmt, sha256=model_sha256(path), inputs=inputs, outputs=outputs,
                       keras_model=model, layer_names=[layer.name for layer in model.layers], compat_fixes=fixes,
                       loader=loader)


def _tensor_name(tensor: Any, default: str) -> str:
    name = getattr(tensor, "name", "") or default
    return re.sub(r"[:/].*$", "", name) or default


def producer_layer(tensor: Any) -> str:
    """The name of the Keras layer that produced a symbolic Keras tensor ('' when unknown); more telling
    than the tensor's own name ('keras_tensor_27')."""
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None) or (history[0] if history else None)
    return str(getattr(operation, "name", None) or "")


def _static_shape(path: Path, shape: Any) -> tuple[int, ...]:
    dims = tuple(shape[1:])
    if any(d is None for d in dims):
        raise ModelLoadError(f"{path}: input shape {tuple(shape)} has unknown dimensions besides the batch; "
                             "microcontroller models need a fixed input shape")
    return tuple(int(d) for d in dims)


def _dtype(tensor: Any) -> str:
    dtype = getattr(tensor, "dtype", "float32")
    return getattr(dtype, "name", str(dtype))


def _load_saved_model(path: Path) -> LoadedModel:
    tf = tensorflow()
    try:
        with captured_output():
            loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelLoadError(f"{path}: TensorFlow could not load the SavedModel: {reason}") from None
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ModelLoadError(f"{path}: the SavedModel has no signatures; save it with a serving signature")
    key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    signature = signatures[key]
    _, kwargs = signature.structured_input_signature
    inputs = [TensorSpec(name, _static_shape(path, spec.shape), spec.dtype.name)
              for name, spec in sorted(kwargs.items())]
    outputs = [TensorSpec(name, tuple(int(d or 0) for d in spec.shape[1:]), spec.dtype.name)
               for name, spec in sorted(signature.structured_outputs.items())]
    return LoadedModel(path=path, format="savedmodel", sha256=model_sha256(path), inputs=inputs, outputs=outputs,
                       signature=signature, trackable=loaded, loader="tf.saved_model")


def batch_one_specs(model: LoadedModel) -> list[Any]:
    """tf.TensorSpecs of the model's inputs with a batch of 1: no dynamic batch, so no SHAPE/STRIDED_SLICE ops."""
    tf = tensorflow()
    return [tf.TensorSpec([1, *spec.shape], tf.dtypes.as_dtype(spec.dtype), name=spec.name) for spec in model.inputs]


def fixed_batch_function(model: LoadedModel) -> Callable[..., Any]:
    """A tf.function with a batch-1 signature, so the converter emits no dynamic-shape ops."""
    tf = tensorflow()
    specs = batch_one_specs(model)

    if model.keras_model is not None:
        keras_model = model.keras_model

        def call(*args: Any) -> Any:
            return keras_model(list(args) if len(args) > 1 else args[0], training=False)
    else:
        signature = model.signature
        names = [spec.name for spec in model.inputs]

        def call(*args: Any) -> Any:
            return signature(**dict(zip(names, args, strict=True)))

    return tf.function(call, input_signature=specs, autograph=False)
