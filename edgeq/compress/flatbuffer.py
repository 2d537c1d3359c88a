"""Rewriting a .tflite through the schema module's object API: find the weight tensors, pack with aligned buffers.

Python's flatbuffers ignores the schema's `force_align: 16` on Buffer.data; TFLM's own compression tool
re-aligns with a C++ pass for that reason. Here each buffer is packed as a 16-byte-aligned vector instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.errors import ModelFormatError
from edgeq.tflite.schema import builtin_op_names, schema

BUFFER_ALIGNMENT = 16
# op name -> the operator input that holds the filter (weights) tensor
WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1}


def load(data: bytes) -> Any:
    """The ModelT (object API) of a .tflite flatbuffer."""
    try:
        return schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # the generated code raises whatever a truncated buffer makes it raise
        raise ModelFormatError(f"not a TFLite flatbuffer the schema can read: {exc}") from None


class _AlignedBuffer:
    """A BufferT stand-in whose data vector starts on a 16-byte boundary (schema: force_align 16)."""

    def __init__(self, data: np.ndarray | None) -> None:
        self.data = data

    def Pack(self, builder: Any) -> int:  # noqa: N802 - the object API's method name
        module = schema()
        vector = None
        if self.data is not None and len(self.data):
            raw = np.asarray(self.data, np.uint8).tobytes()
            builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw
            vector = builder.EndVector()
        module.BufferStart(builder)
        if vector is not None:
            module.BufferAddData(builder, vector)
        return module.BufferEnd(builder)


def pack(model: Any) -> bytes:
    """Serialize a ModelT with every buffer's data 16-byte aligned (deterministic: same model, same bytes)."""
    import flatbuffers

    original = model.buffers
    model.buffers = [_AlignedBuffer(b.data) for b in original]
    try:
        size = sum(len(b.data) for b in original if b.data is not None)
        builder = flatbuffers.Builder(size + 65536)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
    finally:
        model.buffers = original


def op_name(model: Any, operator: Any) -> str:
    code = model.operatorCodes[operator.opcodeIndex]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    if builtin == schema().BuiltinOperator.CUSTOM:
        return (code.customCode or b"").decode(errors="replace")
    return builtin_op_names().get(builtin, str(builtin))


@dataclass
class WeightTensor:
    """A constant int8 filter of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, and where it is used."""

    index: int          # tensor index in subgraph 0
    op_index: int       # the operator that reads it
    op: str
    name: str
    axis: int           # the output-channel axis (TFLite's quantized dimension of the filter)
    values: np.ndarray  # int8, the tensor's shape
    per_channel: bool = True  # one scale per output channel (else one for the tensor)

    @property
    def channels(self) -> int:
        return int(self.values.shape[self.axis])


def tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name or "")


def weight_tensors(model: Any) -> tuple[list[WeightTensor], list[tuple[str, str]]]:
    """The rewritable filters of subgraph 0, and (tensor, reason) for filters left as they are."""
    module = schema()
    graph = model.subgraphs[0]
    readers: dict[int, int] = {}
    for operator in graph.operators:
        for i in operator.inputs if operator.inputs is not None else []:
            readers[int(i)] = readers.get(int(i), 0) + 1
    buffer_users: dict[int, int] = {}
    for tensor in graph.tensors:
        buffer_users[tensor.buffer] = buffer_users.get(tensor.buffer, 0) + 1
    found, skipped = [], []
    for position, operator in enumerate(graph.operators):
        name = op_name(model, operator)
        slot = WEIGHT_OPS.get(name)
        if slot is None or operator.inputs is None or len(operator.inputs) <= slot:
            continue
        index = int(operator.inputs[slot])
        tensor = graph.tensors[index]
        label = tensor_name(tensor)
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is None or not len(data):
            skipped.append((label, f"{name} filter is not a constant"))
        elif tensor.type != module.TensorType.INT8:
            skipped.append((label, f"{name} filter is not int8"))
        elif readers.get(index, 0) > 1 or buffer_users.get(tensor.buffer, 0) > 1:
            skipped.append((label, "the filter's data is shared with another tensor or operator"))
        else:
            quant = tensor.quantization
            axis = int(quant.quantizedDimension) if quant is not None else 0
            shape = tuple(int(d) for d in tensor.shape)
            values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.int8).reshape(shape)
            per_channel = quant is not None and quant.scale is not None and len(quant.scale) > 1
            found.append(WeightTensor(index, position, name, label, axis, values.copy(), per_channel))
    return found, skipped


def set_buffer(model: Any, tensor: Any, data: bytes) -> None:
    """Point `tensor` at a new buffer holding `data` (its old buffer is left empty when nothing else reads it)."""
    module = schema()
    buffer = module.BufferT()
    buffer.data = np.frombuffer(data, np.uint8).copy()
    if tensor.buffer:
        model.buffers[tensor.buffer] = buffer
    else:
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
