"""The engine's op registry and the lowering of a whole model, with one error naming every unsupported op."""

from __future__ import annotations

from collections.abc import Callable

from edgeq.engine import ops_conv, ops_dsp, ops_elementwise, ops_packed, ops_shape
from edgeq.engine.ir import Lowered, Lowering, LoweringContext
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator, TFLiteModel

LOWERINGS: dict[str, Lowering] = {
    "CONV_2D": ops_conv.lower_conv_2d,
    "DEPTHWISE_CONV_2D": ops_conv.lower_depthwise_conv_2d,
    "FULLY_CONNECTED": ops_conv.lower_fully_connected,
    "AVERAGE_POOL_2D": ops_conv.lower_average_pool_2d,
    "MAX_POOL_2D": ops_conv.lower_max_pool_2d,
    "ADD": ops_elementwise.lower_add,
    "SUB": ops_elementwise.lower_sub,
    "MUL": ops_elementwise.lower_mul,
    "RELU": ops_elementwise.lower_relu,
    "RELU6": ops_elementwise.lower_relu6,
    "QUANTIZE": ops_elementwise.lower_quantize,
    "DEQUANTIZE": ops_elementwise.lower_dequantize,
    "SOFTMAX": ops_elementwise.lower_softmax,
    "LOGISTIC": ops_elementwise.lower_logistic,
    "TANH": ops_elementwise.lower_tanh,
    "RESHAPE": ops_shape.lower_reshape,
    "SQUEEZE": ops_shape.lower_reshape,
    "EXPAND_DIMS": ops_shape.lower_reshape,
    "PAD": ops_shape.lower_pad,
    "PADV2": ops_shape.lower_pad,
    "CONCATENATION": ops_shape.lower_concatenation,
    "MEAN": ops_shape.lower_mean,
    ops_packed.DECODE_OP: ops_packed.lower_decode,
}

# Kernels for cores with the DSP extension; a lowering returns None where its kernel does not apply.
DSP_LOWERINGS: dict[str, Callable[[LoweringContext, Operator], Lowered | None]] = {
    "CONV_2D": ops_dsp.lower_conv_2d,
    "DEPTHWISE_CONV_2D": ops_dsp.lower_depthwise_conv_2d,
    "FULLY_CONNECTED": ops_dsp.lower_fully_connected,
    "ADD": ops_dsp.lower_add,
}

_HINT = "use --runtime tflm for this model"


def supported_ops() -> frozenset[str]:
    """The TFLite builtin ops the compiled-C engine generates code for (int8 variants); it also reads the
    TFLM_DECODE custom op (LUT-compressed filters, see ops_packed)."""
    return frozenset(name for name in LOWERINGS if name != ops_packed.DECODE_OP)


def lower_model(model: TFLiteModel, dsp: bool = False) -> list[tuple[Operator, Lowered]]:
    """Lower every operator of the main subgraph (for the DSP-extension kernels with `dsp`);
    UnsupportedOpError lists all that cannot be."""
    if len(model.subgraphs) > 1:
        raise UnsupportedOpError(f"the compiled-C engine runs single-subgraph models; this one has "
                                 f"{len(model.subgraphs)} (control flow); {_HINT}")
    subgraph = model.main
    ctx = LoweringContext(subgraph, dsp=dsp)
    first: dict[str, int] = {}
    for op in subgraph.operators:
        if op.opcode not in LOWERINGS:
            first.setdefault(op.opcode, op.index)
    if first:
        listed = ", ".join(f"{name} (op {index})" for name, index in sorted(first.items()))
        raise UnsupportedOpError(f"the compiled-C engine does not support {listed}; {_HINT}")
    lowered, problems = [], []
    for op in subgraph.operators:
        try:
            fast = ops_packed.lower_packed(ctx, op)  # packed (LUT / int4) filters: the eq_packed kernels
            if fast is None and dsp and op.opcode in DSP_LOWERINGS:
                fast = DSP_LOWERINGS[op.opcode](ctx, op)
            lowered.append((op, fast if fast is not None else LOWERINGS[op.opcode](ctx, op)))
        except UnsupportedOpError as exc:
            problems.append(f"op {op.index} {op.opcode}: {exc}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnsupportedOpError(f"the compiled-C engine cannot generate {'; '.join(problems[:3])}{more}; {_HINT}")
    return lowered
