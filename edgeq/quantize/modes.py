"""The quantization modes and I/O types edgeq knows: one list for the converter, target profiles and the CLI."""

from __future__ import annotations

MODES = ("int8", "int16x8", "float16", "dynamic")
INTEGER_MODES = ("int8", "int16x8")
IO_TYPES = ("int8", "uint8", "float32")
