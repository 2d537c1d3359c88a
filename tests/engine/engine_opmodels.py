"""Single-op TFLite models built directly as flatbuffers, with randomized shapes and quantization.

Writing the flatbuffer ourselves (through the official schema's object API) gives full control over
strides, paddings, dilations, activations, zero points and per-channel scales, and costs microseconds
instead of a TF conversion each. The TFLM interpreter is the judge of what these models compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.schema import schema

_TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int8": 9}
_NP = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "int64": np.int64, "int8": np.int8}
ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


@dataclass
class Graph:
    """A tiny graph under construction: tensors (with optional constant data), one or more ops."""

    tensors: list[dict[str, Any]] = field(default_factory=list)
    ops: list[tuple[str, list[int], list[int], str, Any]] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def tensor(self, shape, dtype: str = "int8", scale=None, zero_point=None, data=None,
               quantized_dimension: int = 0) -> int:
        self.tensors.append({"shape": list(shape), "dtype": dtype, "scale": scale, "zero_point": zero_point,
                             "data": data, "qdim": quantized_dimension})
        return len(self.tensors) - 1

    def op(self, opcode: str, inputs: list[int], outputs: list[int], options_type: str = "",
           options: Any = None) -> None:
        self.ops.append((opcode, inputs, outputs, options_type, options))

    def build(self) -> TFLiteModel:
        return read_model(_pack(self))


def _pack(graph: Graph) -> bytes:
    s = schema()
    model = s.ModelT()
    model.version = 3
    model.description = b"edgeq engine test"
    codes: list[str] = []
    buffers = [s.BufferT()]
    tensors = []
    for i, t in enumerate(graph.tensors):
        tt = s.TensorT()
        tt.shape = np.array(t["shape"], dtype=np.int32)
        tt.type = _TYPES[t["dtype"]]
        tt.name = f"t{i}".encode()
        if t["scale"] is not None:
            q = s.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(t["scale"], np.float32)).tolist()
            zp = t["zero_point"] if t["zero_point"] is not None else 0
            q.zeroPoint = np.broadcast_to(np.atleast_1d(np.asarray(zp, np.int64)), (len(q.scale),)).tolist()
            q.quantizedDimension = t["qdim"]
            tt.quantization = q
        if t["data"] is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(t["data"], dtype=_NP[t["dtype"]]).tobytes(),
                                        dtype=np.uint8).tolist()
            buffers.append(buffer)
            tt.buffer = len(buffers) - 1
        tensors.append(tt)
    operators = []
    for opcode, inputs, outputs, options_type, options in graph.ops:
        if opcode not in codes:
            codes.append(opcode)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(opcode)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if options_type:
            o.builtinOptionsType = getattr(s.BuiltinOptions, options_type)
            o.builtinOptions = options
        operators.append(o)
    op_codes = []
    for name in codes:
        code = s.OperatorCodeT()
        value = getattr(s.BuiltinOperator, name)
        code.builtinCode = value
        code.deprecatedBuiltinCode = min(value, 127)
        code.version = 1
        op_codes.append(code)
    sub = s.SubGraphT()
    sub.tensors, sub.operators = tensors, operators
    sub.inputs, sub.outputs = list(graph.inputs), list(graph.outputs)
    sub.name = b"main"
    model.operatorCodes, model.subgraphs, model.buffers = op_codes, [sub], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def options(name: str, **fields: Any) -> Any:
    obj = getattr(schema(), name + "T")()
    for key, value in fields.items():
        setattr(obj, key, value)
    return obj
