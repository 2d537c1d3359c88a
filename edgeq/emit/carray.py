"""C array initializers, formatted with numpy (a multi-megabyte model takes milliseconds, not a byte loop).

`bytes_initializer` lays bytes out like `xxd -i` (12 a line, `0x%02x`); `values_initializer` formats
typed values (golden vectors) with one C literal per element.
"""

from __future__ import annotations

import codecs
import math

import numpy as np

from edgeq.errors import EmitError

BYTES_PER_LINE = 12
VALUES_PER_LINE = 16

# " 0x00," ... " 0xff,": 6 bytes per value, as one 6-byte (void) element each so that a gather copies whole
# entries; a line is one space (the entries bring the second) and 12 entries.
_HEX_TABLE = np.frombuffer(b"".join(b" 0x%02x," % i for i in range(256)), dtype="V6")


def bytes_initializer(data: bytes | bytearray | memoryview | np.ndarray, per_line: int = BYTES_PER_LINE) -> str:
    """The body of a `{ ... }` initializer for `data`: lines of `  0x1c, 0x00, ...,` ending in newlines.

    No trailing whitespace; the last element keeps its comma (valid C and C++). Empty data gives "".
    """
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8)
    raw = raw.reshape(-1)
    if raw.size == 0:
        return ""
    width = 6 * per_line
    full, tail = divmod(raw.size, per_line)
    chunks: list[str] = []
    if full:
        lines = np.empty((full, 1 + width + 1), dtype=np.uint8)
        lines[:, 0] = ord(" ")
        lines[:, 1:1 + width] = _HEX_TABLE[raw[: full * per_line]].view(np.uint8).reshape(full, width)
        lines[:, -1] = ord("\n")
        chunks.append(codecs.decode(memoryview(lines).cast("B"), "ascii"))
    if tail:
        chunks.append(" " + _HEX_TABLE[raw[full * per_line:]].tobytes().decode("ascii") + "\n")
    return "".join(chunks)


def c_float_literal(value: float) -> str:
    """A float32 value as a C `float` literal that round-trips exactly (9 significant digits)."""
    if math.isnan(value):
        raise EmitError("cannot write NaN into a C header; the model produced NaN for the golden input")
    if math.isinf(value):
        return "(3.40282347e+38f * 2.0f)" if value > 0 else "(-3.40282347e+38f * 2.0f)"
    text = f"{float(np.float32(value)):.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def _literals(values: np.ndarray) -> list[str]:
    flat = values.reshape(-1)
    if flat.dtype == np.bool_:
        return ["1" if v else "0" for v in flat.tolist()]
    if np.issubdtype(flat.dtype, np.floating):
        return [c_float_literal(v) for v in flat.astype(np.float32).tolist()]
    if np.issubdtype(flat.dtype, np.integer):
        if flat.dtype == np.int64 and flat.size and int(flat.min()) == -(2**63):
            return [str(v) if v != -(2**63) else "(-9223372036854775807LL - 1)" for v in flat.tolist()]
        suffix = {np.dtype(np.int64): "LL", np.dtype(np.uint64): "ULL", np.dtype(np.uint32): "u"}.get(flat.dtype, "")
        # INT32_MIN cannot be written as a negated literal without a wider type; spell it as an expression.
        return [(f"({v + 1} - 1)" if flat.dtype == np.int32 and v == -(2**31) else f"{v}{suffix}")
                for v in flat.tolist()]
    raise EmitError(f"cannot write values of dtype {flat.dtype} as a C initializer")


def values_initializer(values: np.ndarray, per_line: int = VALUES_PER_LINE, indent: int = 4) -> str:
    """The body of a `{ ... }` initializer for typed values (ints, floats, bools), `per_line` a line."""
    literals = _literals(np.asarray(values))
    lines = []
    for start in range(0, len(literals), per_line):
        lines.append(" " * indent + " ".join(f"{lit}," for lit in literals[start:start + per_line]) + "\n")
    return "".join(lines)
