"""Lowering of element-wise ops: ADD, SUB, MUL (with broadcasting), RELU, RELU6, QUANTIZE, DEQUANTIZE,
and the fixed-point nonlinearities SOFTMAX, LOGISTIC, TANH (parameters from edgeq.engine.nonlinear).
"""

from __future__ import annotations

from collections.abc import Callable

from edgeq.engine.ir import (
    CFloat,
    KernelCall,
    LiteralArg,
    Lowered,
    LoweringContext,
    ParamsArg,
    StructArg,
    TensorArg,
)
from edgeq.engine.nonlinear import logistic_params, softmax_params, tanh_params
from edgeq.engine.ops_conv import activation_bounds, require_int8
from edgeq.engine.quant import f32_div, quantize_multiplier, round_half_away
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator, Tensor

MAX_DIMS = 6
_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def broadcast_strides(out_shape: tuple[int, ...], a: tuple[int, ...],
                      b: tuple[int, ...]) -> tuple[list[int], list[int], list[int]] | None:
    """(dims, strides of a, strides of b) over the output dims, with adjacent dims merged where both
    inputs step alike; None when neither input broadcasts."""
    if tuple(a) == tuple(out_shape) and tuple(b) == tuple(out_shape):
        return None
    rank = len(out_shape)
    if len(a) > rank or len(b) > rank:
        raise UnsupportedOpError(f"input shapes {list(a)} and {list(b)} for output {list(out_shape)}")

    def strides(shape: tuple[int, ...]) -> list[int]:
        full = (1,) * (rank - len(shape)) + tuple(shape)
        result, step = [0] * rank, 1
        for d in range(rank - 1, -1, -1):
            if full[d] == out_shape[d]:
                result[d] = step if out_shape[d] > 1 else 0
            elif full[d] != 1:
                raise UnsupportedOpError(f"shape {list(shape)} does not broadcast to {list(out_shape)}")
            step *= full[d]
        return result

    sa, sb = strides(tuple(a)), strides(tuple(b))
    dims: list[int] = []
    s1: list[int] = []
    s2: list[int] = []
    for d in range(rank):
        if out_shape[d] == 1:
            continue
        # Merge into the previous dim when both inputs are contiguous (or both fixed) across them.
        if dims and s1[-1] == sa[d] * out_shape[d] and s2[-1] == sb[d] * out_shape[d]:
            dims[-1] *= out_shape[d]
            s1[-1], s2[-1] = sa[d], sb[d]
            continue
        dims.append(out_shape[d])
        s1.append(sa[d])
        s2.append(sb[d])
    if not dims:
        dims, s1, s2 = [1], [0], [0]
    if len(dims) > MAX_DIMS:
        raise UnsupportedOpError(f"broadcast over {len(dims)} dimensions (at most {MAX_DIMS})")
    return dims, s1, s2


def _binary(ctx: LoweringContext, op: Operator, function: str, params_type: str,
            params: list) -> Lowered:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    shape = ctx.tensor(out).shape
    plan = broadcast_strides(shape, ctx.tensor(a).shape, ctx.tensor(b).shape)
    structs = []
    broadcast_arg: StructArg | LiteralArg = LiteralArg("NULL")
    if plan is not None:
        dims, s1, s2 = plan
        fill = [0] * (MAX_DIMS - len(dims))
        structs = [("broadcast", "eq_broadcast", [("ndim", len(dims)), ("dims", dims + fill),
                                                  ("stride1", s1 + fill), ("stride2", s2 + fill)])]
        broadcast_arg = StructArg("broadcast")
    call = KernelCall(function, (ParamsArg(), broadcast_arg, LiteralArg(str(ctx.tensor(out).num_elements)),
                                 TensorArg(a), TensorArg(b), TensorArg(out, writable=True)))
    # Only an input with the output's own shape is read at the index being written.
    same = [i for i in (a, b) if tuple(ctx.tensor(i).shape) == tuple(shape)]
    return Lowered(calls=[call], params_type=params_type, params=params,
                   structs=structs, inplace_input=same[0] if same else None)


def _add_sub(ctx: LoweringContext, op: Operator, function: str) -> Lowered:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, a, b, out)
    s1, s2, so = ctx.scale(a), ctx.scale(b), ctx.scale(out)
    left_shift = 20
    # ADD and SUB alike, in double (SUB's source reads as float32 arithmetic; the interpreter rounds like
    # double, see tests/engine/engine_ties.py).
    twice_max = 2.0 * max(s1, s2)
    real = (s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * so))
    (m1, sh1), (m2, sh2), (mo, sho) = (quantize_multiplier(r) for r in real)
    act_min, act_max = activation_bounds(ctx, op, out)
    params = [
        ("input1_offset", -ctx.zero_point(a)), ("input2_offset", -ctx.zero_point(b)),
        ("output_offset", ctx.zero_point(out)), ("left_shift", left_shift),
        ("input1_mult", m1), ("input1_shift", sh1), ("input2_mult", m2), ("input2_shift", sh2),
        ("output_mult", mo), ("output_shift", sho), ("act_min", act_min), ("act_max", act_max),
    ]
    return _binary(ctx, op, function, "eq_add_params", params)


def lower_add(ctx: LoweringContext, op: Operator) -> Lowered:
    return _add_sub(ctx, op, "eq_add_s8")


def lower_sub(ctx: LoweringContext, op: Operator) -> Lowered:
    return _add_sub(ctx, op, "eq_sub_s8")


def lower_mul(ctx: LoweringContext, op: Operator) -> Lowered:
    a, b, out = op.inputs[0], op.inputs[1], op.outputs[0]
    require_int8(ctx, op, a, b, out)
    mult, shift = quantize_multiplier(ctx.scale(a) * ctx.scale(b) / ctx.scale(out))
    act_min, act_max = activation_bounds(ctx, op, out)
    params = [
        ("input1_offset", -ctx.zero_point(a)), ("input2_offset", -ctx.zero_point(b)),
        ("output_offset", ctx.zero_point(out)), ("output_mult", mult), ("output_shift", shift),
        ("act_min", act_min), ("act_max", act_max),
    ]
    return _binary(ctx, op, "eq_mul_s8", "eq_mul_params", params)


def _requantize(ctx: LoweringContext, op: Operator, real: float, act: tuple[int, int]) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    mult, shift = quantize_multiplier(real)
    params = [
        ("input_offset", ctx.zero_point(inp)), ("output_offset", ctx.zero_point(out)),
        ("mult", mult), ("shift", shift), ("act_min", act[0]), ("act_max", act[1]),
        ("input_unsigned", int(ctx.tensor(inp).dtype == "uint8")),
        ("output_unsigned", int(ctx.tensor(out).dtype == "uint8")),
    ]
    n = ctx.tensor(out).num_elements
    call = KernelCall("eq_requantize_8", (ParamsArg(), LiteralArg(str(n)), TensorArg(inp, "void"),
                                          TensorArg(out, "void", writable=True)))
    return Lowered(calls=[call], params_type="eq_requant_params", params=params, inplace_input=inp)


def lower_relu(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    # The scale ratio in double (as for SUB, the source's float division is not what the interpreter does).
    real = ctx.scale(inp) / ctx.scale(out)
    low = max(-128, ctx.zero_point(out))
    return _requantize(ctx, op, real, (low, 127))


def lower_relu6(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    zero = ctx.zero_point(inp)
    six = round_half_away(f32_div(6.0, ctx.scale(inp))) + zero
    if not -128 <= six <= 127:
        raise UnsupportedOpError(f"6.0 is not representable in the input's int8 range (would be {six})")
    n = ctx.tensor(out).num_elements
    call = KernelCall("eq_clamp_s8", (TensorArg(inp), TensorArg(out, writable=True), LiteralArg(str(n)),
                                      LiteralArg(str(zero)), LiteralArg(str(six))))
    return Lowered(calls=[call], inplace_input=inp)


def lower_quantize(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    tin, tout = ctx.tensor(inp), ctx.tensor(out)
    if tout.dtype not in _INT_RANGES or tout.quantization is None:
        raise UnsupportedOpError(f"QUANTIZE to {tout.dtype}")
    if tout.quantization.per_channel:
        raise UnsupportedOpError("per-channel QUANTIZE")
    qmin, qmax = _INT_RANGES[tout.dtype]
    if tin.dtype == "float32":
        if tout.dtype != "int8":
            raise UnsupportedOpError(f"QUANTIZE from float32 to {tout.dtype} (TFLM has no such kernel)")
        params = [("scale", CFloat(ctx.scale(out))), ("zero_point", ctx.zero_point(out)),
                  ("qmin", qmin), ("qmax", qmax), ("output_unsigned", int(tout.dtype == "uint8"))]
        call = KernelCall("eq_quantize_f32", (ParamsArg(), LiteralArg(str(tout.num_elements)),
                                              TensorArg(inp, "float"), TensorArg(out, "void", writable=True)))
        return Lowered(calls=[call], params_type="eq_quantize_params", params=params)
    if tin.dtype in _INT_RANGES and tin.quantization is not None:
        return _requantize(ctx, op, ctx.scale(inp) / ctx.scale(out), (qmin, qmax))
    raise UnsupportedOpError(f"QUANTIZE from {tin.dtype}")


def lower_dequantize(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    tin, tout = ctx.tensor(inp), ctx.tensor(out)
    if tin.dtype not in _INT_RANGES or tout.dtype != "float32" or tin.quantization is None:
        raise UnsupportedOpError(f"DEQUANTIZE from {tin.dtype} to {tout.dtype}")
    params = [("scale", CFloat(ctx.scale(inp), double=True)), ("zero_point", ctx.zero_point(inp)),
              ("input_unsigned", int(tin.dtype == "uint8"))]
    call = KernelCall("eq_dequantize_f32", (ParamsArg(), LiteralArg(str(tout.num_elements)),
                                            TensorArg(inp, "void"), TensorArg(out, "float", writable=True)))
    return Lowered(calls=[call], params_type="eq_dequantize_params", params=params)


def _fields(values: dict[str, int]) -> list[tuple[str, int]]:
    """A parameter dict from edgeq.engine.nonlinear as the struct's (field, value) list."""
    return [(str(k), int(v)) for k, v in values.items()]


def lower_softmax(ctx: LoweringContext, op: Operator) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    shape = ctx.tensor(inp).shape
    depth = shape[-1] if shape else 1
    rows = ctx.tensor(inp).num_elements // max(depth, 1)
    beta = float(op.options.beta) if op.options is not None else 1.0
    params = _fields(softmax_params(ctx.tensor(inp), ctx.tensor(out), beta))
    call = KernelCall("eq_softmax_s8", (TensorArg(inp), TensorArg(out, writable=True), LiteralArg(str(rows)),
                                        LiteralArg(str(depth)), ParamsArg()))
    # eq_nonlinear.c documents `out` aliasing `in` as safe for all three kernels.
    return Lowered(calls=[call], params_type="eq_softmax_params", params=params,
                   headers=("eq_nonlinear.h",), inplace_input=inp)


def _pointwise_nonlinear(ctx: LoweringContext, op: Operator, name: str,
                         params_of: Callable[[Tensor, Tensor], dict[str, int]]) -> Lowered:
    inp, out = op.inputs[0], op.outputs[0]
    require_int8(ctx, op, inp, out)
    params = _fields(params_of(ctx.tensor(inp), ctx.tensor(out)))
    call = KernelCall(f"eq_{name}_s8", (TensorArg(inp), TensorArg(out, writable=True),
                                        LiteralArg(str(ctx.tensor(inp).num_elements)), ParamsArg()))
    return Lowered(calls=[call], params_type=f"eq_{name}_params", params=params, headers=("eq_nonlinear.h",),
                   inplace_input=inp)


def lower_logistic(ctx: LoweringContext, op: Operator) -> Lowered:
    return _pointwise_nonlinear(ctx, op, "logistic", logistic_params)


def lower_tanh(ctx: LoweringContext, op: Operator) -> Lowered:
    return _pointwise_nonlinear(ctx, op, "tanh", tanh_params)

