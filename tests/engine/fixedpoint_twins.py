"""Python twins of the C helpers in edgeq/engine/kernels/eq_fixedpoint.h (TFLite's fixed-point arithmetic),
written from their definitions so the tests can check the C against them; edgeq itself never runs these."""

from __future__ import annotations

import numpy as np

from edgeq.engine.quant import INT32_MAX, INT32_MIN


def f32_mul(a: float, b: float) -> float:
    """A product computed in float32 (the alternative hypothesis in the precision tests)."""
    return float(np.float32(a) * np.float32(b))


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """(2*a*b + 2^31 rounding nudge) >> 32, saturating the single overflow case a = b = INT32_MIN."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    total = ab + nudge
    # C's int64 division truncates toward zero; Python's // floors, so divide magnitudes.
    quotient = abs(total) >> 31
    return quotient if total >= 0 else -quotient


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """x / 2^exponent rounded to nearest, halves away from zero (gemmlowp's RoundingDivideByPOT)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), int32 in and out."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    shifted = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap-around, as in C
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
