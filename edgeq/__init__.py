"""edgeq: trained Keras/TensorFlow models to verified, integer-only TFLite for Cortex-M (TFLM) and Android.

The public API (the CLI is a thin layer over it):
    edgeq.convert(model_path, out_dir, options)  -> ConvertResult
    edgeq.read_model(path_or_bytes)              -> TFLiteModel
    edgeq.get_target(name), edgeq.available_targets()
"""

from edgeq.errors import EdgeqError
from edgeq.pipeline import ConvertOptions, ConvertResult, convert
from edgeq.targets import available_targets, get_target
from edgeq.tflite import read_model
from edgeq.version import __version__

__all__ = [
    "ConvertOptions", "ConvertResult", "EdgeqError", "__version__", "available_targets", "convert",
    "get_target", "read_model",
]
