"""Packed filters in the compiled-C engine: TFLM_DECODE (LUT) and kTfLiteInt4 weights decoded inside the kernels.

A TFLM_DECODE op becomes no code: its output shares the encoded constant's bytes (nothing in the arena). Its
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED consumer, and one whose filter is int4, is lowered as the int8
kernel would be (same parameters and multipliers, from the decoded values) but calls the eq_packed.c variant,
which decodes one output channel's weights at a time into a scratch buffer in the arena. Those kernels are
portable C on every core: a DSP-extension core runs them too (no DSP variant yet).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgeq.engine import ops_conv
from edgeq.engine.ir import (
    ArrayArg,
    ArrayRef,
    KernelCall,
    Lowered,
    LoweringContext,
    ParamsArg,
    ScratchArg,
    StructArg,
    TensorArg,
)
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator

DECODE_OP = "TFLM_DECODE"
KIND_LUT, KIND_INT4 = 0, 1
_LOWERINGS = {"CONV_2D": (ops_conv.lower_conv_2d, "eq_conv_s8", "eq_conv_packed_s8"),
              "DEPTHWISE_CONV_2D": (ops_conv.lower_depthwise_conv_2d, "eq_dwconv_s8", "eq_dwconv_packed_s8"),
              "FULLY_CONNECTED": (ops_conv.lower_fully_connected, "eq_fc_s8", "eq_fc_packed_s8")}
PACKED_OPS = frozenset(_LOWERINGS)


@dataclass(frozen=True)
class PackedFilter:
    kind: int
    data: np.ndarray      # uint8: packed indices or nibbles
    tables: np.ndarray | None  # int8 value tables (LUT)
    bits: int
    stride: int
    per_channel: int
    values: np.ndarray    # the decoded int8 filter (for the parameters the int8 lowering derives)


def _producer(ctx: LoweringContext, index: int) -> Operator | None:
    return next((op for op in ctx.subgraph.operators if index in op.outputs), None)


def packed_filter(ctx: LoweringContext, index: int) -> PackedFilter | None:
    """The packed form of a filter tensor, or None for a plain int8 one."""
    from edgeq.compress.int4 import unpack_int4
    from edgeq.compress.lut import DCM_SIZE, DECODE_TYPE_LUT, PER_TENSOR_AXIS, decode

    tensor = ctx.tensor(index)
    if tensor.dtype == "int4":
        raw = np.frombuffer(np.asarray(ctx.constant(index)).tobytes(), np.uint8)
        values = unpack_int4(raw.tobytes(), tensor.num_elements).reshape(tensor.shape)
        return PackedFilter(KIND_INT4, raw, None, 4, 0, 0, values)
    producer = _producer(ctx, index)
    if producer is None or producer.opcode != DECODE_OP:
        return None
    encoded, ancillary = (np.frombuffer(np.asarray(ctx.constant(i)).tobytes(), np.uint8) for i in producer.inputs)
    if ancillary.size < DCM_SIZE or ancillary[0] != DECODE_TYPE_LUT or ancillary[1] != 1:
        raise UnsupportedOpError(f"TFLM_DECODE of '{tensor.name}': decode type {int(ancillary[0])} (the engine "
                                 "decodes LUT, type 0, version 1)")
    if tensor.dtype != "int8":
        raise UnsupportedOpError(f"TFLM_DECODE to a {tensor.dtype} tensor '{tensor.name}'")
    values = decode(encoded.tobytes(), ancillary.tobytes(), tensor.shape)
    axis = int(ancillary[5]) >> 4
    return PackedFilter(KIND_LUT, encoded, ancillary[DCM_SIZE:].view(np.int8), int(ancillary[5]) & 0x07,
                        int(ancillary[6]), int(axis != PER_TENSOR_AXIS), values)


def lower_decode(ctx: LoweringContext, op: Operator) -> Lowered:
    """TFLM_DECODE: no code; the decoded tensor is read packed by its consumer's kernel."""
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise UnsupportedOpError(f"{len(op.inputs) // 2} tensors in one TFLM_DECODE (the engine takes one)")
    out = op.outputs[0]
    for consumer in ctx.subgraph.operators:
        if out in consumer.inputs and (consumer.opcode not in PACKED_OPS or list(consumer.inputs).index(out) != 1):
            raise UnsupportedOpError(f"a TFLM_DECODE output read by {consumer.opcode} (op {consumer.index}) other "
                                     "than as a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED filter")
    packed_filter(ctx, out)  # the format is checked here, once
    return Lowered(alias_of=op.inputs[0])


def lower_packed(ctx: LoweringContext, op: Operator) -> Lowered | None:
    """The packed-filter lowering of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, None for an int8 filter."""
    if op.opcode not in _LOWERINGS or len(op.inputs) < 2:
        return None
    packed = packed_filter(ctx, op.inputs[1])
    if packed is None:
        return None
    filt = op.inputs[1]
    tensors = list(ctx.subgraph.tensors)
    tensors[filt] = dataclasses.replace(tensors[filt], dtype="int8", data=packed.values)
    view = LoweringContext(dataclasses.replace(ctx.subgraph, tensors=tuple(tensors)), dsp=False)
    lower, plain, function = _LOWERINGS[op.opcode]
    base = lower(view, op)
    if len(base.calls) != 1 or base.calls[0].function != plain:
        raise UnsupportedOpError(f"a packed filter for the {base.calls[0].function} kernel")
    args = base.calls[0].args  # (params, input, filter, bias, filter sums, mult, shift, output)
    call = KernelCall(function, (ParamsArg(), args[1], StructArg("wfilter"), args[3], ArrayArg("mult"),
                                 ArrayArg("shift"), args[7], ScratchArg("int8_t")))
    params = dict(base.params)
    scratch = (params["k_h"] * params["k_w"] * params.get("filter_in_c", 1) if "k_h" in params
               else params["depth"])
    arrays = [a for a in base.arrays if a[0] in ("mult", "shift")] + [("wdata", "uint8_t", packed.data)]
    if packed.tables is not None:
        arrays.append(("wlut", "int8_t", packed.tables))
    fields = [("kind", packed.kind), ("bits", packed.bits), ("stride", packed.stride),
              ("per_channel", packed.per_channel), ("data", ArrayRef("wdata")),
              ("tables", ArrayRef("wlut" if packed.tables is not None else None))]
    # The kernels write the output channel by channel: no overlap with the input (base.overlap is dropped).
    return Lowered(calls=[call], params_type=base.params_type, params=base.params, arrays=arrays,
                   structs=[("wfilter", "eq_packed_filter", fields)], scratch_bytes=int(scratch),
                   headers=("eq_kernels.h", "eq_packed.h"))


__all__ = ["PACKED_OPS", "TensorArg", "lower_decode", "lower_packed", "packed_filter"]
