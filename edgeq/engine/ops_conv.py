"""Lowering of the windowed and matrix ops: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and the pools.

Multipliers are derived as TFLM's Prepare functions do, in double precision from the float32 scales,
because a different rounding of the real multiplier changes outputs by one LSB (tests/engine/engine_ties.py
holds cases that tell float32 from double arithmetic apart for every such derivation).
"""

from __future__ import annotations

import numpy as np

from edgeq.engine.ir import (
    ArrayArg,
    KernelCall,
    LiteralArg,
    Lowered,
    LoweringContext,
    ParamsArg,
    TensorArg,
    fused_activation,
)
from edgeq.engine.quant import activation_range, quantize_multiplier
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator


def require_int8(ctx: LoweringContext, op: Operator, *indices: int) -> None:
    """Raise UnsupportedOpError unless every listed tensor is int8 with affine quantization."""
    for i in indices:
        t = ctx.tensor(i)
        if t.dtype != "int8":
            raise UnsupportedOpError(f"{t.dtype} tensor '{t.name}' (the engine's kernels are int8)")
        if t.quantization is None:
            raise UnsupportedOpError(f"tensor '{t.name}' has no quantization parameters")


def activation_bounds(ctx: LoweringContext, op: Operator, output: int) -> tuple[int, int]:
    """The clamp bounds of the op's fused activation in `output`'s integers; UnsupportedOpError for
    activations TFLM's int8 kernels do not fuse (TANH, SIGN_BIT, ...)."""
    activation = fused_activation(op)
    if activation not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise UnsupportedOpError(f"fused activation {activation}")
    return activation_range(activation, ctx.scale(output), ctx.zero_point(output))


def padded_geometry(padding: int, in_size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """(output size, leading padding) as TFLite computes them; padding 0 is SAME, 1 is VALID."""
    if stride < 1 or dilation < 1 or k < 1:
        raise UnsupportedOpError(f"stride {stride}, dilation {dilation}, window {k}")
    effective = (k - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size - effective + stride) // stride
    total = max(0, (out - 1) * stride + effective - in_size)
    return out, total // 2


def _nhwc(ctx: LoweringContext, index: int) -> tuple[int, int, int, int]:
    shape = ctx.tensor(index).shape
    if len(shape) != 4:
        raise UnsupportedOpError(f"tensor '{ctx.tensor(index).name}' has shape {list(shape)}, not NHWC")
    return shape[0], shape[1], shape[2], shape[3]


def _check_out(ctx: LoweringContext, output: int, expected: tuple[int, ...]) -> None:
    if tuple(ctx.tensor(output).shape) != expected:
        raise UnsupportedOpError(
            f"output shape {list(ctx.tensor(output).shape)} differs from the computed {list(expected)}")


def _per_channel_multipliers(ctx: LoweringContext, inp: int, filt: int, out: int,
                             channels: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(per_channel flag, multipliers, shifts): double(in) * double(filter[c]) / double(out), as
    PopulateConvolutionQuantizationParams computes for CONV_2D and DEPTHWISE_CONV_2D. FULLY_CONNECTED's
    per-tensor product too is formed in double: TFLM's source reads as a float product, but the
    interpreter rounds like a double one (tests/engine/engine_ties.py pins this down)."""
    filter_scales = ctx.scales(filt)
    per_channel = filter_scales.size > 1
    if per_channel and filter_scales.size != channels:
        raise UnsupportedOpError(f"{filter_scales.size} filter scales for {channels} output channels")
    used = filter_scales if per_channel else filter_scales[:1]
    pairs = [quantize_multiplier(ctx.scale(inp) * float(s) / ctx.scale(out)) for s in used]
    return (int(per_channel), np.array([m for m, _ in pairs], np.int32),
            np.array([s for _, s in pairs], np.int32))


def _bias_arg(ctx: LoweringContext, op: Operator) -> TensorArg | LiteralArg:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return LiteralArg("NULL")
    bias = ctx.tensor(op.inputs[2])
    if bias.dtype != "int32":
        raise UnsupportedOpError(f"{bias.dtype} bias (int8 kernels take int32 bias)")
    return TensorArg(op.inputs[2], "int32_t")


def _requant_call(function: str, ctx: LoweringContext, op: Operator, has_sums: bool) -> KernelCall:
    sums = ArrayArg("fsum") if has_sums else LiteralArg("NULL")
    return KernelCall(function, (ParamsArg(), TensorArg(op.inputs[0]), TensorArg(op.inputs[1]),
                                 _bias_arg(ctx, op), sums, ArrayArg("mult"), ArrayArg("shift"),
                                 TensorArg(op.outputs[0], writable=True)))


def _filter_sums(ctx: LoweringContext, filt: int, axes: tuple[int, ...]) -> list[tuple[str, str, np.ndarray]]:
    """Per output channel, the sum of its (constant) filter values: lets the kernels take the input offset
    out of the inner loop. Nothing for a filter computed at run time."""
    data = ctx.tensor(filt).data
    if data is None:
        return []
    return [("fsum", "int32_t", np.asarray(data, np.int64).sum(axis=axes).astype(np.int32))]


def _window_params(ctx: LoweringContext, op: Operator, filter_hw: tuple[int, int],
                   out_c: int) -> list[tuple[str, int]]:
    """The geometry and offsets eq_conv_params and eq_dwconv_params share, with the output shape checked."""
    inp, out, o = op.inputs[0], op.outputs[0], op.options
    batches, in_h, in_w, in_c = _nhwc(ctx, inp)
    k_h, k_w = filter_hw
    out_h, pad_h = padded_geometry(o.padding, in_h, k_h, o.strideH, o.dilationHFactor)
    out_w, pad_w = padded_geometry(o.padding, in_w, k_w, o.strideW, o.dilationWFactor)
    _check_out(ctx, out, (batches, out_h, out_w, out_c))
    act_min, act_max = activation_bounds(ctx, op, out)
    return [
        ("batches", batches), ("in_h", in_h), ("in_w", in_w), ("in_c", in_c),
        ("out_h", out_h), ("out_w", out_w), ("out_c", out_c), ("k_h", k_h), ("k_w", k_w),
        ("stride_h", o.strideH), ("stride_w", o.strideW),
        ("dilation_h", o.dilationHFactor), ("dilation_w", o.dilationWFactor),
        ("pad_h", pad_h), ("pad_w", pad_w),
        ("input_offset", -ctx.zero_point(inp)), ("output_offset", ctx.zero_point(out)),
        ("act_min", act_min), ("act_max", act_max),
    ]


def write_behind(window: dict[str, int], block: int = 1, reads_first: bool = False) -> int:
    """How many bytes before its input a windowed kernel's output may start when the input dies at the op.

    The kernels go through the output pixels in order (batch, row, column), `block` pixels at a time, and
    write only a pixel's own out_c bytes. With `reads_first` every read for a block precedes its writes (an
    im2col copy), else they interleave (the block's inputs are read again after its first write). Writing
    block k must not reach any input byte still to be read: the answer is the largest (end of block k's
    output) - (lowest input byte read from then on) over the blocks."""
    w = window
    pixels = w["out_h"] * w["out_w"]
    total_in = w["batches"] * w["in_h"] * w["in_w"] * w["in_c"]

    def first_valid(out_size: int, stride: int, pad: int, dilation: int, k: int, in_size: int):
        origin = np.arange(out_size) * stride - pad
        tap = (np.maximum(0, -origin) + dilation - 1) // dilation  # the first tap inside the input
        at = origin + tap * dilation
        return at, (tap < k) & (at < in_size)

    iy, ok_y = first_valid(w["out_h"], w["stride_h"], w["pad_h"], w["dilation_h"], w["k_h"], w["in_h"])
    ix, ok_x = first_valid(w["out_w"], w["stride_w"], w["pad_w"], w["dilation_w"], w["k_w"], w["in_w"])
    low = ((iy[:, None] * w["in_w"] + ix[None, :]) * w["in_c"]).astype(np.float64)
    low[~(ok_y[:, None] & ok_x[None, :])] = np.inf  # a window wholly in the padding reads nothing
    low = np.concatenate([low.reshape(-1) + b * w["in_h"] * w["in_w"] * w["in_c"] for b in range(w["batches"])])
    from_here = np.minimum.accumulate(low[::-1])[::-1]  # the lowest byte read at or after each pixel
    starts = np.concatenate([np.arange(0, pixels, block) + b * pixels for b in range(w["batches"])])
    ends = np.minimum(starts + block, (starts // pixels + 1) * pixels)  # blocks stop at a batch's end
    nxt = ends if reads_first else starts
    still = np.where(nxt < low.size, from_here[np.minimum(nxt, low.size - 1)], np.inf)
    gaps = ends * w["out_c"] - still
    finite = gaps[np.isfinite(gaps)]
    return int(finite.max()) if finite.size else -total_in


def _lower_windowed(ctx: LoweringContext, op: Operator, function: str, params_type: str,
                    params: list[tuple[str, int]], out_c: int, sum_axes: tuple[int, ...]) -> Lowered:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_channel, mult, shift = _per_channel_multipliers(ctx, inp, filt, out, out_c)
    sums = _filter_sums(ctx, filt, sum_axes)
    window = dict(params)
    # eq_conv_s8 and eq_dwconv_s8 write a pixel's channels while still reading its window.
    overlap = (inp, write_behind(window)) if "k_h" in window else None
    return Lowered(calls=[_requant_call(function, ctx, op, bool(sums))], params_type=params_type,
                   params=[*params, ("per_channel", per_channel)],
                   arrays=[("mult", "int32_t", mult), ("shift", "int32_t", shift), *sums], overlap=overlap)


def lower_conv_2d(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    in_c = _nhwc(ctx, inp)[3]
    out_c, k_h, k_w, filter_in_c = _nhwc(ctx, filt)
    if filter_in_c <= 0 or in_c % filter_in_c or out_c % (in_c // filter_in_c):
        raise UnsupportedOpError(f"{in_c} input channels with a filter of depth {filter_in_c}")
    params = [*_window_params(ctx, op, (k_h, k_w), out_c), ("filter_in_c", filter_in_c)]
    return _lower_windowed(ctx, op, "eq_conv_s8", "eq_conv_params", params, out_c, (1, 2, 3))


def lower_depthwise_conv_2d(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    in_c = _nhwc(ctx, inp)[3]
    one, k_h, k_w, out_c = _nhwc(ctx, filt)
    if one != 1 or in_c == 0 or out_c % in_c:
        raise UnsupportedOpError(f"depthwise filter shape {list(ctx.tensor(filt).shape)} for {in_c} channels")
    params = [*_window_params(ctx, op, (k_h, k_w), out_c), ("depth_multiplier", out_c // in_c)]
    return _lower_windowed(ctx, op, "eq_dwconv_s8", "eq_dwconv_params", params, out_c, (0, 1, 2))


def lower_fully_connected(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    if op.options is not None and int(op.options.weightsFormat) != 0:
        raise UnsupportedOpError("shuffled FULLY_CONNECTED weights")
    filter_shape = ctx.tensor(filt).shape
    if len(filter_shape) != 2:
        raise UnsupportedOpError(f"filter shape {list(filter_shape)}")
    out_depth, depth = filter_shape
    elements = ctx.tensor(inp).num_elements
    if depth == 0 or elements % depth:
        raise UnsupportedOpError(f"{elements} input values for a filter depth of {depth}")
    rows = elements // depth
    if ctx.tensor(out).num_elements != rows * out_depth:
        raise UnsupportedOpError(f"output shape {list(ctx.tensor(out).shape)}")
    act_min, act_max = activation_bounds(ctx, op, out)
    params = [
        ("rows", rows), ("depth", depth), ("out_depth", out_depth),
        ("input_offset", -ctx.zero_point(inp)), ("filter_offset", -ctx.zero_point(filt)),
        ("output_offset", ctx.zero_point(out)), ("act_min", act_min), ("act_max", act_max),
    ]
    return _lower_windowed(ctx, op, "eq_fc_s8", "eq_fc_params", params, out_depth, (1,))


def _lower_pool(function: str, ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    o = op.options
    batches, in_h, in_w, channels = _nhwc(ctx, inp)
    out_h, pad_h = padded_geometry(o.padding, in_h, o.filterHeight, o.strideH, 1)
    out_w, pad_w = padded_geometry(o.padding, in_w, o.filterWidth, o.strideW, 1)
    _check_out(ctx, out, (batches, out_h, out_w, channels))
    act_min, act_max = activation_bounds(ctx, op, out)
    params = [
        ("batches", batches), ("in_h", in_h), ("in_w", in_w), ("channels", channels),
        ("out_h", out_h), ("out_w", out_w), ("k_h", o.filterHeight), ("k_w", o.filterWidth),
        ("stride_h", o.strideH), ("stride_w", o.strideW), ("pad_h", pad_h), ("pad_w", pad_w),
        ("act_min", act_min), ("act_max", act_max),
    ]
    call = KernelCall(function, (ParamsArg(), TensorArg(inp), TensorArg(out, writable=True)))
    return Lowered(calls=[call], params_type="eq_pool_params", params=params)


def lower_average_pool_2d(ctx: LoweringContext, op: Operator) -> Lowered:
    return _lower_pool("eq_avgpool_s8", ctx, op)


def lower_max_pool_2d(ctx: LoweringContext, op: Operator) -> Lowered:
    return _lower_pool("eq_maxpool_s8", ctx, op)
