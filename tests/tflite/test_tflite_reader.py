"""The .tflite reader against stand-ins for TFLM's example models built in the tests (tests/models.py):
quantization compared with what LiteRT reads from the same file, structure with the model's own design."""

from __future__ import annotations

import math

import numpy as np
import pytest
from models import PERSON_BLOCKS

from edgeq.errors import ModelFormatError
from edgeq.tflite import read_model


def test_sine_int8_io_quantization(sine_int8_path):
    from ai_edge_litert.interpreter import Interpreter

    model = read_model(sine_int8_path)
    assert model.op_counts() == {"FULLY_CONNECTED": 3}
    (inp,), (out,) = model.main.input_tensors(), model.main.output_tensors()
    assert (inp.shape, inp.dtype, out.dtype) == ((1, 1), "int8", "int8")
    litert = Interpreter(model_path=str(sine_int8_path))
    (litert_in,), (litert_out,) = litert.get_input_details(), litert.get_output_details()
    assert (float(inp.quantization.scale[0]), int(inp.quantization.zero_point[0])) == litert_in["quantization"]
    assert (float(out.quantization.scale[0]), int(out.quantization.zero_point[0])) == litert_out["quantization"]
    # calibrated on x in [0, 2pi], both ends included: zero maps to -128, 255 steps span the range
    assert int(inp.quantization.zero_point[0]) == -128
    assert inp.quantization.scale[0] == pytest.approx(2 * math.pi / 255, rel=1e-6)


def test_person_structure_and_per_channel_weights(person_path):
    model = read_model(person_path)
    assert model.op_counts() == {"AVERAGE_POOL_2D": 1, "CONV_2D": 14, "DEPTHWISE_CONV_2D": 14, "RESHAPE": 1,
                                 "SOFTMAX": 1}
    first_conv = next(op for op in model.main.operators if op.opcode == "CONV_2D")
    weights = model.main.tensors[first_conv.inputs[1]]
    assert weights.is_constant and weights.data.shape == weights.shape and weights.data.dtype == np.int8
    assert first_conv.options_type == "Conv2DOptions" and first_conv.options.strideW in (1, 2)
    assert model.main.input_tensors()[0].shape == (1, 96, 96, 1)
    channels = PERSON_BLOCKS[0][1]
    assert weights.shape == (channels, 1, 1, 8)
    assert len(weights.quantization.scale) == channels and weights.quantization.quantized_dimension == 0
    assert len(set(weights.quantization.scale.tolist())) > 1  # really one scale per output channel
    depthwise = [op for op in model.main.operators if op.opcode == "DEPTHWISE_CONV_2D"]
    for op in depthwise:  # the filter's channel axis is 3; the quirk gives the 1-D bias axis 3 as well
        filters, bias = (model.main.tensors[i] for i in op.inputs[1:3])
        assert filters.quantization.quantized_dimension == bias.quantization.quantized_dimension == 3
        assert len(filters.quantization.scale) == filters.shape[3] == bias.shape[0]


def test_bytes_and_path_parse_the_same(lstm_path):
    a, b = read_model(lstm_path), read_model(lstm_path.read_bytes())
    assert a.sha256 == b.sha256 and a.op_counts() == b.op_counts()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in a.op_counts()


@pytest.mark.parametrize(("data", "message"), [
    (b"", "too short"),
    (b"\x00" * 64, "not a TFLite flatbuffer"),
    (b"\x18\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt TFLite flatbuffer"),
])
def test_invalid_bytes(data, message):
    with pytest.raises(ModelFormatError, match=message):
        read_model(data)


def test_truncated_model_is_a_format_error(person_path):
    data = person_path.read_bytes()
    for cut in (20, 1000, len(data) // 2):
        with pytest.raises(ModelFormatError):
            read_model(data[:cut])
