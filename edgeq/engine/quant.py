"""Quantization arithmetic done at code-generation time, in the exact form TFLite/TFLM compute it.

Bit-exactness with TFLM depends not only on the kernels but on how the integer multipliers are derived
from the float scales: the same precision, the same frexp split, the same round-half-away rounding.
Measured against the TFLM interpreter (tests/engine/engine_ties.py builds cases where float32 and double
derivations give different int8 results): every requantization multiplier is derived in double from the
float32 scales, including the per-tensor FULLY_CONNECTED product, SUB and RELU, whose TFLM source reads as
float32 arithmetic; the clamp bounds of activations (round(6 / scale)) and QUANTIZE's run-time division
are float32.
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.errors import UnsupportedOpError

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def round_half_away(x: float) -> int:
    """C's round(): halves go away from zero (Python's round() goes to even, which differs). The fraction is
    compared, not added to: abs(x) + 0.5 itself rounds (0.49999999999999994 + 0.5 is 1.0 in double)."""
    magnitude = abs(x)
    whole = math.floor(magnitude)
    rounded = whole + 1 if magnitude - whole >= 0.5 else whole  # magnitude - whole is exact
    return int(math.copysign(rounded, x))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (int32 significand in [2^30, 2^31), shift) with real ~= m * 2^(shift-31).

    Same steps as TFLite's QuantizeMultiplier: frexp, round-half-away of q*2^31, renormalise when the
    rounding reaches 2^31, and flush values below 2^-31 to zero (shift 0, multiplier 0).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * float(1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def f32(x: float | np.floating) -> float:
    """Round a Python float to float32 and back: TFLM keeps tensor scales as C floats."""
    return float(np.float32(x))


def f32_div(a: float, b: float) -> float:
    """A quotient computed in float32, as TFLM computes clamp bounds (6 / scale) and RELU6's upper limit."""
    return float(np.float32(a) / np.float32(b))


def quantize_float_value(value: float, scale: float, zero_point: int) -> int:
    """zero_point + round(value / scale), the division done in float32 like TFLM's activation ranges."""
    return int(zero_point) + round_half_away(f32_div(value, scale))


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """The clamp bounds of a fused activation (NONE, RELU, RELU6, RELU_N1_TO_1) in the output's integers.

    Mirrors CalculateActivationRangeQuantized: bounds are quantized with float32 division and
    intersected with the type's range.
    """
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_float_value(0.0, scale, zero_point)), qmax
    if activation == "RELU6":
        return (max(qmin, quantize_float_value(0.0, scale, zero_point)),
                min(qmax, quantize_float_value(6.0, scale, zero_point)))
    if activation == "RELU_N1_TO_1":
        return (max(qmin, quantize_float_value(-1.0, scale, zero_point)),
                min(qmax, quantize_float_value(1.0, scale, zero_point)))
    raise UnsupportedOpError(f"fused activation {activation} is outside what edgeq's compiled-C engine runs (NONE, "
                             "RELU, RELU6, RELU_N1_TO_1): use --runtime tflm")
