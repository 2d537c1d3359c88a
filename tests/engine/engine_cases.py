"""Randomized single-op cases for the engine's exactness tests: one generator per op.

Each generator draws shapes, strides, paddings, dilations, activations and quantization parameters from
`rng` and returns a Case (model + random inputs). Output scales are chosen from the expected spread of the
accumulator so that outputs cover the int8 range with some saturation, not a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from engine_opmodels import ACTIVATIONS, Graph, options

from edgeq.tflite import TFLiteModel


@dataclass
class Case:
    op: str
    name: str
    model: TFLiteModel
    inputs: list[list[np.ndarray]]
    description: str


def _scale(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _zp(rng: np.random.Generator) -> int:
    return int(rng.choice([-128, 0, 127, int(rng.integers(-128, 128))]))


def _activation(rng: np.random.Generator) -> str:
    return str(rng.choice(list(ACTIVATIONS)))


def _out_size(padding: int, size: int, k: int, stride: int, dilation: int) -> int:
    effective = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == 0 else (size - effective + stride) // stride


def _int8(rng: np.random.Generator, shape, lo: int = -128, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=tuple(shape)).astype(np.int8)


def _window_geometry(rng: np.random.Generator, allow_dilation: bool = True):
    """(h, w, kh, kw, stride_h, stride_w, dil_h, dil_w, padding, out_h, out_w) with out sizes >= 1."""
    while True:
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        dh, dw = (int(v) for v in rng.integers(1, 4, 2)) if allow_dilation and rng.random() < 0.4 else (1, 1)
        padding = int(rng.integers(0, 2))
        oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
        if oh >= 1 and ow >= 1:
            return h, w, kh, kw, sh, sw, dh, dw, padding, oh, ow


def _inputs(rng: np.random.Generator, model: TFLiteModel, count: int = 2) -> list[list[np.ndarray]]:
    vectors = []
    for _ in range(count):
        sample = []
        for t in model.main.input_tensors():
            if t.dtype == "float32":
                q = t.quantization
                span = 3.0 if q is None else 300 * float(q.scale[0])
                sample.append(rng.uniform(-span, span, size=t.shape).astype(np.float32))
            elif t.dtype == "uint8":
                sample.append(rng.integers(0, 256, size=t.shape).astype(np.uint8))
            else:
                sample.append(_int8(rng, t.shape))
        vectors.append(sample)
    return vectors


def _conv_like(rng: np.random.Generator, depthwise: bool) -> tuple[Graph, str]:
    g = Graph()
    batches = 2 if rng.random() < 0.15 else 1
    h, w, kh, kw, sh, sw, dh, dw, padding, oh, ow = _window_geometry(rng)
    wide = rng.random() < 0.3  # more channels than the kernels' 16-channel blocks and 4-way unrolling
    if depthwise:
        cin = int(rng.integers(17, 40)) if wide else int(rng.integers(1, 7))
        multiplier = int(rng.integers(1, 4))
        cout, fin, groups = cin * multiplier, 1, 1
        filter_shape, qdim = (1, kh, kw, cout), 3
    else:
        groups = 2 if rng.random() < 0.2 else 1
        fin = int(rng.integers(9, 24)) if wide else int(rng.integers(1, 6))
        cin, cout = fin * groups, groups * int(rng.integers(1, 5))
        filter_shape, qdim = (cout, kh, kw, fin), 0
    in_s, in_zp = _scale(rng), _zp(rng)
    per_channel = rng.random() < 0.7
    f_scales = np.array([_scale(rng, 1e-3, 5e-2) for _ in range(cout if per_channel else 1)], np.float32)
    taps = kh * kw * fin
    out_s = in_s * float(f_scales.mean()) * np.sqrt(taps) * 73 * 74 / rng.uniform(15, 80)
    activation = _activation(rng)
    x = g.tensor((batches, h, w, cin), scale=in_s, zero_point=in_zp)
    f = g.tensor(filter_shape, scale=f_scales, zero_point=0, data=_int8(rng, filter_shape, -127, 127),
                 quantized_dimension=qdim)
    inputs = [x, f]
    has_bias = bool(rng.random() < 0.85)
    if has_bias:
        bias_scale = in_s * (f_scales if per_channel else np.full(cout, f_scales[0]))
        inputs.append(g.tensor((cout,), "int32", scale=bias_scale, zero_point=0,
                               data=rng.integers(-4000, 4000, size=cout).astype(np.int32)))
    elif not depthwise:  # TFLM's DEPTHWISE_CONV_2D takes an absent bias as two inputs, not -1
        inputs.append(-1)
    y = g.tensor((batches, oh, ow, cout), scale=out_s, zero_point=_zp(rng))
    common = dict(padding=padding, strideW=sw, strideH=sh, dilationWFactor=dw, dilationHFactor=dh,
                  fusedActivationFunction=ACTIVATIONS[activation])
    if depthwise:
        g.op("DEPTHWISE_CONV_2D", inputs, [y], "DepthwiseConv2DOptions",
             options("DepthwiseConv2DOptions", depthMultiplier=cout // cin, **common))
    else:
        g.op("CONV_2D", inputs, [y], "Conv2DOptions", options("Conv2DOptions", **common))
    g.inputs, g.outputs = [x], [y]
    text = (f"in {[batches, h, w, cin]} k {kh}x{kw} s {sh},{sw} d {dh},{dw} {'VALID' if padding else 'SAME'} "
            f"out_c {cout} groups {groups} {activation} per_channel {per_channel} bias {has_bias}")
    return g, text


def conv_2d(rng):
    return _conv_like(rng, depthwise=False)


def depthwise_conv_2d(rng):
    return _conv_like(rng, depthwise=True)


def fully_connected(rng):
    g = Graph()
    depth, out_depth = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    layout = int(rng.integers(0, 3))
    in_shape = [(1, depth), (int(rng.integers(2, 4)), depth), (1, int(rng.integers(2, 4)), depth)][layout]
    keep = layout == 2 and rng.random() < 0.5
    rows = int(np.prod(in_shape)) // depth
    out_shape = (*in_shape[:-1], out_depth) if keep else (rows, out_depth)
    in_s, per_channel = _scale(rng), rng.random() < 0.4
    f_scales = np.array([_scale(rng, 1e-3, 5e-2) for _ in range(out_depth if per_channel else 1)], np.float32)
    out_s = in_s * float(f_scales.mean()) * np.sqrt(depth) * 73 * 74 / rng.uniform(15, 80)
    activation = _activation(rng)
    x = g.tensor(in_shape, scale=in_s, zero_point=_zp(rng))
    f = g.tensor((out_depth, depth), scale=f_scales, zero_point=0,
                 data=_int8(rng, (out_depth, depth), -127, 127))
    b = -1
    if rng.random() < 0.8:
        b = g.tensor((out_depth,), "int32", scale=in_s * f_scales if per_channel else in_s * f_scales[0],
                     zero_point=0, data=rng.integers(-4000, 4000, size=out_depth).astype(np.int32))
    y = g.tensor(out_shape, scale=out_s, zero_point=_zp(rng))
    g.op("FULLY_CONNECTED", [x, f, b], [y], "FullyConnectedOptions",
         options("FullyConnectedOptions", fusedActivationFunction=ACTIVATIONS[activation], keepNumDims=keep))
    g.inputs, g.outputs = [x], [y]
    return g, f"in {list(in_shape)} out {out_depth} keep {keep} {activation} per_channel {per_channel} bias {b >= 0}"


def _pool(rng, opcode: str):
    g = Graph()
    h, w, kh, kw, sh, sw, _, _, padding, oh, ow = _window_geometry(rng, allow_dilation=False)
    c = int(rng.integers(1, 6))
    batches = 2 if rng.random() < 0.15 else 1
    s, zp = _scale(rng), _zp(rng)
    activation = _activation(rng)
    x = g.tensor((batches, h, w, c), scale=s, zero_point=zp)
    y = g.tensor((batches, oh, ow, c), scale=s, zero_point=zp)
    g.op(opcode, [x], [y], "Pool2DOptions",
         options("Pool2DOptions", padding=padding, strideW=sw, strideH=sh, filterWidth=kw, filterHeight=kh,
                 fusedActivationFunction=ACTIVATIONS[activation]))
    g.inputs, g.outputs = [x], [y]
    return g, f"in {[batches, h, w, c]} k {kh}x{kw} s {sh},{sw} {'VALID' if padding else 'SAME'} {activation}"


def average_pool_2d(rng):
    return _pool(rng, "AVERAGE_POOL_2D")


def max_pool_2d(rng):
    return _pool(rng, "MAX_POOL_2D")


def _broadcast_shapes(rng):
    rank = int(rng.integers(1, 5))
    out = [int(v) for v in rng.integers(1, 6, rank)]
    shapes = []
    for _ in range(2):
        shape = [d if rng.random() < 0.7 else 1 for d in out]
        if rng.random() < 0.3:
            shape = shape[int(rng.integers(0, rank)):]
        shapes.append(shape)
    if rng.random() < 0.4:
        shapes[1] = list(out)
    # Every output dim must come from an input that has it (or be 1).
    for d in range(rank):
        a_dim = shapes[0][d - rank + len(shapes[0])] if d >= rank - len(shapes[0]) else 1
        b_dim = shapes[1][d - rank + len(shapes[1])] if d >= rank - len(shapes[1]) else 1
        if a_dim == 1 and b_dim == 1:
            out[d] = 1
    return out, shapes


def _binary(rng, opcode: str):
    g = Graph()
    out_shape, (sa, sb) = _broadcast_shapes(rng)
    s1, s2 = _scale(rng), _scale(rng)
    # Output scales around the typical spread of the real result, so that some values saturate.
    out_s = s1 * s2 * 74 * 74 / rng.uniform(10, 100) if opcode == "MUL" else max(s1, s2) * rng.uniform(0.5, 3)
    activation = _activation(rng)
    a = g.tensor(sa, scale=s1, zero_point=_zp(rng))
    constant = rng.random() < 0.25
    b = g.tensor(sb, scale=s2, zero_point=_zp(rng), data=_int8(rng, sb) if constant else None)
    y = g.tensor(out_shape, scale=out_s, zero_point=_zp(rng))
    options_name = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[opcode]
    g.op(opcode, [a, b], [y], options_name, options(options_name, fusedActivationFunction=ACTIVATIONS[activation]))
    g.inputs, g.outputs = ([a] if constant else [a, b]), [y]
    return g, f"{sa} {opcode} {sb}{' (constant)' if constant else ''} -> {out_shape} {activation}"


def add(rng):
    return _binary(rng, "ADD")


def sub(rng):
    return _binary(rng, "SUB")


def mul(rng):
    return _binary(rng, "MUL")


def _random_shape(rng, lo_rank: int = 1, hi_rank: int = 4) -> list[int]:
    return [int(v) for v in rng.integers(1, 6, int(rng.integers(lo_rank, hi_rank + 1)))]


def relu(rng):
    g = Graph()
    shape = _random_shape(rng)
    in_s = _scale(rng)
    x = g.tensor(shape, scale=in_s, zero_point=_zp(rng))
    y = g.tensor(shape, scale=in_s * rng.uniform(0.3, 3), zero_point=_zp(rng))
    g.op("RELU", [x], [y])
    g.inputs, g.outputs = [x], [y]
    return g, f"{shape}"


def relu6(rng):
    g = Graph()
    shape = _random_shape(rng)
    zp = int(rng.integers(-128, 60))
    s = float(rng.uniform(6.0 / (127 - zp), 0.2))
    x = g.tensor(shape, scale=s, zero_point=zp)
    y = g.tensor(shape, scale=s, zero_point=zp)
    g.op("RELU6", [x], [y])
    g.inputs, g.outputs = [x], [y]
    return g, f"{shape} scale {s:.4g} zp {zp}"


def pad(rng):
    g = Graph()
    shape = _random_shape(rng)
    pads = rng.integers(0, 4, size=(len(shape), 2)).astype(np.int32)
    s, zp = _scale(rng), _zp(rng)
    x = g.tensor(shape, scale=s, zero_point=zp)
    p = g.tensor((len(shape), 2), "int32", data=pads)
    y = g.tensor([d + int(a) + int(b) for d, (a, b) in zip(shape, pads, strict=True)], scale=s, zero_point=zp)
    if rng.random() < 0.3:
        v = g.tensor((), scale=s, zero_point=zp, data=np.array(int(rng.integers(-128, 128)), np.int8))
        g.op("PADV2", [x, p, v], [y], "PadV2Options", options("PadV2Options"))
        kind = "PADV2"
    else:
        g.op("PAD", [x, p], [y], "PadOptions", options("PadOptions"))
        kind = "PAD"
    g.inputs, g.outputs = [x], [y]
    return g, f"{kind} {shape} pads {pads.tolist()}"


def concatenation(rng):
    g = Graph()
    base = _random_shape(rng)
    axis = int(rng.integers(0, len(base)))
    s, zp = _scale(rng), _zp(rng)
    ins, shapes, graph_inputs = [], [], []
    for k in range(int(rng.integers(2, 4))):
        shape = list(base)
        shape[axis] = int(rng.integers(1, 4))
        constant = k > 0 and rng.random() < 0.2
        t = g.tensor(shape, scale=s, zero_point=zp, data=_int8(rng, shape) if constant else None)
        ins.append(t)
        shapes.append(shape)
        if not constant:
            graph_inputs.append(t)
    out = list(base)
    out[axis] = sum(sh[axis] for sh in shapes)
    y = g.tensor(out, scale=s, zero_point=zp)
    written_axis = axis - len(base) if rng.random() < 0.3 else axis
    g.op("CONCATENATION", ins, [y], "ConcatenationOptions", options("ConcatenationOptions", axis=written_axis))
    g.inputs, g.outputs = graph_inputs, [y]
    return g, f"{shapes} axis {written_axis}"


def mean(rng):
    g = Graph()
    shape = _random_shape(rng, 2, 4)
    axes = sorted(int(a) for a in rng.choice(len(shape), size=int(rng.integers(1, len(shape) + 1)), replace=False))
    keep = bool(rng.random() < 0.5)
    in_s = _scale(rng)
    out_shape = [1 if i in axes else d for i, d in enumerate(shape)] if keep else \
        [d for i, d in enumerate(shape) if i not in axes]
    x = g.tensor(shape, scale=in_s, zero_point=_zp(rng))
    written = [a - len(shape) if rng.random() < 0.3 else a for a in axes]
    ax = g.tensor((len(axes),), "int32", data=np.array(written, np.int32))
    y = g.tensor(out_shape, scale=in_s * rng.uniform(0.2, 2), zero_point=_zp(rng))
    g.op("MEAN", [x, ax], [y], "ReducerOptions", options("ReducerOptions", keepDims=keep))
    g.inputs, g.outputs = [x], [y]
    return g, f"{shape} axes {written} keep {keep}"


def quantize(rng):
    g = Graph()
    shape = _random_shape(rng)
    # (TFLM has no float32 -> uint8 QUANTIZE, and the engine refuses it too.)
    kind = int(rng.integers(0, 4))
    in_type, out_type = [("float32", "int8"), ("int8", "int8"), ("int8", "uint8"), ("uint8", "int8")][kind]

    def zp_for(dtype: str) -> int:
        return int(rng.integers(0, 256)) if dtype == "uint8" else _zp(rng)

    in_s = _scale(rng)
    x = g.tensor(shape, in_type, scale=None if in_type == "float32" else in_s,
                 zero_point=None if in_type == "float32" else zp_for(in_type))
    y = g.tensor(shape, out_type, scale=in_s * rng.uniform(0.3, 3), zero_point=zp_for(out_type))
    g.op("QUANTIZE", [x], [y], "QuantizeOptions", options("QuantizeOptions"))
    g.inputs, g.outputs = [x], [y]
    return g, f"{in_type} -> {out_type} {shape}"


def dequantize(rng):
    g = Graph()
    shape = _random_shape(rng)
    in_type = "uint8" if rng.random() < 0.3 else "int8"
    x = g.tensor(shape, in_type, scale=_scale(rng),
                 zero_point=int(rng.integers(0, 256)) if in_type == "uint8" else _zp(rng))
    y = g.tensor(shape, "float32")
    g.op("DEQUANTIZE", [x], [y], "DequantizeOptions", options("DequantizeOptions"))
    g.inputs, g.outputs = [x], [y]
    return g, f"{in_type} {shape}"


def reshape(rng):
    """RESHAPE in the three storage situations: input to output (a copy), into an op's input (alias of a
    caller buffer), and between two ops (alias inside the arena / the output buffer)."""
    g = Graph()
    shape = _random_shape(rng, 2, 4)
    flat = [int(np.prod(shape))]
    s, zp = _scale(rng), _zp(rng)
    variant = int(rng.integers(0, 3))
    x = g.tensor(shape, scale=s, zero_point=zp)
    shape_t = g.tensor((1,), "int32", data=np.array(flat, np.int32))
    r = g.tensor(flat, scale=s, zero_point=zp)
    if variant == 0:
        g.op("RESHAPE", [x, shape_t], [r], "ReshapeOptions", options("ReshapeOptions", newShape=flat))
        g.inputs, g.outputs = [x], [r]
        return g, f"{shape} -> {flat} (input to output)"
    if variant == 1:
        y = g.tensor(flat, scale=s * 1.5, zero_point=zp)
        g.op("RESHAPE", [x, shape_t], [r], "ReshapeOptions", options("ReshapeOptions", newShape=flat))
        g.op("RELU", [r], [y])
        g.inputs, g.outputs = [x], [y]
        return g, f"{shape} -> {flat} -> RELU"
    a = g.tensor(shape, scale=s * 0.7, zero_point=_zp(rng))
    y = g.tensor(flat, scale=s * 0.9, zero_point=_zp(rng))
    g.op("RELU", [x], [a])
    g.op("RESHAPE", [a, shape_t], [r], "ReshapeOptions", options("ReshapeOptions", newShape=flat))
    g.op("QUANTIZE", [r], [y], "QuantizeOptions", options("QuantizeOptions"))
    g.inputs, g.outputs = [x], [y, a] if rng.random() < 0.5 else [y]
    return g, f"RELU -> {shape} -> {flat} -> QUANTIZE (outputs {len(g.outputs)})"


def squeeze_expand_dims(rng):
    """SQUEEZE or EXPAND_DIMS (free, like RESHAPE) between a RELU and a requantizing QUANTIZE."""
    g = Graph()
    shape = _random_shape(rng, 1, 3)
    axis = int(rng.integers(0, len(shape) + 1))
    wide = shape[:axis] + [1] + shape[axis:]
    s, zp = _scale(rng), _zp(rng)
    x = g.tensor(shape if rng.random() < 0.5 else wide, scale=s, zero_point=zp)
    squeeze = tuple(g.tensors[x]["shape"]) == tuple(wide)
    a = g.tensor(g.tensors[x]["shape"], scale=s * 0.8, zero_point=_zp(rng))
    r = g.tensor(shape if squeeze else wide, scale=s * 0.8, zero_point=g.tensors[a]["zero_point"])
    y = g.tensor(g.tensors[r]["shape"], scale=s * 1.1, zero_point=_zp(rng))
    g.op("RELU", [x], [a])
    if squeeze:
        g.op("SQUEEZE", [a], [r], "SqueezeOptions", options("SqueezeOptions", squeezeDims=[axis]))
    else:
        g.op("EXPAND_DIMS", [a, g.tensor((), "int32", data=np.array(axis, np.int32))], [r])
    g.op("QUANTIZE", [r], [y], "QuantizeOptions", options("QuantizeOptions"))
    g.inputs, g.outputs = [x], [y]
    return g, f"{'SQUEEZE' if squeeze else 'EXPAND_DIMS'} {g.tensors[x]['shape']} -> {g.tensors[r]['shape']}"


GENERATORS: dict[str, Callable[[np.random.Generator], tuple[Graph, str]]] = {
    "CONV_2D": conv_2d, "DEPTHWISE_CONV_2D": depthwise_conv_2d, "FULLY_CONNECTED": fully_connected,
    "AVERAGE_POOL_2D": average_pool_2d, "MAX_POOL_2D": max_pool_2d, "ADD": add, "SUB": sub, "MUL": mul,
    "RELU": relu, "RELU6": relu6, "PAD": pad, "CONCATENATION": concatenation, "MEAN": mean,
    "QUANTIZE": quantize, "DEQUANTIZE": dequantize, "RESHAPE": reshape, "SQUEEZE": squeeze_expand_dims,
}


def make_cases(op: str, count: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(count):
        graph, text = GENERATORS[op](rng)
        model = graph.build()
        cases.append(Case(op, f"{op.lower()}_{k}", model, _inputs(rng, model), text))
    return cases
