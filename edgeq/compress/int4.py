"""int4 weights: filters re-quantized from int8 to [-7, 7] and packed two to a byte as TFLM's kTfLiteInt4.

A .tflite holds no float weights, so the int4 values come from the int8 ones: real = s8 * q8, and per output
channel s4 = s8 * max|q8| / 7, q4 = round(q8 * s8 / s4), symmetric like TFLite's int8 weights ([-127, 127]).
The bias was quantized with s_in * s8 and is re-quantized to s_in * s4. TFLM's FULLY_CONNECTED refuses
per-channel int4 filters, so a per-channel FULLY_CONNECTED gets one scale for the whole filter.
Packing: element 2i in the low nibble, 2i+1 in the high nibble (TFLM's UnpackDenseInt4IntoInt8).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.compress.flatbuffer import WeightTensor, set_buffer
from edgeq.tflite.schema import schema

INT4_LEVELS = 7


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def pack_int4(values: np.ndarray) -> bytes:
    """Values in [-8, 7], two per byte, low nibble first; an odd count leaves the last high nibble zero."""
    nibbles = (values.astype(np.int64).ravel() & 0x0F).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


def unpack_int4(data: bytes, count: int) -> np.ndarray:
    """The inverse of pack_int4: `count` sign-extended int8 values."""
    raw = np.frombuffer(data, np.uint8)
    nibbles = np.stack([raw & 0x0F, raw >> 4], axis=1).ravel()[:count].astype(np.int16)
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)


def requantize(model: Any, weight: WeightTensor) -> np.ndarray:
    """Re-quantize one filter (and its bias) to int4 values in place in `model`; returns the int4-valued int8."""
    module = schema()
    graph = model.subgraphs[0]
    tensor = graph.tensors[weight.index]
    scales8 = np.asarray(tensor.quantization.scale, np.float64)
    moved = np.moveaxis(weight.values.astype(np.float64), weight.axis, 0)
    peaks = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    per_channel = scales8.size > 1
    if not per_channel or weight.op == "FULLY_CONNECTED":
        real_peak = float((scales8 * peaks).max()) if per_channel else float(scales8[0] * peaks.max())
        scales4 = np.full(1, real_peak / INT4_LEVELS if real_peak > 0 else float(scales8.max()))
    else:
        scales4 = np.where(peaks > 0, scales8 * peaks / INT4_LEVELS, scales8)
    factor = scales8 / (scales4 if scales4.size == scales8.size else scales4[0])  # q8 -> q4, per channel
    shape = [1] * moved.ndim
    shape[0] = -1
    if scales4.size == scales8.size:
        # s8 / s4 is exactly 7 / max|q8| (per channel, or over the tensor): integers keep exact halves exact.
        peak = np.maximum(peaks if per_channel else peaks.max(keepdims=True), 1).astype(np.int64)
        peak = peak.reshape(shape)
        magnitude = (2 * INT4_LEVELS * np.abs(moved).astype(np.int64) + peak) // (2 * peak)
        q4 = np.clip(np.sign(moved) * magnitude, -INT4_LEVELS, INT4_LEVELS)
    else:
        q4 = np.clip(_round_half_away(moved * factor.reshape(shape)), -INT4_LEVELS, INT4_LEVELS)
    values = np.moveaxis(q4, 0, weight.axis).astype(np.int8)
    quant = tensor.quantization
    quant.scale = scales4.astype(np.float32)
    quant.zeroPoint = np.zeros(scales4.size, np.int64)
    if scales4.size == 1:
        quant.quantizedDimension = 0
    operator = graph.operators[weight.op_index]
    if len(operator.inputs) > 2 and int(operator.inputs[2]) >= 0:
        bias = graph.tensors[int(operator.inputs[2])]
        data = model.buffers[bias.buffer].data if bias.buffer else None
        if data is not None and len(data) and bias.type == module.TensorType.INT32:
            q = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.int32).astype(np.float64)
            requantized = _round_half_away(q * factor)
            set_buffer(model, bias, np.clip(requantized, -2**31, 2**31 - 1).astype(np.int32).tobytes())
            input_scale = float(graph.tensors[int(operator.inputs[0])].quantization.scale[0])
            bias.quantization.scale = (input_scale * scales4).astype(np.float32)
            bias.quantization.zeroPoint = np.zeros(scales4.size, np.int64)
            if scales4.size == 1:
                bias.quantization.quantizedDimension = 0
    set_buffer(model, tensor, values.tobytes())
    return values


def to_int4(model: Any, weight: WeightTensor) -> None:
    """Turn an int4-valued int8 filter (after `requantize`) into a packed kTfLiteInt4 tensor."""
    tensor = model.subgraphs[0].tensors[weight.index]
    data = np.frombuffer(np.asarray(model.buffers[tensor.buffer].data, np.uint8).tobytes(), np.int8)
    tensor.type = schema().TensorType.INT4
    set_buffer(model, tensor, pack_int4(data))
