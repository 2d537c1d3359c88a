"""Lowering to the DSP-extension kernels (kernels/eq_dsp_*.c) for cores whose profile has `dsp = true`.

Each function returns None where its kernel does not apply (grouped convolution, a depth multiplier, a
run-time filter, broadcasting, ...): the op then takes its portable lowering. At generation time the weights
are re-laid out for the kernels' word loads, the input offset is folded into the bias, and each layer is
checked for the cheap requantization (eq_requant_fast in eq_dsp.h): every right shift >= 1 and no accumulator
that can reach 2^30, bounded from the constant weights, bias and the int8 input range.
"""

from __future__ import annotations

import numpy as np

from edgeq.engine.ir import ArrayRef, KernelCall, LiteralArg, Lowered, LoweringContext, ParamsArg, ScratchArg, TensorArg
from edgeq.engine.ops_conv import (
    _nhwc,
    _per_channel_multipliers,
    _window_params,
    activation_bounds,
    require_int8,
    write_behind,
)
from edgeq.engine.ops_elementwise import lower_add as lower_add_portable
from edgeq.tflite import Operator

INT16_MAX = 32767
DW_MAX_TAPS = 25  # EQ_DW_MAX_TAPS in eq_dsp_kernels.h
_FAST_LIMIT = 1 << 30
_HEADERS = ("eq_dsp_kernels.h",)


def _round_up(value: int, step: int) -> int:
    return (value + step - 1) // step * step


def _wrap_int32(values: np.ndarray) -> np.ndarray:
    """int64 values reduced modulo 2^32 into int32, as the kernels' wrapping int32 sums see them."""
    return ((np.asarray(values, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _channel_tables(ctx: LoweringContext, op: Operator, weights: np.ndarray, channels: int, input_offset: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(weights, bias with the input offset folded in, multipliers, int8 shifts, fast requantization exact) per
    output channel, from `weights` [channels, taps]. A channel whose multiplier is 0 (a scale below 2^-32)
    outputs its zero point whatever it accumulates: its weights and bias become 0, so it accumulates 0, which
    any multiplier maps to 0; it gets 2^30 and the layer's smallest shift, which the packed words can hold."""
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    per_channel, mult, shift = _per_channel_multipliers(ctx, inp, filt, out, channels)
    if not per_channel:
        mult, shift = np.repeat(mult, channels), np.repeat(shift, channels)
    bias = np.zeros(channels, np.int64)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = np.asarray(ctx.constant(op.inputs[2]), np.int64).reshape(-1)
    dead = mult == 0
    if dead.any():
        weights, bias, mult, shift = weights.copy(), bias.copy(), mult.copy(), shift.copy()
        weights[dead], bias[dead], mult[dead] = 0, 0, 1 << 30
        shift[dead] = shift[~dead].min() if (~dead).any() else -1
    w = weights.astype(np.int64)
    folded = _wrap_int32(bias + input_offset * w.sum(axis=1))
    bound = np.abs(folded.astype(np.int64)) + 128 * np.abs(w).sum(axis=1)
    fast = bool((shift <= -1).all() and (bound < _FAST_LIMIT).all())
    return weights, folded, mult.astype(np.int32), shift.astype(np.int8), fast


def _constant_filter(ctx: LoweringContext, op: Operator) -> np.ndarray | None:
    data = ctx.tensor(op.inputs[1]).data
    return None if data is None else np.asarray(data, np.int8)


def _fits_int16(params: list[tuple[str, int]]) -> bool:
    return all(-INT16_MAX - 1 <= int(v) <= INT16_MAX for _, v in params)


# The parameter structs point at the op's weights and tables: fewer call arguments, less code per call.
_POINTERS = [("w", ArrayRef("w")), ("bias", ArrayRef("bias")), ("mult", ArrayRef("mult")),
             ("shift", ArrayRef("shift"))]


def pack_quant(mult: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Per-channel multipliers and shifts as the kernels' eq_channel_quant reads them: (int32 words, int8 shift
    table, table step). Bits 0-29 of a word hold the multiplier below its leading bit 30; when the shifts span
    at most 4 values, bits 30-31 hold the shift less the smallest, the table's one entry (step 0), else the
    table holds every shift (step 1). None when a multiplier is outside [2^30, 2^31) (_channel_tables has
    replaced TFLite's only other value, 0)."""
    mult, shift = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    if mult.size == 0 or (mult < 1 << 30).any() or (mult >= 1 << 31).any():
        return None
    low = mult & ((1 << 30) - 1)
    if shift.max() - shift.min() <= 3:
        base = int(shift.min())
        return _wrap_int32(low | ((shift - base) << 30)), np.array([base], np.int8), 0
    return _wrap_int32(low), shift.astype(np.int8), 1


def _tables(folded: np.ndarray, mult: np.ndarray, shift: np.ndarray, count: int
            ) -> tuple[list[tuple[str, str, np.ndarray]], int] | None:
    """The per-channel arrays, padded with zeros to `count` entries (the kernels' channel blocks), and the
    shift table's step; None when the multipliers cannot be packed."""
    def pad(values: np.ndarray, dtype: type, fill: int = 0) -> np.ndarray:
        padded = np.full(count, fill, dtype)
        padded[:values.size] = values
        return padded

    packed = pack_quant(mult, shift)
    if packed is None:
        return None
    words, table, step = packed
    # A padding channel is computed (its result is not stored): it gets a shift the layer's requantization takes.
    return [("bias", "int32_t", pad(folded, np.int32)), ("mult", "int32_t", pad(words, np.int32)),
            ("shift", "int8_t", table if step == 0 else pad(table, np.int8, int(table.min())))], step


def _call(function: str, op: Operator, scratch: int) -> KernelCall:
    return KernelCall(function, (ParamsArg(), TensorArg(op.inputs[0]),
                                 ScratchArg("int8_t") if scratch else LiteralArg("NULL"),
                                 TensorArg(op.outputs[0], writable=True)))


def lower_conv_2d(ctx: LoweringContext, op: Operator) -> Lowered | None:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    filters = _constant_filter(ctx, op)
    in_c = _nhwc(ctx, inp)[3]
    out_c, k_h, k_w, filter_in_c = _nhwc(ctx, filt)
    if filters is None or filter_in_c != in_c:  # grouped convolution: the portable kernel
        return None
    window = dict(_window_params(ctx, op, (k_h, k_w), out_c))
    taps = k_h * k_w * in_c
    kp = _round_up(taps, 4)
    direct = int(k_h == 1 and k_w == 1 and in_c % 4 == 0 and window["pad_h"] == 0 and window["pad_w"] == 0)
    weights, folded, mult, shift, fast = _channel_tables(ctx, op, filters.reshape(out_c, taps), out_c,
                                                         window["input_offset"])
    pairs = _round_up(out_c, 2)
    laid = np.zeros((pairs, kp), np.int8)
    laid[:out_c, :taps] = weights
    # Channel pairs, their kp values interleaved four at a time: [pair][chunk][channel of the pair][4].
    laid = laid.reshape(pairs // 2, 2, kp // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    names = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
             "dilation_h", "dilation_w", "pad_h", "pad_w")
    params = [*((n, window[n]) for n in names), ("kp", kp), ("direct", direct),
              ("input_zero_point", -window["input_offset"]), ("output_offset", window["output_offset"]),
              ("act_min", window["act_min"]), ("act_max", window["act_max"]), ("fast_requant", int(fast))]
    packed = _tables(folded, mult, shift, pairs)
    if packed is None or not _fits_int16(params):
        return None
    tables, step = packed
    params.append(("shift_step", step))
    # Two pixels at a time: im2col copies both windows, and a direct 1x1 from 16 channels on splits both pixels
    # into int16 lanes once for every channel pair (below 16 the split costs more than it saves: the pixels are
    # read in place, again for every channel pair).
    in_place = bool(direct) and kp < 16
    scratch = 0 if in_place else 4 * kp if direct else 2 * kp
    overlap = (inp, write_behind(window, block=2, reads_first=not in_place))
    return Lowered(calls=[_call("eq_conv_dsp_s8", op, scratch)], params_type="eq_conv_dsp_params",
                   params=[*_POINTERS, *params], arrays=[("w", "int8_t", laid), *tables], scratch_bytes=scratch,
                   headers=_HEADERS, overlap=overlap)


def lower_depthwise_conv_2d(ctx: LoweringContext, op: Operator) -> Lowered | None:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    filters = _constant_filter(ctx, op)
    in_c = _nhwc(ctx, inp)[3]
    _, k_h, k_w, out_c = _nhwc(ctx, filt)
    if filters is None or out_c != in_c or in_c % 4 or k_h * k_w > DW_MAX_TAPS:
        return None
    window = dict(_window_params(ctx, op, (k_h, k_w), out_c))
    by_channel, folded, mult, shift, fast = _channel_tables(ctx, op, filters.reshape(k_h * k_w, out_c).T, out_c,
                                                            window["input_offset"])
    weights = by_channel.T
    names = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
             "dilation_h", "dilation_w", "pad_h", "pad_w")
    params = [(n if n != "in_c" else "channels", window[n]) for n in names]
    params += [("input_zero_point", -window["input_offset"]), ("output_offset", window["output_offset"]),
               ("act_min", window["act_min"]), ("act_max", window["act_max"]), ("fast_requant", int(fast))]
    packed = _tables(folded, mult, shift, out_c)
    if packed is None or not _fits_int16(params):
        return None
    tables, step = packed
    params.append(("shift_step", step))
    # [channel group of 4][tap][4]: the kernel reads a group's taps in order.
    laid = weights.reshape(k_h * k_w, out_c // 4, 4).transpose(1, 0, 2).reshape(-1)
    function, scratch, overlap = "eq_dwconv_dsp_s8", in_c, write_behind(window)
    # Measured on the MLPerf Tiny shapes: the 3x3 kernel's per-row setup outweighs its gain on stride-2 rows of
    # fewer than 4 outputs.
    if (k_h, k_w) == (3, 3) and window["dilation_h"] == window["dilation_w"] == 1 and window["stride_w"] in (1, 2) \
            and not (window["stride_w"] == 2 and window["out_w"] < 4):
        # eq_dwconv3x3_dsp_s8: weights [channel][9] and 3 bytes its last word load reads; in scratch a
        # per-channel table (32 B a channel) and a ring of three int16 rows (EQ_DW3_COLS in eq_dsp_kernels.h).
        # Each input row is copied before any output row that reads it is written: a row of output pixels at a
        # time, its reads first.
        out_w = window["out_w"]
        cols = ((out_w - 1) * window["stride_w"] + 5) // 2 * 2
        function, scratch = "eq_dwconv3x3_dsp_s8", 32 * in_c + 3 * in_c * cols * 2
        laid = np.concatenate([weights.T.reshape(-1), np.zeros(3, np.int8)])
        overlap = write_behind(window, block=out_w, reads_first=True)
    return Lowered(calls=[_call(function, op, scratch)], params_type="eq_dwconv_dsp_params",
                   params=[*_POINTERS, *params], arrays=[("w", "int8_t", laid), *tables], scratch_bytes=scratch,
                   headers=_HEADERS, overlap=(inp, overlap))


def lower_fully_connected(ctx: LoweringContext, op: Operator) -> Lowered | None:
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, inp, filt, out)
    filters = _constant_filter(ctx, op)
    if filters is None or filters.ndim != 2 or ctx.zero_point(filt) != 0:
        return None
    if op.options is not None and int(op.options.weightsFormat) != 0:
        return None
    out_depth, depth = filters.shape
    elements = ctx.tensor(inp).num_elements
    if depth == 0 or elements % depth or ctx.tensor(out).num_elements != elements // depth * out_depth:
        return None
    act_min, act_max = activation_bounds(ctx, op, out)
    input_offset = -ctx.zero_point(inp)
    filters, folded, mult, shift, fast = _channel_tables(ctx, op, filters, out_depth, input_offset)
    per_channel = ctx.scales(filt).size > 1
    kp, fours = _round_up(depth, 4), _round_up(out_depth, 4)
    laid = np.zeros((fours, kp), np.int8)
    laid[:out_depth, :depth] = filters
    laid = laid.reshape(fours // 4, 4, kp // 4, 4).transpose(0, 2, 1, 3).reshape(-1)
    count = out_depth if per_channel else 1
    packed = pack_quant(mult[:count], shift[:count])
    if packed is None:
        return None
    words, table, step = packed
    params = [("rows", elements // depth), ("depth", depth), ("out_depth", out_depth), ("kp", kp),
              ("per_channel", int(per_channel)), ("output_offset", ctx.zero_point(out)), ("act_min", act_min),
              ("act_max", act_max), ("fast_requant", int(fast)), ("shift_step", step)]
    bias = np.zeros(fours, np.int32)
    bias[:out_depth] = folded
    tables = [("bias", "int32_t", bias), ("mult", "int32_t", words), ("shift", "int8_t", table)]
    scratch = kp if kp != depth else 0
    return Lowered(calls=[_call("eq_fc_dsp_s8", op, scratch)], params_type="eq_fc_dsp_params",
                   params=[*_POINTERS, *params], arrays=[("w", "int8_t", laid), *tables], scratch_bytes=scratch,
                   headers=_HEADERS)


def lower_add(ctx: LoweringContext, op: Operator) -> Lowered | None:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    portable = lower_add_portable(ctx, op)
    shape = tuple(ctx.tensor(out).shape)
    if tuple(ctx.tensor(a).shape) != shape or tuple(ctx.tensor(b).shape) != shape:
        return None
    fields = dict(portable.params)
    if fields["left_shift"] != 20 or fields["input1_shift"] > 0 or fields["input2_shift"] > 0 \
            or fields["output_shift"] > -1:
        return None
    names = ("input1_mult", "input2_mult", "output_mult", "input1_offset", "input2_offset", "output_offset",
             "input1_shift", "input2_shift", "output_shift", "act_min", "act_max")
    call = KernelCall("eq_add_dsp_s8", (ParamsArg(), LiteralArg(str(ctx.tensor(out).num_elements)), TensorArg(a),
                                        TensorArg(b), TensorArg(out, writable=True)))
    return Lowered(calls=[call], params_type="eq_add_dsp_params", params=[(n, fields[n]) for n in names],
                   inplace_input=portable.inplace_input, headers=_HEADERS)

