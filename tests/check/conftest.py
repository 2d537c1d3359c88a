"""Small .tflite models built directly with the official schema's object API (no TensorFlow, milliseconds).

They are real TFLite flatbuffers the TFLM interpreter runs; the tests use them where the exact size of a
tensor or an exact op matters (a model too big for a board, an op TFLM lacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest


@dataclass
class T:
    """A tensor for `build_tflite`: data=None makes it an activation."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    data: np.ndarray | None = None
    name: str = ""
    axis: int = 0


@dataclass
class Op:
    """An operator for `build_tflite`: a builtin name (or custom code when custom=True)."""

    name: str
    inputs: list[int]
    outputs: list[int]
    options: Any = None
    custom: bool = False
    intermediates: list[int] = field(default_factory=list)


def build_tflite(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    """Pack a single-subgraph TFLite model with the schema module's object API."""
    import flatbuffers

    from edgeq.tflite.schema import schema

    fb = schema()
    model = fb.ModelT()
    model.version = 3
    model.buffers = [fb.BufferT()]
    codes: list[tuple[str, bool]] = []
    for op in ops:
        if (op.name, op.custom) not in codes:
            codes.append((op.name, op.custom))
    model.operatorCodes = []
    for name, custom in codes:
        code = fb.OperatorCodeT()
        if custom:
            code.builtinCode = fb.BuiltinOperator.CUSTOM
            code.customCode = name.encode()
        else:
            code.builtinCode = getattr(fb.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
    sg = fb.SubGraphT()
    sg.tensors = []
    for i, t in enumerate(tensors):
        tensor = fb.TensorT()
        tensor.shape = np.asarray(t.shape, dtype=np.int32)
        tensor.type = getattr(fb.TensorType, t.dtype.upper())
        tensor.name = (t.name or f"t{i}").encode()
        tensor.buffer = 0
        if t.data is not None:
            buffer = fb.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(t.data).tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            tensor.buffer = len(model.buffers) - 1
        if t.scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = np.asarray(t.scale, dtype=np.float32)
            q.zeroPoint = np.asarray(t.zero_point or [0] * len(t.scale), dtype=np.int64)
            q.quantizedDimension = t.axis
            tensor.quantization = q
        sg.tensors.append(tensor)
    sg.inputs = np.asarray(inputs, dtype=np.int32)
    sg.outputs = np.asarray(outputs, dtype=np.int32)
    sg.operators = []
    for op in ops:
        operator = fb.OperatorT()
        operator.opcodeIndex = codes.index((op.name, op.custom))
        operator.inputs = np.asarray(op.inputs, dtype=np.int32)
        operator.outputs = np.asarray(op.outputs, dtype=np.int32)
        if op.intermediates:
            operator.intermediates = np.asarray(op.intermediates, dtype=np.int32)
        if op.options is not None:
            operator.builtinOptionsType = getattr(fb.BuiltinOptions, type(op.options).__name__[:-1])
            operator.builtinOptions = op.options
        sg.operators.append(operator)
    model.subgraphs = [sg]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def fully_connected_int8(units: int, depth: int, seed: int = 0) -> bytes:
    """input [1, depth] int8 -> FULLY_CONNECTED (weights [units, depth]) -> [1, units] int8."""
    from edgeq.tflite.schema import schema

    rng = np.random.default_rng(seed)
    weights = rng.integers(-127, 128, (units, depth), dtype=np.int8)
    bias = rng.integers(-1000, 1000, units, dtype=np.int32)
    options = schema().FullyConnectedOptionsT()
    tensors = [T((1, depth), scale=[0.02], zero_point=[-3], name="input"),
               T((units, depth), scale=[0.01], data=weights, name="weights"),
               T((units,), "int32", scale=[0.0002], data=bias, name="bias"),
               T((1, units), scale=[0.5], zero_point=[2], name="output")]
    return build_tflite(tensors, [Op("FULLY_CONNECTED", [0, 1, 2], [3], options)], [0], [3])


def conv_1x1_int8(height: int, width: int, channels_in: int, channels_out: int, seed: int = 0) -> bytes:
    """input [1, H, W, Cin] int8 -> 1x1 CONV_2D -> [1, H, W, Cout] int8 (big activations, tiny weights)."""
    from edgeq.tflite.schema import schema

    rng = np.random.default_rng(seed)
    filters = rng.integers(-127, 128, (channels_out, 1, 1, channels_in), dtype=np.int8)
    bias = rng.integers(-100, 100, channels_out, dtype=np.int32)
    options = schema().Conv2DOptionsT()
    options.strideW = options.strideH = 1
    options.padding = schema().Padding.SAME
    tensors = [T((1, height, width, channels_in), scale=[0.05], zero_point=[1], name="image"),
               T((channels_out, 1, 1, channels_in), scale=[0.01] * channels_out, zero_point=[0] * channels_out,
                 data=filters, name="filters"),
               T((channels_out,), "int32", scale=[0.0005] * channels_out, zero_point=[0] * channels_out,
                 data=bias, name="bias"),
               T((1, height, width, channels_out), scale=[0.1], zero_point=[-5], name="features")]
    return build_tflite(tensors, [Op("CONV_2D", [0, 1, 2], [3], options)], [0], [3])


@pytest.fixture(scope="session")
def tflite_builder():
    """The builder helpers: .build(tensors, ops, inputs, outputs), .T, .Op, .fully_connected, .conv_1x1."""
    class Builder:
        build = staticmethod(build_tflite)
        fully_connected = staticmethod(fully_connected_int8)
        conv_1x1 = staticmethod(conv_1x1_int8)

    Builder.T = T
    Builder.Op = Op
    return Builder
