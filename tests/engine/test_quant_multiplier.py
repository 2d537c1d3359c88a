"""edgeq's quantize_multiplier against TFLite's own QuantizeMultiplier (tensorflow/lite/kernels/internal/
quantization_util.cc), re-implemented here from TFLite's algorithm with exact rational arithmetic, not from
edgeq's function: frexp, q_fixed = TfLiteRound(q * 2^31) (std::round: half away from zero), if q_fixed == 2^31
then q_fixed /= 2 and shift += 1, and a shift below -31 flushes to (0, 0)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from edgeq.engine.quant import quantize_multiplier


def tflite_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier(double, int32_t*, int*), step by step."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    scaled = Fraction(q) * (1 << 31)  # exact: a power-of-two product
    magnitude = math.floor(abs(scaled) + Fraction(1, 2))  # std::round: half away from zero
    q_fixed = magnitude if scaled > 0 else -magnitude
    assert q_fixed <= 1 << 31  # TFLITE_CHECK(q_fixed <= (1LL << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    assert q_fixed <= 2**31 - 1  # TFLITE_CHECK_LE(q_fixed, int32 max)
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


EDGES = [
    (1 - 2**-40, (1 << 30, 1)),        # q * 2^31 = 2^31 - 2^-9 rounds to 2^31: renormalised
    (0.5 - 2**-42, (1 << 30, 0)),       # the same edge one octave down
    (2**-20 * (1 - 2**-33), (1 << 30, -19)),  # and far down
    (0.5 + 2**-32, ((1 << 30) + 1, 0)),  # q * 2^31 = 2^30 + 0.5 exactly: half away from zero, not to even
    (0.5 + 3 * 2**-32, ((1 << 30) + 2, 0)),  # 2^30 + 1.5 -> 2^30 + 2 (half-to-even would agree: a control)
    (0.5 + 2**-33, (1 << 30, 0)),       # 2^30 + 0.25 -> down
    (1 - 2**-31, (2**31 - 1, 0)),       # 2^31 - 1 exactly: no renormalisation
    (1 - 2**-32, (1 << 30, 1)),         # 2^31 - 0.5: rounds up to 2^31, renormalised
    (2**-31, (1 << 30, -30)),
    (2**-32, (1 << 30, -31)),           # the smallest shift kept
    (2**-33, (0, 0)),                   # shift -32: flushed
    (0.0, (0, 0)),
    (1.0, (1 << 30, 1)),
    (3.0, (3 << 29, 2)),
    (-1.0, (-(1 << 30), 1)),            # TFLite takes negative multipliers through the same steps
    (-(1 - 2**-40), (-(1 << 31), 0)),   # -2^31 fits an int32: TFLite renormalises only +2^31
]


@pytest.mark.parametrize(("real", "want"), EDGES, ids=[f"{r!r}" for r, _ in EDGES])
def test_edges_equal_tflites_quantize_multiplier(real: float, want: tuple[int, int]) -> None:
    assert tflite_quantize_multiplier(real) == want  # the reference says what the comment says
    assert quantize_multiplier(real) == want


def test_a_sweep_equals_tflites_quantize_multiplier() -> None:
    rng = np.random.default_rng(31)
    reals = np.concatenate([
        np.exp(rng.uniform(math.log(2**-34), math.log(2**8), 20_000)),
        # just below each power of two (where the renormalisation happens) and at exact ties
        [2.0**e * (1 - 2.0**-k) for e in range(-32, 4) for k in (31, 32, 33, 40, 52)],
        [(2**30 + j + 0.5) / 2**31 * 2.0**e for e in (-10, 0, 3) for j in range(0, 64)],
    ])
    mismatched = [(float(r), quantize_multiplier(float(r)), tflite_quantize_multiplier(float(r))) for r in reals
                  if quantize_multiplier(float(r)) != tflite_quantize_multiplier(float(r))]
    assert not mismatched, mismatched[:5]
    for real in reals[:2000]:
        m, shift = quantize_multiplier(float(real))
        if m:
            assert (1 << 30) <= m < (1 << 31)
            assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2.0**-31
