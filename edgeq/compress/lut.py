"""TFLM's LUT compression, new format: TFLM_DECODE custom ops (tflite-micro's compression/decode.py, lut.py).

An encoded tensor (uint8, packed b-bit indices, most significant bit first, in the tensor's element order) and an
ancillary tensor (uint8) feed a `TFLM_DECODE` op placed right before the consumer; its output, a copy of the
original tensor without data, is what the consumer reads. The ancillary tensor is a 16-byte DECODE Common
Metadata header -- byte 0 decode type (0 = LUT), byte 1 its version (1), byte 4 the LUT version (1), byte 5
(channel axis << 4) | bitwidth, byte 6 the value-table stride -- followed by one value table per channel,
`stride` entries each (the longest table's length; shorter ones padded with zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.compress.flatbuffer import WeightTensor, set_buffer, tensor_name
from edgeq.errors import ModelFormatError
from edgeq.tflite.schema import schema

DECODE_OP = "TFLM_DECODE"
DCM_SIZE = 16
DECODE_TYPE_LUT = 0
DCM_VERSION = 1
LUT_VERSION = 1
PER_TENSOR_AXIS = 0xF


@dataclass(frozen=True)
class LutEncoding:
    """One tensor's LUT form: packed indices and the ancillary data (header + value tables)."""

    indices: bytes
    ancillary: bytes
    bits: int
    axis: int
    stride: int


def pack_indices(indices: np.ndarray, bits: int) -> bytes:
    """b-bit fields, most significant bit first, zero-padded to whole bytes: ceil(n * b / 8) bytes."""
    flat = indices.astype(np.int64).ravel()
    fields = (flat[:, None] >> np.arange(bits - 1, -1, -1)[None, :]) & 1
    return np.packbits(fields.astype(np.uint8).ravel()).tobytes()


def unpack_indices(data: bytes, bits: int, count: int) -> np.ndarray:
    """The inverse of pack_indices for `count` indices."""
    fields = np.unpackbits(np.frombuffer(data, np.uint8))[:count * bits].reshape(count, bits).astype(np.int64)
    return (fields << np.arange(bits - 1, -1, -1)[None, :]).sum(axis=1)


def encode(values: np.ndarray, axis: int | None, bits: int) -> LutEncoding:
    """LUT-encode an int8 tensor whose slices along `axis` take at most 2^bits values each (axis None: one
    table). TFLM takes the number of tables from the decoded tensor's quantization (one per scale), so a
    per-tensor quantized filter must have one table and a per-channel one a table per channel."""
    if axis is None:
        table, inverse = np.unique(values, return_inverse=True)
        if table.size > 1 << bits:
            raise ModelFormatError(f"the tensor has {table.size} distinct values: more than 2^{bits}")
        return LutEncoding(pack_indices(inverse.reshape(values.shape), bits),
                           _header(PER_TENSOR_AXIS, bits, table.size) + table.astype(np.int8).tobytes(),
                           bits, PER_TENSOR_AXIS, int(table.size))
    if axis not in (0, values.ndim - 1):
        raise ModelFormatError(f"LUT channel axis {axis} of a rank-{values.ndim} tensor: TFLM decodes axis 0 or "
                               "the last axis only")
    moved = np.moveaxis(values, axis, 0)
    tables, indices = [], np.empty(moved.shape, np.int64)
    for channel in range(moved.shape[0]):
        table, inverse = np.unique(moved[channel], return_inverse=True)
        if table.size > 1 << bits:
            raise ModelFormatError(f"channel {channel} has {table.size} distinct values: more than 2^{bits}")
        tables.append(table.astype(np.int8))
        indices[channel] = inverse.reshape(moved.shape[1:])
    stride = max(t.size for t in tables)
    packed_tables = b"".join(np.pad(t, (0, stride - t.size)).astype(np.int8).tobytes() for t in tables)
    return LutEncoding(pack_indices(np.moveaxis(indices, 0, axis), bits),
                       _header(axis, bits, stride) + packed_tables, bits, axis, stride)


def _header(axis: int, bits: int, stride: int) -> bytes:
    header = bytearray(DCM_SIZE)
    header[0], header[1] = DECODE_TYPE_LUT, DCM_VERSION
    header[4], header[5], header[6] = LUT_VERSION, ((axis & 0x0F) << 4) | (bits & 0x07), stride
    return bytes(header)


def decode(indices: bytes, ancillary: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The int8 tensor a LUT encoding stands for (what TFLM_DECODE writes into its output)."""
    if len(ancillary) < DCM_SIZE or ancillary[0] != DECODE_TYPE_LUT:
        raise ModelFormatError("not LUT ancillary data")
    axis, bits, stride = ancillary[5] >> 4, ancillary[5] & 0x07, ancillary[6]
    tables = np.frombuffer(ancillary[DCM_SIZE:], np.int8)
    count = int(np.prod(shape))
    flat = unpack_indices(indices, bits, count)
    if axis == PER_TENSOR_AXIS:
        return tables[flat].reshape(shape)
    channels = shape[axis]
    inner = int(np.prod(shape[axis + 1:]))
    channel = (np.arange(count) // inner) % channels
    return tables[channel * stride + flat].reshape(shape)


def _decode_opcode(model: Any) -> int:
    module = schema()
    for i, code in enumerate(model.operatorCodes):
        if code.builtinCode == module.BuiltinOperator.CUSTOM and code.customCode in (DECODE_OP.encode(), DECODE_OP):
            return i
    code = module.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = module.BuiltinOperator.CUSTOM
    code.customCode = DECODE_OP
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _uint8_tensor(name: str, size: int) -> Any:
    module = schema()
    tensor = module.TensorT()
    tensor.shape = np.asarray([size], np.int32)
    tensor.type = module.TensorType.UINT8
    tensor.name = name
    tensor.buffer = 0
    return tensor


def insert_decodes(model: Any, encoded: list[tuple[WeightTensor, LutEncoding]]) -> None:
    """Rewrite each weight tensor as its LUT encoding, decoded by a TFLM_DECODE op just before its consumer."""
    module = schema()
    graph = model.subgraphs[0]
    opcode = _decode_opcode(model)
    # Last consumer first, so inserting an op does not move the positions still to be handled.
    for weight, encoding in sorted(encoded, key=lambda pair: pair[0].op_index, reverse=True):
        original = graph.tensors[weight.index]
        decoded = module.TensorT()
        decoded.shape = np.asarray(original.shape, np.int32)
        decoded.type = original.type
        decoded.quantization = original.quantization
        if encoding.axis == PER_TENSOR_AXIS and decoded.quantization is not None:
            # TFLM's LUT decoder refuses a quantized dimension other than 0 (or the last, per channel) even
            # for a single scale, which converters write for depthwise filters: one scale has no dimension.
            decoded.quantization.quantizedDimension = 0
        decoded.name = f"{tensor_name(original)}_decoded"
        decoded.buffer = 0
        ancillary = _uint8_tensor(f"{tensor_name(original)}_ancillary", len(encoding.ancillary))
        set_buffer(model, ancillary, encoding.ancillary)
        graph.tensors.extend([decoded, ancillary])
        decoded_index, ancillary_index = len(graph.tensors) - 2, len(graph.tensors) - 1
        original.shape = np.asarray([len(encoding.indices)], np.int32)
        original.type = module.TensorType.UINT8
        original.quantization = None
        set_buffer(model, original, encoding.indices)
        consumer = graph.operators[weight.op_index]
        consumer.inputs = np.asarray([decoded_index if int(i) == weight.index else int(i) for i in consumer.inputs],
                                     np.int32)
        op = module.OperatorT()
        op.opcodeIndex = opcode
        op.inputs = np.asarray([weight.index, ancillary_index], np.int32)
        op.outputs = np.asarray([decoded_index], np.int32)
        graph.operators.insert(weight.op_index, op)
