"""C array formatting: the xxd -i layout, exact round trips, typed literals."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgeq.errors import EmitError
from edgeq.render import bytes_initializer, c_float_literal
from edgeq.render import c_values as values_initializer


def reference_xxd_body(data: bytes, per_line: int = 12) -> str:
    """The slow, obvious formatting `bytes_initializer` must reproduce (xxd -i's layout, comma after each)."""
    lines = []
    for start in range(0, len(data), per_line):
        lines.append("  " + " ".join(f"0x{b:02x}," for b in data[start:start + per_line]) + "\n")
    return "".join(lines)


def parse_bytes(text: str) -> bytes:
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", text))


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 24, 1000, 4099])
def test_bytes_match_the_reference_layout(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size=size, dtype=np.uint8).tobytes()
    body = bytes_initializer(data)
    assert body == reference_xxd_body(data)
    assert parse_bytes(body) == data
    assert all(line == line.rstrip() for line in body.splitlines())


def test_every_byte_value_round_trips() -> None:
    data = bytes(range(256)) * 3
    assert parse_bytes(bytes_initializer(data)) == data
    assert parse_bytes(bytes_initializer(np.frombuffer(data, np.uint8))) == data


def test_int_values() -> None:
    body = values_initializer(np.array([-128, 0, 127], np.int8))
    assert body == "    -128, 0, 127,\n"
    body = values_initializer(np.array([-(2**31), 2**31 - 1], np.int32))
    assert body == "    (-2147483647 - 1), 2147483647,\n"
    assert "LL" in values_initializer(np.array([1], np.int64))
    assert values_initializer(np.array([True, False])) == "    1, 0,\n"
    assert values_initializer(np.arange(20, dtype=np.int16)).count("\n") == 2


def test_float_literals_round_trip_exactly() -> None:
    # 0.0152711235 is a float32 that 8 significant digits do not pin down; the random bit patterns cover every
    # exponent (denormals included).
    bits = np.random.default_rng(9).integers(0, 0x7F800000, 5000).astype(np.uint32)
    values = np.concatenate([np.array([0.0, 1.0, -2.5, 1e-7, 3.4028235e38, 0.1, 1 / 3, 0.015271123498678207],
                                      np.float32), bits.view(np.float32), -bits.view(np.float32)])
    for value in values:
        literal = c_float_literal(float(value))
        assert literal.endswith("f") and ("." in literal or "e" in literal)
        assert np.float32(float(literal[:-1])) == value
    assert c_float_literal(float("inf")).startswith("(")
    with pytest.raises(EmitError):
        c_float_literal(float("nan"))


def test_unsupported_dtype_is_an_emit_error() -> None:
    with pytest.raises(EmitError):
        values_initializer(np.array([1 + 2j]))
