"""Fixtures for the compiled-C engine tests: whole models converted once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from build_tools import require_tools

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _convert(keras_model, tmp: Path, io_type: str = "int8", seed: int = 7):
    """A Keras model -> int8 TFLiteModel through edgeq's own loader and quantizer (synthetic calibration)."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import synthetic_samples

    path = tmp / f"{keras_model.name}.keras"
    keras_model.save(path)
    loaded = load_model(path)
    samples = synthetic_samples(loaded.inputs, 48, seed=seed)
    return quantize(loaded, QuantizeOptions("int8", io_type), samples, integer_only=True)


def resnet_style(keras):
    """Residual blocks (ADD, SUB skip joins), a strided projection shortcut, squeeze-excite (MEAN,
    FULLY_CONNECTED, LOGISTIC, MUL with broadcasting), average pooling and a softmax head."""
    layers = keras.layers
    x = keras.Input((12, 12, 3), name="image")
    y = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    for join in ("add", "sub"):
        z = layers.Conv2D(8, 3, padding="same", activation="relu")(y)
        z = layers.Conv2D(8, 3, padding="same")(z)
        y = layers.Add()([y, z]) if join == "add" else layers.Subtract()([y, z])
        y = layers.ReLU()(y)
    z = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(y)
    z = layers.Conv2D(16, 3, padding="same")(z)
    shortcut = layers.Conv2D(16, 1, strides=2)(y)
    y = layers.ReLU()(layers.Add()([shortcut, z]))
    se = layers.GlobalAveragePooling2D(keepdims=True)(y)
    se = layers.Dense(4, activation="relu")(se)
    se = layers.Dense(16, activation="sigmoid")(se)
    y = layers.Multiply()([y, se])
    y = layers.AveragePooling2D(2)(y)
    y = layers.Flatten()(y)
    y = layers.Dense(10, activation="softmax", name="probs")(y)
    return keras.Model(x, y, name="resnet_style")


def depthwise_separable(keras):
    """MobileNet-style: explicit zero padding (PAD), strided conv with ReLU6, depthwise convs (multiplier,
    dilation, stride), an inception-like concatenation with a max-pool branch, global average pooling (MEAN),
    a tanh dense layer and a softmax head; the concatenation is also a model output."""
    layers = keras.layers
    x = keras.Input((20, 20, 1), name="image")
    y = layers.ZeroPadding2D(1)(x)
    y = layers.Conv2D(8, 3, strides=2, padding="valid")(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    y = layers.ReLU(6.0)(y)
    y = layers.Conv2D(16, 1)(y)
    y = layers.ReLU(6.0)(y)
    y = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, activation="relu")(y)
    a = layers.Conv2D(8, 1, activation="relu")(y)
    b = layers.MaxPooling2D(3, strides=1, padding="same")(y)
    b = layers.Conv2D(8, 1, activation="relu")(b)
    joined = layers.Concatenate(name="joined")([a, b])
    y = layers.DepthwiseConv2D(3, strides=2, padding="same")(joined)
    y = layers.Conv2D(24, 1, activation="relu6")(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(16, activation="tanh")(y)
    y = layers.Dense(6, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))(y)
    y = layers.Softmax(name="probs")(y)
    # A second output that later ops also read: its bytes must stay intact in the caller's buffer.
    return keras.Model(x, [y, joined], name="dw_separable")


@pytest.fixture(scope="session")
def engine_models(tmp_path_factory) -> dict:
    """name -> int8 TFLiteModel: the example (int8, float32 and uint8 I/O) and the two models built here."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(3)
    tmp = tmp_path_factory.mktemp("engine-models")
    digits = load_model(EXAMPLES / "digits.keras")
    calib = load_samples(EXAMPLES / "digits_calib.npz", digits.inputs)
    models = {f"digits_{io}": quantize(digits, QuantizeOptions("int8", io), calib, integer_only=True)
              for io in ("int8", "float32", "uint8")}
    models["resnet_style"] = _convert(resnet_style(k), tmp)
    models["dw_separable"] = _convert(depthwise_separable(k), tmp)
    return models


@pytest.fixture(scope="session")
def gcc() -> str:
    require_tools("gcc")
    path = shutil.which("gcc")
    return path


@pytest.fixture(scope="session")
def engine_rng() -> np.random.Generator:
    return np.random.default_rng(20261128)
