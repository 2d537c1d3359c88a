"""Lowering of data-movement ops: RESHAPE (free: an alias), PAD, CONCATENATION and MEAN."""

from __future__ import annotations

import numpy as np

from edgeq.engine.ir import (
    ArrayArg,
    KernelCall,
    LiteralArg,
    Lowered,
    LoweringContext,
    ParamsArg,
    PointerListArg,
    TensorArg,
    fused_activation,
)
from edgeq.engine.ops_conv import require_int8
from edgeq.engine.ops_elementwise import MAX_DIMS
from edgeq.engine.quant import quantize_multiplier
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator


def lower_reshape(ctx: LoweringContext, op: Operator) -> Lowered:
    """Same bytes, new shape: the output aliases the input's storage and no code runs."""
    inp, out = op.inputs[0], op.outputs[0]
    if ctx.tensor(inp).nbytes != ctx.tensor(out).nbytes:
        raise UnsupportedOpError(f"RESHAPE from {ctx.tensor(inp).nbytes} to {ctx.tensor(out).nbytes} bytes")
    return Lowered(alias_of=inp)


def _int8_like(ctx: LoweringContext, index: int) -> None:
    t = ctx.tensor(index)
    if t.dtype not in ("int8", "uint8"):
        raise UnsupportedOpError(f"{t.dtype} tensor '{t.name}'")


def lower_pad(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    _int8_like(ctx, inp)
    _int8_like(ctx, out)
    shape = ctx.tensor(inp).shape
    paddings = np.asarray(ctx.constant(op.inputs[1]), dtype=np.int64).reshape(-1, 2)
    if paddings.shape[0] != len(shape) or not 1 <= len(shape) <= MAX_DIMS or (paddings < 0).any():
        raise UnsupportedOpError(f"paddings {paddings.tolist()} for shape {list(shape)}")
    if len(op.inputs) > 2 and op.inputs[2] >= 0:  # PADV2: an explicit constant value
        value = int(np.asarray(ctx.constant(op.inputs[2])).reshape(-1)[0])
    else:
        value = ctx.zero_point(out)
    expected = tuple(int(d + b + a) for d, (b, a) in zip(shape, paddings.tolist(), strict=True))
    if expected != tuple(ctx.tensor(out).shape):
        raise UnsupportedOpError(f"output shape {list(ctx.tensor(out).shape)}, computed {list(expected)}")
    fill = [0] * (MAX_DIMS - len(shape))
    params = [("ndim", len(shape)), ("pad_value", value),
              ("in_dims", [int(d) for d in shape] + fill),
              ("pad_before", [int(b) for b in paddings[:, 0]] + fill),
              ("pad_after", [int(a) for a in paddings[:, 1]] + fill)]
    call = KernelCall("eq_pad_8", (ParamsArg(), TensorArg(inp, "void"), TensorArg(out, "void", writable=True)))
    return Lowered(calls=[call], params_type="eq_pad_params", params=params)


def lower_concatenation(ctx: LoweringContext, op: Operator) -> Lowered:
    out = op.outputs[0]
    inputs = [i for i in op.inputs if i >= 0]
    for i in (*inputs, out):
        _int8_like(ctx, i)
    if fused_activation(op) != "NONE":
        raise UnsupportedOpError(f"CONCATENATION with fused activation {fused_activation(op)}")
    for i in inputs:
        # TFLM's int8 CONCATENATION copies bytes and refuses inputs that would need rescaling.
        if ctx.scale(i) != ctx.scale(out) or ctx.zero_point(i) != ctx.zero_point(out):
            raise UnsupportedOpError("CONCATENATION inputs quantized differently from the output")
    shape = ctx.tensor(out).shape
    axis = int(op.options.axis) if op.options is not None else 0
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape):
        raise UnsupportedOpError(f"axis {axis} for shape {list(shape)}")
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = [int(np.prod(ctx.tensor(i).shape[axis:], dtype=np.int64)) * ctx.tensor(i).itemsize for i in inputs]
    if sum(inner) * outer != ctx.tensor(out).nbytes:
        raise UnsupportedOpError(f"input shapes do not concatenate to {list(shape)}")
    call = KernelCall("eq_concat", (LiteralArg(str(outer)), LiteralArg(str(len(inputs))),
                                    PointerListArg(tuple(TensorArg(i, "void") for i in inputs)),
                                    ArrayArg("inner"), TensorArg(out, "void", writable=True)))
    return Lowered(calls=[call], arrays=[("inner", "int32_t", np.array(inner, np.int32))])


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """The requantization multiplier of an int8 MEAN over `count` values: QuantizeMultiplier of the scale
    ratio, then 1/count folded in with as many extra bits as are safe (TFLite's QuantizedMeanOrSum)."""
    mult, shift = quantize_multiplier(in_scale / out_scale)
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return int((mult << extra) // count), shift - extra


def lower_mean(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    shape = ctx.tensor(inp).shape
    if not 1 <= len(shape) <= MAX_DIMS:
        raise UnsupportedOpError(f"MEAN over a {len(shape)}-D tensor")
    axes = {int(a) + len(shape) if int(a) < 0 else int(a)
            for a in np.asarray(ctx.constant(op.inputs[1])).reshape(-1)}
    if any(not 0 <= a < len(shape) for a in axes):
        raise UnsupportedOpError(f"MEAN axes {sorted(axes)} for shape {list(shape)}")
    count = int(np.prod([shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if ctx.tensor(out).num_elements * count != ctx.tensor(inp).num_elements or count == 0:
        raise UnsupportedOpError(f"MEAN output shape {list(ctx.tensor(out).shape)}")
    mult, shift = mean_multiplier(ctx.scale(inp), ctx.scale(out), count)
    fill = [0] * (MAX_DIMS - len(shape))
    params = [("ndim", len(shape)), ("dims", [int(d) for d in shape] + fill),
              ("reduced", [int(d in axes) for d in range(len(shape))] + fill),
              ("input_zero_point", ctx.zero_point(inp)), ("output_zero_point", ctx.zero_point(out)),
              ("mult", mult), ("shift", shift), ("count", count)]
    call = KernelCall("eq_mean_s8", (ParamsArg(), TensorArg(inp), TensorArg(out, writable=True)))
    return Lowered(calls=[call], params_type="eq_mean_params", params=params)
