"""edgeq: trained Keras/TensorFlow models to verified, integer-only TFLite for Cortex-M (TFLM) and Android.

The public API (the CLI is a thin layer over it); the names are verbs + nouns so none hides a subpackage:
    edgeq.convert(model_path, out_dir, options)        -> ConvertResult
    edgeq.read_model(path_or_bytes)                    -> TFLiteModel
    edgeq.get_target(name), edgeq.available_targets()
    edgeq.check_model(model, target)                   -> CheckResult (.ok, .rules, .flash, .ram, .latency)
    edgeq.inspect(model)                               -> Inspection (.to_dict(): ops, tensors, MACs, arena)
    edgeq.validate_model(model, data, reference)       -> ValidationReport (.passed, .metric(), .checks, layers)
    edgeq.emit_project(model, out_dir, target=..., template=..., name=...) -> EmitResult (project in OUT/)
    edgeq.verify(out_dir, samples=8)                   -> EmulationReport (.passed; QEMU run of an OUT/)
    edgeq.compress_model(model, output, calib=..., techniques="cluster=4") -> CompressResult (bytes, agreement)
"""

from __future__ import annotations

import importlib
from typing import Any

from edgeq.version import __version__

# Public name -> the module defining it. Loaded on first use (PEP 562), so `import edgeq.emit` or `edgeq --help`
# does not pay for the layers it does not need (the converter and validation pull in TensorFlow).
_EXPORTS = {
    "CheckResult": "edgeq.check.rules", "check_model": "edgeq.check.rules",
    "Inspection": "edgeq.check.inspection", "inspect": "edgeq.check.inspection",
    "available_targets": "edgeq.check.targets", "get_target": "edgeq.check.targets",
    "EmitResult": "edgeq.emit", "emit_project": "edgeq.emit",
    "EmulationReport": "edgeq.emulate", "verify": "edgeq.emulate",
    "EdgeqError": "edgeq.errors",
    "CompressResult": "edgeq.compress", "compress_model": "edgeq.compress",
    "ConvertOptions": "edgeq.options", "ConvertResult": "edgeq.pipeline", "convert": "edgeq.pipeline",
    "Report": "edgeq.record", "read_report": "edgeq.record",
    "read_model": "edgeq.tflite",
    "Thresholds": "edgeq.validate.session", "ValidationOptions": "edgeq.validate.options",
    "ValidationReport": "edgeq.validate.session", "validate_model": "edgeq.validate.session",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
