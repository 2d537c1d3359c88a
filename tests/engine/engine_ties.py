"""Single-op models built so that the precision of TFLM's multiplier derivation shows in the output.

Random cases almost never land where float32 and double derivations of a multiplier (or of a clamp bound)
round differently: these do. For each op we search seeded random scales until the two derivations
disagree, then an input (or, through the bias, an accumulator) where the int8 results differ, so the
case tells the two apart. The tests require the engine to equal TFLM on all of them; `float_result` and
`double_result` record what each derivation would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from engine_opmodels import ACTIVATIONS, Graph, options
from fixedpoint_twins import f32_mul

from edgeq.engine.ops_shape import mean_multiplier
from edgeq.engine.quant import f32, f32_div, quantize_multiplier, round_half_away
from edgeq.tflite import TFLiteModel

ROWS = np.arange(-128, 128)


@dataclass
class TieCase:
    name: str
    model: TFLiteModel
    inputs: list[list[np.ndarray]]
    float_result: int
    double_result: int


def mbqm(x, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier over an int64 array (the double-rounding definition)."""
    x = np.asarray(x, np.int64) << max(shift, 0)
    right = max(-shift, 0)
    ab = x * multiplier
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(t >= 0, t >> 31, -((-t) >> 31))
    mask = (1 << right) - 1
    return (high >> right) + ((high & mask) > ((mask >> 1) + (high < 0)))


def _scale(rng, lo: float = 1e-3, hi: float = 0.5) -> np.float32:
    return np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _accumulator_case(rng, op: str, per_channel: bool) -> TieCase:
    """FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D with weight 1 and input 0, so acc = bias."""
    acc = np.arange(-1_200_000, 1_200_000)
    while True:
        i, f = _scale(rng), _scale(rng)
        o = np.float32(float(i) * float(f) * 1e4 * rng.uniform(1, 2))  # small multiplier: wide acc range
        fl = quantize_multiplier(f32_mul(float(i), float(f)) / float(o))
        db = quantize_multiplier(float(i) * float(f) / float(o))
        if fl == db:
            continue
        a, b = mbqm(acc, *fl), mbqm(acc, *db)
        k = _first((a != b) & (np.abs(a) < 120))
        if k is not None:
            break
    channels = 2 if per_channel else 1
    scales = np.full(channels, f, np.float32) if per_channel else f
    g = Graph()
    shape, fshape, qdim = {"FULLY_CONNECTED": ((1, 1), (channels, 1), 0),
                           "CONV_2D": ((1, 1, 1, 1), (channels, 1, 1, 1), 0),
                           "DEPTHWISE_CONV_2D": ((1, 1, 1, 1), (1, 1, 1, channels), 3)}[op]
    x = g.tensor(shape, scale=i, zero_point=0)
    w = g.tensor(fshape, scale=scales, zero_point=0, data=np.ones(fshape, np.int8), quantized_dimension=qdim)
    bias = g.tensor((channels,), "int32", scale=np.full(channels, float(i) * float(f), np.float32), zero_point=0,
                    data=np.full(channels, int(acc[k]), np.int32))
    out_shape = (1, channels) if op == "FULLY_CONNECTED" else (1, 1, 1, channels)
    y = g.tensor(out_shape, scale=o, zero_point=0)
    if op == "FULLY_CONNECTED":
        g.op(op, [x, w, bias], [y], "FullyConnectedOptions", options("FullyConnectedOptions"))
    elif op == "CONV_2D":
        g.op(op, [x, w, bias], [y], "Conv2DOptions", options("Conv2DOptions", padding=1, strideW=1, strideH=1))
    else:
        g.op(op, [x, w, bias], [y], "DepthwiseConv2DOptions",
             options("DepthwiseConv2DOptions", padding=1, strideW=1, strideH=1, depthMultiplier=channels))
    g.inputs, g.outputs = [x], [y]
    name = f"{op.lower()}_{'per_channel' if per_channel else 'per_tensor'}"
    return TieCase(name, g.build(), [[np.zeros(shape, np.int8)]], int(a[k]), int(b[k]))


def _add_sub_case(rng, op: str) -> TieCase:
    a_grid, b_grid = (v.ravel() for v in np.meshgrid(ROWS, ROWS))
    sign = -1 if op == "SUB" else 1

    def run(ms):
        sa, sb = mbqm(a_grid << 20, *ms[0]), mbqm(b_grid << 20, *ms[1])
        return mbqm(sa + sign * sb, *ms[2])

    while True:
        s1, s2 = _scale(rng), _scale(rng)
        so = np.float32(max(s1, s2) * rng.uniform(0.5, 3))
        tf = f32(2.0 * max(float(s1), float(s2)))
        fl = [quantize_multiplier(r) for r in (f32_div(float(s1), tf), f32_div(float(s2), tf),
                                               f32_div(tf, f32((1 << 20) * float(so))))]
        td = 2.0 * max(float(s1), float(s2))
        db = [quantize_multiplier(r) for r in (float(s1) / td, float(s2) / td, td / ((1 << 20) * float(so)))]
        if fl == db:
            continue
        u, v = run(fl), run(db)
        k = _first((u != v) & (np.abs(u) < 120))
        if k is not None:
            break
    g = Graph()
    x1, x2 = g.tensor((1,), scale=s1, zero_point=0), g.tensor((1,), scale=s2, zero_point=0)
    y = g.tensor((1,), scale=so, zero_point=0)
    name = "AddOptions" if op == "ADD" else "SubOptions"
    g.op(op, [x1, x2], [y], name, options(name))
    g.inputs, g.outputs = [x1, x2], [y]
    inputs = [[np.array([a_grid[k]], np.int8), np.array([b_grid[k]], np.int8)]]
    return TieCase(op.lower(), g.build(), inputs, int(u[k]), int(v[k]))


def _ratio_case(rng, op: str) -> TieCase:
    """RELU and int8 -> int8 QUANTIZE: out = in * (s_in / s_out); ratios of simple fractions make ties."""
    while True:
        i = _scale(rng)
        o = np.float32(float(i) * rng.choice([0.8, 0.4, 0.625, 1.6, 0.32, 1.25]))
        fl, db = quantize_multiplier(f32_div(float(i), float(o))), quantize_multiplier(float(i) / float(o))
        if fl == db:
            continue
        a, b = mbqm(ROWS, *fl), mbqm(ROWS, *db)
        k = _first((a != b) & (a > 0) & (a < 120))
        if k is not None:
            break
    g = Graph()
    x = g.tensor((1,), scale=i, zero_point=0)
    y = g.tensor((1,), scale=o, zero_point=0)
    if op == "RELU":
        g.op(op, [x], [y])
    else:
        g.op(op, [x], [y], "QuantizeOptions", options("QuantizeOptions"))
    g.inputs, g.outputs = [x], [y]
    return TieCase(op.lower(), g.build(), [[np.array([ROWS[k]], np.int8)]], int(a[k]), int(b[k]))


def _mul_case(rng) -> TieCase:
    a_grid, b_grid = (v.ravel() for v in np.meshgrid(ROWS, ROWS))
    products = a_grid * b_grid
    while True:
        s1, s2 = _scale(rng), _scale(rng)
        so = np.float32(float(s1) * float(s2) * rng.uniform(100, 400))
        fl = quantize_multiplier(f32_mul(float(s1), float(s2)) / float(so))
        db = quantize_multiplier(float(s1) * float(s2) / float(so))
        if fl == db:
            continue
        u, v = mbqm(products, *fl), mbqm(products, *db)
        k = _first((u != v) & (np.abs(u) < 120))
        if k is not None:
            break
    g = Graph()
    x1, x2 = g.tensor((1,), scale=s1, zero_point=0), g.tensor((1,), scale=s2, zero_point=0)
    y = g.tensor((1,), scale=so, zero_point=0)
    g.op("MUL", [x1, x2], [y], "MulOptions", options("MulOptions"))
    g.inputs, g.outputs = [x1, x2], [y]
    return TieCase("mul", g.build(), [[np.array([a_grid[k]], np.int8), np.array([b_grid[k]], np.int8)]],
                   int(u[k]), int(v[k]))


def _mean_case(rng) -> TieCase:
    count = 16
    sums = np.arange(-128 * count, 127 * count + 1)
    while True:
        i = _scale(rng)
        o = np.float32(float(i) * rng.choice([0.8, 0.4, 0.625, 1.6, 0.32, 1.25]) / 4)
        ratio_f = quantize_multiplier(f32_div(float(i), float(o)))
        extra = min(count.bit_length() - 1, 32, 31 + ratio_f[1])
        fl = ((ratio_f[0] << extra) // count, ratio_f[1] - extra)
        db = mean_multiplier(float(i), float(o), count)
        if fl == db:
            continue
        a, b = mbqm(sums, *fl), mbqm(sums, *db)
        k = _first((a != b) & (np.abs(a) < 120))
        if k is not None:
            break
    target = int(sums[k])
    values = np.full(count, target // count, np.int64)
    values[: target - int(values.sum())] += 1
    g = Graph()
    x = g.tensor((1, count), scale=i, zero_point=0)
    axis = g.tensor((1,), "int32", data=np.array([1], np.int32))
    y = g.tensor((1,), scale=o, zero_point=0)
    g.op("MEAN", [x, axis], [y], "ReducerOptions", options("ReducerOptions", keepDims=False))
    g.inputs, g.outputs = [x], [y]
    return TieCase("mean", g.build(), [[values.astype(np.int8).reshape(1, count)]], int(a[k]), int(b[k]))


def _bound_case(rng, op: str) -> TieCase:
    """RELU6's upper bound, zero_point + round(6 / scale): fused (output scale) or the RELU6 op (input)."""
    while True:
        k = int(rng.integers(20, 120))
        s = np.float32(np.float32(6.0 / (k + 0.5)) * (1 + int(rng.integers(-3, 4)) * 2.0 ** -23))
        fl, db = round_half_away(f32_div(6.0, float(s))), round_half_away(6.0 / float(s))
        if fl != db and max(fl, db) < 127:
            break
    g = Graph()
    if op == "RELU6":
        x = g.tensor((1,), scale=s, zero_point=0)
        y = g.tensor((1,), scale=s, zero_point=0)
        g.op(op, [x], [y])
        g.inputs, g.outputs = [x], [y]
        return TieCase("relu6", g.build(), [[np.array([127], np.int8)]], fl, db)
    x = g.tensor((1, 1), scale=1.0, zero_point=0)
    w = g.tensor((1, 1), scale=1.0, zero_point=0, data=np.array([[1]], np.int8))
    y = g.tensor((1, 1), scale=s, zero_point=0)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions",
         options("FullyConnectedOptions", fusedActivationFunction=ACTIVATIONS["RELU6"]))
    g.inputs, g.outputs = [x], [y]
    return TieCase("fused_relu6_bound", g.build(), [[np.array([[127]], np.int8)]], fl, db)


def _quantize_float_case(rng) -> TieCase:
    """QUANTIZE from float32 divides by the scale at run time: in float32 in TFLM."""
    while True:
        s = _scale(rng)
        k = int(rng.integers(-100, 100))
        x = np.float32(np.float32((k + 0.5) * float(s)) * (1 + int(rng.integers(-2, 3)) * 2.0 ** -23))
        fl = round_half_away(float(np.float32(x) / np.float32(s)))
        db = round_half_away(float(x) / float(s))
        if fl != db:
            break
    g = Graph()
    xi = g.tensor((1,), "float32")
    y = g.tensor((1,), scale=s, zero_point=0)
    g.op("QUANTIZE", [xi], [y], "QuantizeOptions", options("QuantizeOptions"))
    g.inputs, g.outputs = [xi], [y]
    return TieCase("quantize_float", g.build(), [[np.array([x], np.float32)]], fl, db)


def tie_cases(seed: int = 77) -> list[TieCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for op in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
        for per_channel in (False, True):
            cases.append(_accumulator_case(rng, op, per_channel))
    cases += [_add_sub_case(rng, "ADD"), _add_sub_case(rng, "SUB"), _ratio_case(rng, "RELU"),
              _ratio_case(rng, "QUANTIZE"), _mul_case(rng), _mean_case(rng), _bound_case(rng, "RELU6"),
              _bound_case(rng, "FUSED"), _quantize_float_case(rng)]
    return cases
