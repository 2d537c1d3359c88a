"""Compression (`edgeq compress`, `--compress`): smaller models that still score.

Weight-level transforms rewrite the quantized flatbuffer through the schema module: share.py (per-channel
k-means on the int8 weights, centroids on the int8 grid), lut.py (TFLM's LUT format: TFLM_DECODE ops),
int4.py (packed kTfLiteInt4 filters); flatbuffer.py packs them, rewrite.py applies them, options.py parses
`--compress`, run.py is the driver with its typed result. Model-level transforms (prune, low-rank,
distillation) are not built yet.

The names below load on first use: the compiled-C engine reads lut.py and int4.py without pulling in the
driver's validation and check layers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"Technique": "edgeq.compress.options", "parse_compress": "edgeq.compress.options",
            "Agreement": "edgeq.compress.run", "CompressResult": "edgeq.compress.run",
            "TargetFit": "edgeq.compress.run", "compress_model": "edgeq.compress.run"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeq.compress' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
