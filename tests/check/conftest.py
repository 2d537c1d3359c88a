"""Small .tflite models packed with the official schema's object API (tests/models.py, no TensorFlow, milliseconds).

They are real TFLite flatbuffers the TFLM interpreter runs; the tests use them where the exact size of a
tensor or an exact op matters (a model too big for a board, an op TFLM lacks).
"""

from __future__ import annotations

import numpy as np
import pytest
from models import Op, T, build_tflite


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
