"""edgeq: trained Keras/TensorFlow models to verified, integer-only TFLite for Cortex-M (TFLM) and Android.

The public API (the CLI is a thin layer over it):
    edgeq.convert(model_path, out_dir, options)  -> ConvertResult
    edgeq.read_model(path_or_bytes)              -> TFLiteModel
    edgeq.get_target(name), edgeq.available_targets()
    edgeq.check(model, target)                   -> CheckResult (.ok, .rules, .flash, .ram, .latency)
    edgeq.inspect(model)                         -> Inspection (.to_dict(): ops, tensors, MACs, arena)
    edgeq.validate(model, data, reference)       -> ValidationReport (.passed, .metric(), .checks, layers)
    edgeq.emit(model, out_dir, target=..., template=..., name=...) -> EmitResult (firmware project in OUT/)
    edgeq.verify(out_dir, samples=8)             -> EmulationReport (.passed; QEMU run of a --runtime c OUT/)
"""

from edgeq.check import CheckResult, check
from edgeq.emit import EmitResult, emit
from edgeq.emulate import EmulationReport, verify
from edgeq.errors import EdgeqError
from edgeq.inspect_model import Inspection, inspect
from edgeq.pipeline import ConvertOptions, ConvertResult, convert
from edgeq.targets import available_targets, get_target
from edgeq.tflite import read_model
from edgeq.validate import Thresholds, ValidationOptions, ValidationReport, validate
from edgeq.version import __version__

__all__ = [
    "CheckResult", "ConvertOptions", "ConvertResult", "EdgeqError", "EmitResult", "EmulationReport", "Inspection",
    "Thresholds", "ValidationOptions", "ValidationReport", "__version__", "available_targets", "check", "convert",
    "emit", "get_target", "inspect", "read_model", "validate", "verify",
]
