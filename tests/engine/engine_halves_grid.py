"""Exact-half cases for the element-wise requantizing ops: every int8 input (pair) at once.

ADD, SUB and MUL get all 65,536 input pairs in one model; RELU and int8 QUANTIZE all 256 inputs. Scales
whose ratios are powers of two (times a float32 mantissa) make exact halves common; others give
multipliers just below 2^31, tiny (shift -31) or flushed to zero. QUANTIZE from float32 gets values on
and one ulp either side of every half step. SOFTMAX, LOGISTIC and TANH get input scales whose rescaling
to the kernels' fixed-point formats hits exact halves (their outputs have no Python twin here; the
tests compare them with TFLM only).
"""

from __future__ import annotations

import numpy as np
from engine_halves import (
    HalfCase,
    accumulator_cases,
    average_pool_cases,
    finish,
    log_scale,
    mean_cases,
    near_2_31,
    requantize,
)
from engine_opmodels import Graph, options

from edgeq.engine.quant import f32, quantize_multiplier, round_half_away

ROWS = np.arange(-128, 128, dtype=np.int64)
A_GRID, B_GRID = (v.ravel() for v in np.meshgrid(ROWS, ROWS, indexing="ij"))


def _mantissa(rng: np.random.Generator) -> float:
    """A float32 scale whose multiples by powers of two are exact."""
    return log_scale(rng, 1e-3, 0.05)


def add_sub_cases(op: str, rng: np.random.Generator) -> list[HalfCase]:
    """ADD / SUB over all input pairs; (s1, s2, out) scale configurations and zero points per case."""
    sign = 1 if op == "ADD" else -1
    s = _mantissa(rng)
    configs = [  # (s1, s2, output scale, zero points)
        (s, s, 2 * s, (-128, -128, -128)),          # input multipliers 2^30 with shift 0; odd sums tie
        (s, 2 * s, 4 * s, (127, 127, 127)),
        (s, s / 4, s / 2, (-128, 127, 0)),
        (s, s, s, (127, -128, -128)),
        (s, 3 * s, 2 * s, (0, 0, 127)),
        (s, s, s * 2.0 ** 13, (0, 0, 0)),           # output real multiplier 2^-32: shift -31
        (s, s * 2.0 ** -31, s, (5, -7, 3)),          # input 2's multiplier 2^-32: shift -31
        (s, log_scale(rng), None, (-128, 127, 127)),  # output multiplier near 2^31
        (log_scale(rng), log_scale(rng), log_scale(rng), (int(rng.integers(-128, 128)),
                                                          int(rng.integers(-128, 128)), 0)),
    ]
    cases = []
    for k, (s1, s2, so, (z1, z2, zo)) in enumerate(configs):
        s1, s2 = float(np.float32(s1)), float(np.float32(s2))
        twice_max = 2.0 * max(s1, s2)
        if so is None:
            so = near_2_31(twice_max / (1 << 20) * 8, lambda v, t=twice_max: t / ((1 << 20) * v))
        so = float(np.float32(so))
        pairs = [quantize_multiplier(r) for r in (s1 / twice_max, s2 / twice_max, twice_max / ((1 << 20) * so))]
        a, _ = requantize((A_GRID - z1) << 20, *pairs[0])
        b, _ = requantize((B_GRID - z2) << 20, *pairs[1])
        value, tie = requantize(a + sign * b, *pairs[2])
        want, ties, beyond = finish(value, tie, zo)
        g = Graph()
        x1 = g.tensor((A_GRID.size,), scale=s1, zero_point=z1)
        x2 = g.tensor((B_GRID.size,), scale=s2, zero_point=z2)
        y = g.tensor((A_GRID.size,), scale=so, zero_point=zo)
        name = "AddOptions" if op == "ADD" else "SubOptions"
        g.op(op, [x1, x2], [y], name, options(name))
        g.inputs, g.outputs = [x1, x2], [y]
        inputs = [[A_GRID.astype(np.int8), B_GRID.astype(np.int8)]]
        cases.append(HalfCase(op, f"{op.lower()}_halves_{k}", g.build(), inputs, [want], [ties], [beyond],
                              pairs, [z1, z2, zo]))
    return cases


def mul_cases(rng: np.random.Generator) -> list[HalfCase]:
    """MUL over all input pairs: output scale s1 * s2 * 2^k (exact halves; k = 1: shift 0), 2/3 (left
    shift), near 2^31, 2^32 (shift -31), 2^40 (flushed to zero)."""
    s1, s2 = _mantissa(rng), 2.0 ** -int(rng.integers(5, 9))
    product = float(np.float32(s1)) * s2
    configs = [(product * 2 ** 6, (-128, -128, -128)), (product * 2, (3, -3, 0)), (product * 2 ** 9, (127, 127, 127)),
               (product * 2 ** 3, (0, -128, 127)), (product * 2 ** 12, (127, -128, 0)),
               (product / 1.5, (0, 0, 0)), (product * 2.0 ** 32, (-5, 9, 0)), (product * 2.0 ** 40, (0, 0, 3)),
               (None, (-128, 127, -1)), (product * rng.uniform(50, 400), (int(rng.integers(-128, 128)), 0, 0))]
    cases = []
    for k, (so, (z1, z2, zo)) in enumerate(configs):
        if so is None:
            so = near_2_31(product * 64, lambda v: product / v)
        so = float(np.float32(so))
        pair = quantize_multiplier(product / so)
        value, tie = requantize((A_GRID - z1) * (B_GRID - z2), *pair)
        want, ties, beyond = finish(value, tie, zo)
        g = Graph()
        x1 = g.tensor((A_GRID.size,), scale=s1, zero_point=z1)
        x2 = g.tensor((B_GRID.size,), scale=s2, zero_point=z2)
        y = g.tensor((A_GRID.size,), scale=so, zero_point=zo)
        g.op("MUL", [x1, x2], [y], "MulOptions", options("MulOptions"))
        g.inputs, g.outputs = [x1, x2], [y]
        cases.append(HalfCase("MUL", f"mul_halves_{k}", g.build(), [[A_GRID.astype(np.int8), B_GRID.astype(np.int8)]],
                              [want], [ties], [beyond], [pair], [z1, z2, zo]))
    return cases


def requantize_cases(op: str, rng: np.random.Generator) -> list[HalfCase]:
    """RELU or int8 -> int8 QUANTIZE on all 256 inputs: scale ratios 1/2 (shift 0), 3/8 and 5/16 (halves
    after the shift), near 2^31, 2^-32 (shift -31), 2^-40 (flushed) and random."""
    so = 2.0 ** -int(rng.integers(3, 8))  # a short mantissa: so * ratio is exact for the ratios below
    ratios = [0.5, 0.375, 0.3125, None, 2.0 ** -32, 2.0 ** -40, 1.5, float(rng.uniform(0.3, 3))]
    zero_points = [(-128, -128), (127, 127), (-128, 127), (127, -128), (0, 0), (3, -9), (0, 5), (-20, 17)]
    cases = []
    for k, (ratio, (zi, zo)) in enumerate(zip(ratios, zero_points, strict=True)):
        s = near_2_31(so / 4, lambda v: v / so) if ratio is None else f32(so * ratio)
        pair = quantize_multiplier(s / so)
        value, tie = requantize(ROWS - zi, *pair)
        low = max(-128, zo) if op == "RELU" else -128
        want, ties, beyond = finish(value, tie, zo, lo=low)
        g = Graph()
        x = g.tensor((256,), scale=s, zero_point=zi)
        y = g.tensor((256,), scale=so, zero_point=zo)
        if op == "RELU":
            g.op(op, [x], [y])
        else:
            g.op(op, [x], [y], "QuantizeOptions", options("QuantizeOptions"))
        g.inputs, g.outputs = [x], [y]
        cases.append(HalfCase(op, f"{op.lower()}_halves_{k}", g.build(), [[ROWS.astype(np.int8)]], [want], [ties],
                              [beyond], [pair], [zi, zo]))
    return cases


def float_quantize_cases(rng: np.random.Generator) -> list[HalfCase]:
    """QUANTIZE float32 -> int8: every half step k + 0.5 of the output, and its float32 neighbours, in
    values whose float32 quotient by the scale lands there; saturating values; scales 1, 2^-8 and others."""
    cases = []
    for k, (scale, zp) in enumerate([(1.0, 0), (2.0 ** -8, -128), (1 / 255, 127), (log_scale(rng), 0),
                                     (log_scale(rng), int(rng.integers(-128, 128)))]):
        scale = f32(scale)
        halves = np.arange(-128 - zp - 2, 127 - zp + 2, dtype=np.float64) + 0.5
        halves32 = halves.astype(np.float32)
        outward = (np.sign(halves) * np.inf).astype(np.float32)
        targets = np.concatenate([halves32, np.nextafter(halves32, np.float32(0)), np.nextafter(halves32, outward),
                                  np.array([0.0, 1e6, -1e6], np.float32)])
        values = (targets.astype(np.float64) * scale).astype(np.float32)
        quotient = values / np.float32(scale)
        rounded = np.array([round_half_away(float(q)) for q in quotient], np.int64)
        tie = np.where(np.abs(quotient - np.trunc(quotient)) == 0.5, np.sign(quotient), 0).astype(np.int64)
        want, ties, beyond = finish(rounded, tie, zp)
        g = Graph()
        x = g.tensor((values.size,), "float32")
        y = g.tensor((values.size,), scale=scale, zero_point=zp)
        g.op("QUANTIZE", [x], [y], "QuantizeOptions", options("QuantizeOptions"))
        g.inputs, g.outputs = [x], [y]
        cases.append(HalfCase("QUANTIZE", f"quantize_float_halves_{k}", g.build(), [[values]], [want], [ties],
                              [beyond], [], [zp]))
    return cases


def nonlinear_cases(rng: np.random.Generator) -> list[HalfCase]:
    """LOGISTIC / TANH on all 256 inputs and SOFTMAX rows, with input scales odd * 2^-28 (LOGISTIC, TANH:
    x * scale * 2^27 is a half for odd x) or odd * 2^-27 (SOFTMAX with beta 1: odd differences from the
    row maximum are halves in the kernel's Q5 format), plus large scales that saturate both ways."""
    cases = []
    for op, out_scale, out_zp in (("LOGISTIC", 1 / 256, -128), ("TANH", 1 / 128, 0)):
        for k, (scale, zp) in enumerate([(float(rng.integers(1 << 21, 1 << 23)) * 2 + 1, -128),
                                         (float(rng.integers(1 << 21, 1 << 23)) * 2 + 1, 127),
                                         (float(rng.integers(1 << 19, 1 << 20)) * 2 + 1, 0), (None, 0)]):
            s = 0.25 if scale is None else scale * 2.0 ** -28
            g = Graph()
            x = g.tensor((256,), scale=s, zero_point=zp)
            y = g.tensor((256,), scale=out_scale, zero_point=out_zp)
            g.op(op, [x], [y])
            g.inputs, g.outputs = [x], [y]
            odd = ((ROWS - zp) % 2 != 0) & (scale is not None)
            cases.append(HalfCase(op, f"{op.lower()}_halves_{k}", g.build(), [[ROWS.astype(np.int8)]], [None],
                                  [np.where(odd, np.sign(ROWS - zp), 0)], [np.zeros(256, np.int64)], [], [zp]))
    for k, (scale, zp) in enumerate([(float(rng.integers(1 << 19, 1 << 21)) * 2 + 1, -128),
                                     (float(rng.integers(1 << 19, 1 << 21)) * 2 + 1, 127)]):
        s = scale * 2.0 ** -27
        rows, depth = 32, 10
        base = rng.integers(-128, 128, (rows, 1))
        x = np.clip(base - rng.integers(0, 12, (rows, depth)), -128, 127).astype(np.int8)
        g = Graph()
        xi = g.tensor((rows, depth), scale=s, zero_point=zp)
        yi = g.tensor((rows, depth), scale=1 / 256, zero_point=-128)
        g.op("SOFTMAX", [xi], [yi], "SoftmaxOptions", options("SoftmaxOptions", beta=1.0))
        g.inputs, g.outputs = [xi], [yi]
        diff = x.astype(np.int64) - x.max(axis=1, keepdims=True)
        cases.append(HalfCase("SOFTMAX", f"softmax_halves_{k}", g.build(), [[x]], [None],
                              [np.where(diff % 2 != 0, -1, 0)], [np.zeros(x.shape, np.int64)], [], [zp]))
    return cases


HALF_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "AVERAGE_POOL_2D",
            "RELU", "QUANTIZE", "SOFTMAX", "LOGISTIC", "TANH")


def half_cases(seed: int = 15) -> list[HalfCase]:
    """Every op's exact-half and extreme cases, from one seed."""
    rng = np.random.default_rng(seed)
    cases = [c for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") for c in accumulator_cases(op, rng)]
    cases += add_sub_cases("ADD", rng) + add_sub_cases("SUB", rng) + mul_cases(rng) + mean_cases(rng)
    cases += average_pool_cases(rng) + requantize_cases("RELU", rng) + requantize_cases("QUANTIZE", rng)
    cases += float_quantize_cases(rng) + nonlinear_cases(rng)
    return cases
