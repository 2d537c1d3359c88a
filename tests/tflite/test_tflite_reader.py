"""The .tflite reader against TFLM's real example models (facts from ../shared/models/tflm-examples/README.md)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.errors import ModelFormatError
from edgeq.tflite import read_model


def test_hello_world_int8_io_quantization(shared_models):
    model = read_model(shared_models / "hello_world_int8.tflite")
    assert model.op_counts() == {"FULLY_CONNECTED": 3}
    (inp,), (out,) = model.main.input_tensors(), model.main.output_tensors()
    assert (inp.shape, inp.dtype, out.dtype) == ((1, 1), "int8", "int8")
    assert inp.quantization.scale[0] == pytest.approx(0.024480, abs=1e-6)
    assert int(inp.quantization.zero_point[0]) == -128
    assert out.quantization.scale[0] == pytest.approx(0.0082910, abs=1e-7)
    assert int(out.quantization.zero_point[0]) == 5


def test_person_detect_structure_and_per_channel_weights(shared_models):
    model = read_model(shared_models / "person_detect.tflite")
    assert model.op_counts() == {"AVERAGE_POOL_2D": 1, "CONV_2D": 14, "DEPTHWISE_CONV_2D": 14, "RESHAPE": 1,
                                 "SOFTMAX": 1}
    first_conv = next(op for op in model.main.operators if op.opcode == "CONV_2D")
    weights = model.main.tensors[first_conv.inputs[1]]
    assert weights.is_constant and weights.data.shape == weights.shape and weights.data.dtype == np.int8
    assert first_conv.options_type == "Conv2DOptions" and first_conv.options.strideW in (1, 2)
    assert model.main.input_tensors()[0].shape == (1, 96, 96, 1)


def test_bytes_and_path_parse_the_same(shared_models):
    path = shared_models / "trained_lstm_int8.tflite"
    a, b = read_model(path), read_model(path.read_bytes())
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


def test_truncated_model_is_a_format_error(shared_models):
    data = (shared_models / "person_detect.tflite").read_bytes()
    for cut in (20, 1000, len(data) // 2):
        with pytest.raises(ModelFormatError):
            read_model(data[:cut])
