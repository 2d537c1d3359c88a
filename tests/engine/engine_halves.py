"""Single-op models whose final rounding lands on exact halves, and on the extremes of requantization.

Random cases (engine_cases.py) practically never put a value exactly on x.5 before the last rounding, so a
kernel that rounds negative halves up, or truncates, passes them. Here the accumulator of every output
channel (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MEAN: through the bias or the summed values) or the
whole input grid (ADD, SUB, MUL, requantization) is chosen with a Python twin of TFLite's fixed-point
arithmetic, so that outputs sit on exact positive and negative halves, next to the clamp bounds, beyond
them (saturation), at zero points -128 and +127, with multipliers just below 2^31, tiny (shift -31) or
flushed to zero, and with shift 0. Every case carries the twin's expected output: the tests require TFLM
to equal it (the case is what it claims) and the engine to equal TFLM.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from engine_opmodels import Graph, options

from edgeq.engine.quant import f32, quantize_multiplier
from edgeq.tflite import TFLiteModel

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
NEAR_2_31 = (1 << 31) - (1 << 8)  # multipliers at or above this are "near 2^31"
EXTREMES = (2 * INT32_MAX + 1, 2 * INT32_MIN - 1)  # targets meaning "the accumulator's own limits"


@dataclass
class HalfCase:
    """A model, its input vectors and, per vector, the twin's view of its (first) output.

    `want` is the expected output (None where no twin exists: SOFTMAX, LOGISTIC, TANH); `ties` is +1/-1
    where the final rounding of that value is an exact positive/negative half and both ways of rounding it
    stay inside the clamp bounds (so a wrong rounding would show), else 0; `beyond` is +1/-1 where the
    unclamped value lies above/below the clamp bounds (saturation)."""

    op: str
    name: str
    model: TFLiteModel
    inputs: list[list[np.ndarray]]
    want: list[np.ndarray | None]
    ties: list[np.ndarray]
    beyond: list[np.ndarray]
    multipliers: list[tuple[int, int]] = field(default_factory=list)
    zero_points: list[int] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- twin

def srdhm(x: np.ndarray, m: int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul for int32 x (int64 array) and a multiplier in [0, 2^31)."""
    ab = np.asarray(x, np.int64) * np.int64(m)
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    return np.where(t >= 0, t >> 31, -((-t) >> 31))


def requantize(x, m: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(MultiplyByQuantizedMultiplier(x, m, shift), +1/-1 where its final rounding sees an exact half)."""
    x = np.asarray(x, np.int64) << max(shift, 0)
    right = max(-shift, 0)
    if right == 0:  # the rounding is the high multiply's own
        ab = x * np.int64(m)
        return srdhm(x, m), np.where(ab % (1 << 31) == (1 << 30), np.sign(ab), 0)
    high = srdhm(x, m)
    mask = (1 << right) - 1
    remainder = high & mask
    result = (high >> right) + (remainder > (mask >> 1) + (high < 0))
    return result, np.where(remainder == 1 << (right - 1), np.sign(high), 0)


def finish(value: np.ndarray, tie: np.ndarray, offset: int, lo: int = -128,
           hi: int = 127) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clamped output, observable ties, beyond) from unclamped values rounded away from zero at ties."""
    v = np.asarray(value, np.int64) + offset
    other = v - tie  # the value rounding toward zero (or up, for negative ties) would give
    observable = np.where((tie != 0) & (np.clip(v, lo, hi) != np.clip(other, lo, hi)), tie, 0)
    beyond = np.where(v > hi, 1, np.where(v < lo, -1, 0))
    return np.clip(v, lo, hi), observable, beyond


def acc_for(m: int, shift: int, half_steps: int) -> int | None:
    """An int32 x with MultiplyByQuantizedMultiplier's exact pre-rounding value half_steps / 2 (odd
    half_steps: a tie; even: a plain value), or None when no int32 gets there."""
    right = max(-shift, 0)
    left = max(shift, 0)
    if m == 0:
        return None
    if right == 0:
        # x * 2^left * m / 2^31 == half_steps / 2 exactly
        numerator, denominator = half_steps << 30, m << left
        if numerator % denominator:
            return None
        x = numerator // denominator
        return x if INT32_MIN <= x << left <= INT32_MAX else None
    high = half_steps << (right - 1)  # srdhm must land on this value exactly
    guess = round(high * (1 << 31) / m) >> left
    for x in range(guess - 4, guess + 5):
        if INT32_MIN <= x << left <= INT32_MAX and int(srdhm(np.int64(x << left), m)) == high:
            return x
    return None


def real_for(m: int, shift: int) -> float:
    return m * 2.0 ** (shift - 31)


def half_step_targets(rng: np.random.Generator, zp: int) -> list[int]:
    """Pre-rounding values (in half steps) worth hitting for an output zero point: ties of both signs near
    zero and at random places, the ties next to the clamp bounds, and values beyond both bounds."""
    targets = [1, -1, 3, -3, 2 * (126 - zp) + 1, 2 * (-127 - zp) - 1, 2 * (200 - zp), 2 * (-300 - zp)]
    targets += [int(v) * 2 + 1 for v in rng.integers(-128 - zp, 127 - zp, 6)]
    return targets


# ------------------------------------------------------------------------------ accumulator ops (per channel)

def multiplier_reals(rng: np.random.Generator) -> list[float]:
    """Real multipliers (filter scale over a power of two, so exactly float32) covering the extremes."""
    return [0.5,                                  # shift 0, multiplier 2^30
            f32(1 - 2.0 ** -24) / 16,     # multiplier 2^31 - 2^7: near 2^31
            2.0 ** -32, 1.5 * 2.0 ** -32,         # shift -31: tiny
            2.0 ** -34,                           # below 2^-32: flushed to zero
            1.5,                                  # shift 1: a left shift before the multiply
            *[log_scale(rng, 2.0 ** -14, 0.4) for _ in range(3)]]


@dataclass
class _Channels:
    """Per output channel: filter scale, multiplier, target half steps."""

    scales: list[float] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)


def _channel_plan(rng: np.random.Generator, in_scale: float, out_scale: float, zp_out: int,
                  per_channel: bool, random_ratio: bool, fast: bool = False, fours: bool = False) -> _Channels:
    """`fast`: only right-shift multipliers and no extreme accumulators, the layers the DSP kernels'
    eq_requant_fast takes (its ties are the same halves); `fours`: the channel count a multiple of 4."""
    plan = _Channels()
    reals = multiplier_reals(rng) if not fast else [log_scale(rng, 2.0 ** -14, 0.4) for _ in range(3)]
    reals = reals if per_channel else [float(rng.choice(reals))]
    for real in reals:
        f_scale = f32(real * out_scale / in_scale)
        if random_ratio:  # an arbitrary 31-bit multiplier, not a float32 mantissa
            f_scale = f32(f_scale * rng.uniform(0.7, 1.3))
        pair = quantize_multiplier(in_scale * f_scale / out_scale)
        for target in half_step_targets(rng, zp_out) + ([] if fast else list(EXTREMES)):
            plan.scales.append(f_scale)
            plan.pairs.append(pair)
            plan.targets.append(target)
    while fours and len(plan.targets) % 4:
        plan.scales.append(plan.scales[-1])
        plan.pairs.append(plan.pairs[-1])
        plan.targets.append(plan.targets[-1])
    return plan


def _accumulators(plan: _Channels, dots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(accumulators, biases) for channels whose dot products are `dots`; unreachable targets fall back to
    the nearest reachable plain value, extreme targets to INT32_MIN/INT32_MAX (shifted left: below them)."""
    accs, biases = [], []
    for (m, shift), target, dot in zip(plan.pairs, plan.targets, dots, strict=True):
        if target in EXTREMES:
            acc = (INT32_MAX if target > 0 else INT32_MIN) >> max(shift, 0)
        else:
            acc = acc_for(m, shift, target)
            if acc is None:
                limit = INT32_MAX >> max(shift, 0)
                acc = int(np.clip(round(target / 2 / max(real_for(m, shift), 2.0 ** -40)), -limit, limit))
        bias = acc - int(dot)
        if not INT32_MIN <= bias <= INT32_MAX:
            bias = int(np.clip(bias, INT32_MIN, INT32_MAX))
            acc = bias + int(dot)
        accs.append(acc)
        biases.append(bias)
    return np.array(accs, np.int64), np.array(biases, np.int64)


def _expect(plan: _Channels, accs: np.ndarray, zp_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values, ties = [], []
    for (m, shift), acc in zip(plan.pairs, accs, strict=True):
        v, t = requantize(np.array([acc]), m, shift)
        values.append(int(v[0]))
        ties.append(int(t[0]))
    return finish(np.array(values), np.array(ties), zp_out)


def _zero_points(rng: np.random.Generator) -> list[tuple[int, int]]:
    """(input, output) zero points: both extremes in both places, zero and random."""
    r = [int(v) for v in rng.integers(-128, 128, 2)]
    return [(-128, -128), (127, 127), (-128, 127), (127, -128), (0, 0), (r[0], r[1])]


def accumulator_cases(op: str, rng: np.random.Generator, weight_limit: int = 127) -> list[HalfCase]:
    """CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED: one output position, a target accumulator per output
    channel reached through its bias, in the folded (whole window) and unfolded (clipped window) paths.
    `weight_limit` 7: filters in [-7, 7], which int4 stores exactly (the bias still reaches every target)."""
    cases = []
    points = list(enumerate(_zero_points(rng)))
    # DEPTHWISE_CONV_2D also as variant 2 (a 3x3 window wholly inside a 3x3 input, depth multiplier 1, the DSP
    # path's eq_dwconv3x3_dsp_s8), once with the general plan and once with a plan its fast form takes.
    plans = [(k, zp, k % 2, False) for k, zp in points]
    if op == "DEPTHWISE_CONV_2D":
        plans += [(k + len(points) * (1 + fast), zp, 2, fast) for k, zp in points for fast in (False, True)]
    for k, (zp_in, zp_out), variant, fast in plans:
        per_channel = k != 4  # one per-tensor model per op
        # variant 0: whole window (offset folded), 1: clipped window or depth multiplier 2, 2: see above
        in_scale = log_scale(rng)
        out_scale = f32(in_scale * 2.0 ** int(rng.integers(4, 11)))
        plan = _channel_plan(rng, in_scale, out_scale, zp_out, per_channel, random_ratio=k % 6 >= 3,
                             fast=fast, fours=variant == 2)
        channels = len(plan.targets)
        x, w, dots_of, shapes = _accumulator_geometry(op, variant, channels, zp_in, rng, weight_limit)
        # Extreme accumulators need the dot product's sign to keep the bias in int32: flip those channels.
        dots = dots_of(w)
        flip = np.array([t in EXTREMES and (t > 0) != (d >= 0) for t, d in zip(plan.targets, dots, strict=True)])
        if op == "DEPTHWISE_CONV_2D":
            w[..., flip] = -w[..., flip]
        else:
            w[flip] = -w[flip]
        dots = dots_of(w)
        accs, biases = _accumulators(plan, dots)
        want, ties, beyond = _expect(plan, accs, zp_out)
        x_shape, w_shape, qdim, out_shape = shapes
        scales = np.array(plan.scales if per_channel else plan.scales[:1], np.float32)
        g = Graph()
        xi = g.tensor(x_shape, scale=in_scale, zero_point=zp_in)
        wi = g.tensor(w_shape, scale=scales, zero_point=0, data=w, quantized_dimension=qdim)
        bi = g.tensor((channels,), "int32", scale=in_scale * np.array(plan.scales, np.float32), zero_point=0,
                      data=biases.astype(np.int32))
        yi = g.tensor(out_shape, scale=out_scale, zero_point=zp_out)
        if op == "FULLY_CONNECTED":
            g.op(op, [xi, wi, bi], [yi], "FullyConnectedOptions", options("FullyConnectedOptions"))
        elif op == "CONV_2D":
            g.op(op, [xi, wi, bi], [yi], "Conv2DOptions",
                 options("Conv2DOptions", padding=1 if variant == 0 else 0, strideW=1, strideH=1))
        else:
            g.op(op, [xi, wi, bi], [yi], "DepthwiseConv2DOptions",
                 options("DepthwiseConv2DOptions", padding=1 if variant != 1 else 0, strideW=1, strideH=1,
                         depthMultiplier=1 + (variant == 1)))
        g.inputs, g.outputs = [xi], [yi]
        name = f"{op.lower()}_halves_{k}"
        cases.append(HalfCase(op, name, g.build(), [[x]], [want.reshape(out_shape)], [ties.reshape(out_shape)],
                              [beyond.reshape(out_shape)], sorted(set(plan.pairs)), [zp_in, zp_out]))
    return cases


def _accumulator_geometry(op: str, variant: int, channels: int, zp_in: int, rng: np.random.Generator,
                          weight_limit: int = 127):
    """(input, filter, filter -> per-channel dot products, (input, filter, quantized dim, output shapes))."""
    if op == "FULLY_CONNECTED":
        depth = int(rng.integers(1, 24))
        x = rng.integers(-128, 128, (1, depth)).astype(np.int8)
        w = rng.integers(-weight_limit, weight_limit + 1, (channels, depth)).astype(np.int8)

        def dots(w: np.ndarray) -> np.ndarray:
            return (w.astype(np.int64) * (x.astype(np.int64) - zp_in)).sum(axis=1)
        return x, w, dots, ((1, depth), (channels, depth), 0, (1, channels))
    # variant 0: a 2x2 window wholly inside a 2x2 input; 1: a 3x3 SAME window on a 1x1 input; 2: a 3x3 window
    # wholly inside a 3x3 input
    k = 3 if variant == 2 else 2 + variant
    size = 1 if variant == 1 else k
    if op == "CONV_2D":
        cin = int(rng.integers(1, 6))
        x_shape, w_shape, qdim = (1, size, size, cin), (channels, k, k, cin), 0
    else:
        cin = channels // (1 + (variant == 1))  # depth multiplier 1 (channel blocks) or 2 (the general path)
        x_shape, w_shape, qdim = (1, size, size, cin), (1, k, k, channels), 3
    x = rng.integers(-128, 128, x_shape).astype(np.int8)
    w = rng.integers(-weight_limit, weight_limit + 1, w_shape).astype(np.int8)
    window = x.astype(np.int64)[0] - zp_in

    def conv_dots(w: np.ndarray) -> np.ndarray:
        taps = w.astype(np.int64) if variant != 1 else w.astype(np.int64)[:, 1:2, 1:2, :]
        if op == "CONV_2D":
            return (taps * window).reshape(channels, -1).sum(axis=1)
        return (taps[0] * np.repeat(window, 1 + (variant == 1), axis=2)).reshape(-1, channels).sum(axis=0)
    return x, w, conv_dots, (x_shape, w_shape, qdim, (1, 1, 1, channels))


# ------------------------------------------------------------------------------------------------- MEAN

def _values_summing_to(total: int, count: int, lo: int, hi: int) -> np.ndarray:
    """`count` integers in [lo, hi] (as offsets from the zero point) summing to `total`."""
    base = np.full(count, total // count, np.int64)
    base[: total - int(base.sum())] += 1
    return np.clip(base, lo, hi)


def mean_cases(rng: np.random.Generator) -> list[HalfCase]:
    """MEAN over H*W of (1, H, W, C): per channel a target sum; the multiplier has 1/count folded in."""
    from edgeq.engine.ops_shape import mean_multiplier

    cases = []
    # (window, in/out scale ratio): counts 2 (shift 0), 4, 8, 16 with exact halves; odd counts; a ratio
    # near a power of two over a count of 4 (multiplier near 2^31); 2^-31 (shift -31); 32 (saturation).
    configs = [((2, 2), 1.0), ((4, 4), 0.5), ((1, 2), 1.0), ((2, 4), 2.0 ** -3), ((3, 3), None), ((2, 3), None),
               ((7, 7), None), ((4, 4), 2.0 ** 5), ((2, 2), "near"), ((2, 2), 2.0 ** -31)]
    for k, ((h, w), ratio) in enumerate(configs):
        zp_in, zp_out = _zero_points(rng)[k % 6]
        count = h * w
        in_scale = log_scale(rng)
        if ratio == "near":
            out_scale = near_2_31(in_scale * 4, lambda v, s=in_scale: s / v)
        else:
            out_scale = f32(in_scale / (ratio if ratio is not None else rng.uniform(0.2, 3)))
        m, shift = mean_multiplier(in_scale, out_scale, count)
        lo, hi = -128 - zp_in, 127 - zp_in  # per value, as offsets from the zero point
        sums = np.arange(lo * count, hi * count + 1)
        values, tie = requantize(sums, m, shift)
        out, observable, beyond = finish(values, tie, zp_out)
        picks = [*np.flatnonzero(observable > 0)[:: max(1, int((observable > 0).sum()) // 10)][:10],
                 *np.flatnonzero(observable < 0)[:: max(1, int((observable < 0).sum()) // 10)][:10],
                 *np.flatnonzero(beyond > 0)[:2], *np.flatnonzero(beyond < 0)[:2], 0, len(sums) - 1]
        picks += [int(v) for v in rng.integers(0, len(sums), 8)]
        channels = len(picks)
        x = np.stack([_values_summing_to(int(sums[p]), count, lo, hi) + zp_in for p in picks], axis=-1)
        x = x.reshape(1, h, w, channels).astype(np.int8)
        g = Graph()
        xi = g.tensor((1, h, w, channels), scale=in_scale, zero_point=zp_in)
        axes = g.tensor((2,), "int32", data=np.array([1, 2], np.int32))
        yi = g.tensor((1, 1, 1, channels), scale=out_scale, zero_point=zp_out)
        g.op("MEAN", [xi, axes], [yi], "ReducerOptions", options("ReducerOptions", keepDims=True))
        g.inputs, g.outputs = [xi], [yi]
        shape = (1, 1, 1, channels)
        cases.append(HalfCase("MEAN", f"mean_halves_{k}", g.build(), [[x]], [out[picks].reshape(shape)],
                              [observable[picks].reshape(shape)], [beyond[picks].reshape(shape)],
                              [(m, shift)], [zp_in, zp_out]))
    return cases


# --------------------------------------------------------------------------------------------- AVERAGE_POOL

def average_pool_cases(rng: np.random.Generator) -> list[HalfCase]:
    """AVERAGE_POOL_2D rounds sum / count half away from zero: window sums on every residue, so the
    halves of counts 2, 4 and 6 come up with both signs, plus the extreme sums."""
    cases = []
    for k, (kh, kw) in enumerate([(2, 2), (1, 2), (2, 3)]):
        count = kh * kw
        sums = np.arange(-128 * count, 127 * count + 1)
        half = (np.abs(sums) % count == count // 2) if count % 2 == 0 else np.zeros(sums.size, bool)
        picks = [*np.flatnonzero(half & (sums > 0))[::29][:12], *np.flatnonzero(half & (sums < 0))[::29][:12],
                 0, len(sums) - 1, *[int(v) for v in rng.integers(0, len(sums), 6)]]
        windows = len(picks)
        channels = 2
        out_w = windows // channels + windows % channels
        picks += picks[: out_w * channels - windows]
        values = np.stack([_values_summing_to(int(sums[p]), count, -128, 127) for p in picks])
        x = values.reshape(out_w, channels, kh, kw).transpose(2, 0, 3, 1).reshape(1, kh, out_w * kw, channels)
        s = sums[picks]
        rounded = np.where(s > 0, (s + count // 2) // count, -((-s + count // 2) // count))
        tie = np.where(half[picks], np.sign(s), 0)
        g = Graph()
        scale = log_scale(rng)
        zp = [-128, 127, 0][k]
        xi = g.tensor((1, kh, out_w * kw, channels), scale=scale, zero_point=zp)
        yi = g.tensor((1, 1, out_w, channels), scale=scale, zero_point=zp)
        g.op("AVERAGE_POOL_2D", [xi], [yi], "Pool2DOptions",
             options("Pool2DOptions", padding=1, strideW=kw, strideH=kh, filterWidth=kw, filterHeight=kh))
        g.inputs, g.outputs = [xi], [yi]
        shape = (1, 1, out_w, channels)
        cases.append(HalfCase("AVERAGE_POOL_2D", f"average_pool_2d_halves_{k}", g.build(),
                              [[x.astype(np.int8)]], [rounded.reshape(shape)], [tie.reshape(shape)],
                              [np.zeros(shape, np.int64)], [], [zp, zp]))
    return cases


def near_2_31(start: float, real_of: Callable[[float], float]) -> float:
    """Of the float32 scales within 32 ulps of `start` (which should make `real_of` a power of two), the
    one whose requantization multiplier comes closest to 2^31 (from below: 2^31 itself renormalises)."""
    candidates = [np.float32(start)]
    for direction in (0.0, np.inf):
        value = np.float32(start)
        for _ in range(32):
            value = np.nextafter(value, np.float32(direction))
            candidates.append(value)
    return float(max(candidates, key=lambda v: quantize_multiplier(real_of(float(v)))[0]))


def log_scale(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> float:
    return f32(math.exp(rng.uniform(math.log(lo), math.log(hi))))
