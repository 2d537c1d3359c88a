"""edgeq.engine.quant and the tests' Python twins (fixedpoint_twins.py) of TFLite's integer arithmetic
against their definitions, written here
independently with exact rationals: gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT,
TFLite's MultiplyByQuantizedMultiplier (int32 wrap-around of the left shift included), C's round(), and
CalculateActivationRangeQuantized's float32 bounds. No TensorFlow, no compiler: milliseconds."""

from __future__ import annotations

import math
from fractions import Fraction

import fixedpoint_twins as twins
import numpy as np
import pytest

from edgeq.engine import quant
from edgeq.errors import UnsupportedOpError

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def c_round(x: Fraction | float) -> int:
    """C's round(): the nearest integer, halves away from zero."""
    x = Fraction(x)
    magnitude = math.floor(abs(x) + Fraction(1, 2))
    return magnitude if x >= 0 else -magnitude


def srdhm_reference(a: int, b: int) -> int:
    """gemmlowp: overflow (a == b == INT32_MIN) saturates; else (a*b + nudge) / 2^31 with C's truncating
    division, nudge = 2^30 for a*b >= 0 and 1 - 2^30 below (= a*b/2^31 rounded, halves up: a negative half
    goes toward zero)."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    return math.trunc(Fraction(ab + nudge, 2**31))


def rdbp_reference(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent to the nearest integer, halves away from zero."""
    return c_round(Fraction(x, 2**exponent))


def wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 2**32 if v >= 2**31 else v


def mbqm_reference(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier: RoundingDivideByPOT(SRDHM(x * 2^left, m), right)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdbp_reference(srdhm_reference(wrap32(x * 2**left), multiplier), right)


def _int32s(rng: np.random.Generator, n: int) -> list[int]:
    edges = [I32_MIN, I32_MIN + 1, -(2**30), -(2**15), -3, -2, -1, 0, 1, 2, 3, 2**15, 2**30, I32_MAX - 1, I32_MAX]
    return edges + [int(v) for v in rng.integers(I32_MIN, I32_MAX, n, endpoint=True)]


def test_constants_are_int8_and_int32_ranges() -> None:
    assert (int(np.iinfo(np.int8).min), int(np.iinfo(np.int8).max)) == (quant.INT8_MIN, quant.INT8_MAX)
    assert (quant.INT32_MIN, quant.INT32_MAX) == (I32_MIN, I32_MAX)


@pytest.mark.parametrize(("x", "want"), [(0.5, 1), (-0.5, -1), (1.5, 2), (2.5, 3), (-2.5, -3), (0.49999999999999994, 0),
                                         (-0.0, 0), (2.4999999, 2), (1e15 + 0.5, 10**15 + 1), (-7.0, -7)])
def test_round_half_away(x: float, want: int) -> None:
    assert quant.round_half_away(x) == want == c_round(x)


def test_saturating_rounding_doubling_high_mul() -> None:
    rng = np.random.default_rng(2)
    values = _int32s(rng, 300)
    pairs = [(a, b) for a in values[:15] for b in values[:15]] + list(zip(values[15:], reversed(values[15:]),
                                                                         strict=True))
    # exact halves: a*b = (2k+1) * 2^30, both signs
    pairs += [(2**30 + 2 * k + 1, 1) for k in range(-4, 4)] + [(-(2 * k + 1), 2**30) for k in range(6)]
    for a, b in pairs:
        want = srdhm_reference(a, b)
        assert twins.saturating_rounding_doubling_high_mul(a, b) == want, (a, b)
        if not a == b == I32_MIN:
            assert want == math.floor(Fraction(a * b, 2**31) + Fraction(1, 2))
    assert twins.saturating_rounding_doubling_high_mul(I32_MIN, I32_MIN) == I32_MAX


def test_rounding_divide_by_pot() -> None:
    rng = np.random.default_rng(3)
    for x in _int32s(rng, 200) + [5, -5, 6, -6, 7, -7, 12, -12, 2**20 + 2**19, -(2**20 + 2**19)]:
        for exponent in range(0, 32):
            assert twins.rounding_divide_by_pot(x, exponent) == rdbp_reference(x, exponent), (x, exponent)
    assert [twins.rounding_divide_by_pot(x, 1) for x in (-3, -1, 1, 3)] == [-2, -1, 1, 2]  # halves away from 0
    assert [twins.rounding_divide_by_pot(x, 2) for x in (-6, -5, 5, 6, 7)] == [-2, -1, 1, 2, 2]


@pytest.mark.parametrize("shift", [-31, -20, -8, -1, 0, 1, 2, 7, 12])
def test_multiply_by_quantized_multiplier(shift: int) -> None:
    rng = np.random.default_rng(100 + shift)
    multipliers = [2**30, 2**31 - 1, 1518500250, 1073741825] + [int(m) for m in rng.integers(2**30, 2**31, 20)]
    for x in _int32s(rng, 60):
        for m in multipliers:
            assert twins.multiply_by_quantized_multiplier(x, m, shift) == mbqm_reference(x, m, shift), (x, m, shift)


def test_the_left_shift_wraps_like_int32() -> None:
    # 2^29 << 3 overflows int32 to 0 (C, two's complement); 3 * 2^29 << 1 wraps to a negative value
    assert twins.multiply_by_quantized_multiplier(2**29, 2**30, 3) == 0
    assert twins.multiply_by_quantized_multiplier(3 * 2**29, 2**30, 1) == mbqm_reference(3 * 2**29, 2**30, 1) < 0


def test_float32_helpers_round_like_c_floats() -> None:
    a, b = 0.1, 3.0
    assert quant.f32(a) == float(np.float32(0.1)) != 0.1
    assert twins.f32_mul(a, b) == float(np.float32(np.float32(0.1) * np.float32(3.0))) != a * b
    assert quant.f32_div(1.0, 3.0) == float(np.float32(1) / np.float32(3)) != 1.0 / 3.0
    assert quant.f32_div(6.0, 0.047) == float(np.float32(6.0) / np.float32(0.047))


@pytest.mark.parametrize(("scale", "zp"), [(0.047, -128), (6 / 255, -128), (0.1, 3), (1 / 32, 5), (0.0235294, -100)])
def test_activation_ranges(scale: float, zp: int) -> None:
    def q(v: float) -> int:  # CalculateActivationRangeQuantized: zp + round(float32(v) / float32(scale))
        return zp + c_round(float(np.float32(v) / np.float32(scale)))

    assert quant.quantize_float_value(6.0, scale, zp) == q(6.0)
    assert quant.quantize_float_value(-1.0, scale, zp) == q(-1.0)
    assert quant.activation_range("NONE", scale, zp) == (-128, 127)
    assert quant.activation_range("RELU", scale, zp) == (max(-128, q(0.0)), 127)
    assert quant.activation_range("RELU6", scale, zp) == (max(-128, q(0.0)), min(127, q(6.0)))
    assert quant.activation_range("RELU_N1_TO_1", scale, zp) == (max(-128, q(-1.0)), min(127, q(1.0)))
    assert quant.activation_range("RELU6", scale, zp, -32768, 32767) == (max(-32768, q(0.0)), min(32767, q(6.0)))
    assert quant.activation_range("NONE", scale, zp, -32768, 32767) == (-32768, 32767)


def test_activation_bounds_meet_the_type_range() -> None:
    assert quant.activation_range("RELU6", 0.01, -128) == (-128, 127)  # 6 / 0.01 = 600 steps: clamped
    assert quant.activation_range("RELU", 0.1, -130) == (-128, 127)
    assert quant.activation_range("RELU_N1_TO_1", 1 / 64, 0) == (-64, 64)
    with pytest.raises(UnsupportedOpError, match="fused activation TANH is outside"):
        quant.activation_range("TANH", 0.1, 0)
