"""Compression (`edgeq compress`, `--compress`): smaller models that still score.

Weight-level transforms rewrite the quantized flatbuffer through the schema module: share.py (per-channel
k-means on the int8 weights, centroids on the int8 grid), lut.py (TFLM's LUT format: TFLM_DECODE ops),
int4.py (packed kTfLiteInt4 filters); flatbuffer.py packs them, rewrite.py applies them, options.py parses
`--compress`, run.py is the driver with its typed result. Model-level transforms (prune, low-rank,
distillation) are not built yet.
"""

from __future__ import annotations

from edgeq.compress.options import Technique, parse_compress
from edgeq.compress.run import Agreement, CompressResult, TargetFit, compress_model

__all__ = ["Agreement", "CompressResult", "TargetFit", "Technique", "compress_model", "parse_compress"]
