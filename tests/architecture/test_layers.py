"""The house rules that keep the package readable: each pipeline step imports only the layers beneath it,
emitting C does not load the Keras/TensorFlow layers, one jinja environment, no module over 500 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgeq"

# Lowest first: a module may import its own layer and any layer with a smaller rank, never a larger one.
RANKS = {
    "errors": 0, "version": 0, "resources": 0, "tfenv": 0, "staging": 0, "schema": 0, "optspec": 0, "record": 0,
    "preprocess": 0, "files": 0, "render": 1, "templates": 1,
    "tflite": 2, "samples": 2, "sample_files": 2,
    "engine": 3, "load": 4, "quantize": 5, "validate": 6, "check": 7, "recover": 8, "compress": 8, "emit": 9,
    "emulate": 10, "report": 11, "options": 11, "pipeline": 12, "cli": 13, "__init__": 14,
}


# Modules that sit below their package: the compressed-weight formats (flatbuffer access, packed int4, TFLM_DECODE
# LUTs) import only the flatbuffer schema, and the compiled-C engine (beneath check) decodes them.
MODULE_LAYERS = {"edgeq.compress.flatbuffer": "tflite", "edgeq.compress.int4": "tflite",
                 "edgeq.compress.lut": "tflite"}


def _layer(dotted: str) -> str:
    if dotted in MODULE_LAYERS:
        return MODULE_LAYERS[dotted]
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every edgeq module `path` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("edgeq"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgeq") and node.level == 0:
            names.add(node.module)
    return names


def test_every_module_belongs_to_a_layer() -> None:
    for path in _modules():
        dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        assert _layer(dotted) in RANKS, f"{dotted}: add its layer to RANKS"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_a_layer_above_it(path: Path) -> None:
    dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    own = RANKS[_layer(dotted)]
    above = sorted(name for name in _imports(path) if name != "edgeq" and RANKS[_layer(name)] > own)
    assert not above, f"{dotted} (layer {_layer(dotted)}) imports {above}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 500


def test_one_jinja_environment_constructor() -> None:
    builders = [p.relative_to(PACKAGE).as_posix() for p in _modules() if "jinja2.Environment(" in p.read_text()]
    assert builders == ["render.py"]


def test_importing_emit_loads_neither_keras_nor_the_converter() -> None:
    code = ("import sys, edgeq.emit, edgeq.engine, edgeq.emulate, edgeq.check.rules\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = [m for m in loaded if m.split(".")[0] in ("keras", "tensorflow", "tf_keras")
             or m.startswith(("edgeq.load", "edgeq.quantize", "edgeq.validate", "edgeq.pipeline"))]
    assert "edgeq.emit" in loaded and not heavy, heavy
