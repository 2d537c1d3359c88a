"""A small int8 model with every filter layout the weight rewrites handle, packed with the schema module.

CONV_2D (16 channels, 3x3x8, per-channel, axis 0) -> DEPTHWISE_CONV_2D (5x5, per-channel, axis 3) -> RESHAPE ->
FULLY_CONNECTED (per-channel, 1024 -> 32) -> FULLY_CONNECTED (per-tensor, 32 -> 10). Weights are drawn from a
smooth (rounded Gaussian) distribution so that clustering them really changes values.
"""

from __future__ import annotations

import numpy as np
from models import Op, T, build_tflite

SIDE, CIN, COUT, HIDDEN, CLASSES = 8, 8, 16, 32, 10


def _weights(rng: np.random.Generator, shape: tuple[int, ...], spread: float) -> np.ndarray:
    return np.clip(np.round(rng.normal(0.0, spread, shape)), -127, 127).astype(np.int8)


def weight_model(seed: int = 5) -> bytes:
    """The int8 model (int8 I/O); the output scales keep the outputs spread over many levels."""
    from edgeq.tflite.schema import schema

    fb = schema()
    rng = np.random.default_rng(seed)
    conv = _weights(rng, (COUT, 3, 3, CIN), 40)
    depthwise = _weights(rng, (1, 5, 5, COUT), 40)
    dense = _weights(rng, (HIDDEN, SIDE * SIDE * COUT), 40)
    head = _weights(rng, (CLASSES, HIDDEN), 40)
    flat = SIDE * SIDE * COUT
    tensors = [
        T((1, SIDE, SIDE, CIN), scale=[0.02], zero_point=[0], name="input"),
        T(conv.shape, data=conv, scale=list(rng.uniform(0.004, 0.008, COUT)), axis=0, name="conv/filter"),
        T((COUT,), "int32", data=rng.integers(-500, 500, COUT).astype(np.int32), scale=[1e-4] * COUT,
          name="conv/bias"),
        T((1, SIDE, SIDE, COUT), scale=[0.05], zero_point=[-3], name="conv/out"),
        T(depthwise.shape, data=depthwise, scale=list(rng.uniform(0.004, 0.008, COUT)), axis=3, name="dw/filter"),
        T((COUT,), "int32", data=rng.integers(-500, 500, COUT).astype(np.int32), scale=[3e-4] * COUT,
          name="dw/bias"),
        T((1, SIDE, SIDE, COUT), scale=[0.05], zero_point=[2], name="dw/out"),
        T((1, flat), scale=[0.05], zero_point=[2], name="flat"),
        T((2,), "int32", data=np.array([1, flat], np.int32), name="flat/shape"),
        T(dense.shape, data=dense, scale=list(rng.uniform(0.001, 0.002, HIDDEN)), axis=0, name="fc/filter"),
        T((HIDDEN,), "int32", data=rng.integers(-500, 500, HIDDEN).astype(np.int32), scale=[7e-5] * HIDDEN,
          name="fc/bias"),
        T((1, HIDDEN), scale=[0.15], zero_point=[0], name="fc/out"),
        T(head.shape, data=head, scale=[0.004], name="head/filter"),
        T((CLASSES,), "int32", data=rng.integers(-500, 500, CLASSES).astype(np.int32), scale=[6e-4],
          name="head/bias"),
        T((1, CLASSES), scale=[0.1], zero_point=[0], name="logits"),
    ]
    conv_options = fb.Conv2DOptionsT()
    conv_options.padding, conv_options.strideH, conv_options.strideW = fb.Padding.SAME, 1, 1
    conv_options.fusedActivationFunction = fb.ActivationFunctionType.RELU
    dw_options = fb.DepthwiseConv2DOptionsT()
    dw_options.padding, dw_options.strideH, dw_options.strideW = fb.Padding.SAME, 1, 1
    dw_options.depthMultiplier = 1
    reshape = fb.ReshapeOptionsT()
    reshape.newShape = [1, flat]
    ops = [Op("CONV_2D", [0, 1, 2], [3], conv_options), Op("DEPTHWISE_CONV_2D", [3, 4, 5], [6], dw_options),
           Op("RESHAPE", [6, 8], [7], reshape), Op("FULLY_CONNECTED", [7, 9, 10], [11], fb.FullyConnectedOptionsT()),
           Op("FULLY_CONNECTED", [11, 12, 13], [14], fb.FullyConnectedOptionsT())]
    return build_tflite(tensors, ops, [0], [14])


def random_inputs(count: int, seed: int = 11) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, (1, SIDE, SIDE, CIN)).astype(np.int8) for _ in range(count)]


def tflm_outputs(data: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    """Host TFLM's logits for each input, stacked."""
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(bytes(data))
    found = []
    for x in inputs:
        interpreter.set_input(x, 0)
        interpreter.invoke()
        found.append(np.array(interpreter.get_output(0)).reshape(-1))
    return np.stack(found)
