"""Keras models with the MLPerf Tiny reference shapes (seeded random weights), for the emulated benchmarks.

    ResNet-8 (image classification): 32x32x3, 16/32/64 filters, 3 residual stacks, 10 classes
    DS-CNN (keyword spotting): 49x10x1 MFCCs, a 10x4 stride-2 conv and 4 depthwise-separable blocks, 64 channels
    MobileNetV1 alpha=0.25 (visual wake words): 96x96x3, 13 depthwise-separable blocks, 2 classes
    FC autoencoder (anomaly detection): 640-128-128-128-128-8-128-128-128-128-640

Layer by layer as in the mlcommons/tiny training scripts (batch normalization folded by the converter); the
weights are random and the calibration data uniform noise, which changes no shape, MAC or memory figure.
`convert_all(work)` converts each to an int8 TFLiteModel through edgeq's own loader and quantizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20261128


def _bn(layers):
    """Batch normalization whose moving statistics become those of the one training-mode pass `convert`
    makes over the calibration data: every layer then sees unit-variance inputs, as in a trained net
    (random weights alone shrink or blow up the activations over 27 layers)."""
    return layers.BatchNormalization(momentum=0.0)


def resnet8(keras):
    """MLPerf Tiny ResNet-8 (CIFAR-10)."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(16, 3, padding="same")(inputs)
    x = layers.Activation("relu")(_bn(layers)(x))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same")(x)
        y = layers.Activation("relu")(_bn(layers)(y))
        y = _bn(layers)(layers.Conv2D(filters, 3, padding="same")(y))
        shortcut = x if stride == 1 else layers.Conv2D(filters, 1, strides=stride)(x)
        x = layers.Activation("relu")(layers.Add()([shortcut, y]))
    x = layers.AveragePooling2D(pool_size=8)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="resnet8")


def ds_cnn(keras):
    """MLPerf Tiny DS-CNN (keyword spotting, 12 classes)."""
    layers = keras.layers
    inputs = keras.Input((49, 10, 1), batch_size=1)
    x = layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inputs)
    x = layers.Activation("relu")(_bn(layers)(x))
    for _ in range(4):
        x = layers.DepthwiseConv2D(3, padding="same")(x)
        x = layers.Activation("relu")(_bn(layers)(x))
        x = layers.Conv2D(64, 1, padding="same")(x)
        x = layers.Activation("relu")(_bn(layers)(x))
    x = layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(12, activation="softmax")(x), name="ds_cnn")


def mobilenet_v1_025(keras):
    """MLPerf Tiny MobileNetV1 alpha=0.25 (visual wake words, 2 classes)."""
    layers = keras.layers
    inputs = keras.Input((96, 96, 3), batch_size=1)
    filters = 8
    x = layers.Conv2D(filters, 3, strides=2, padding="same")(inputs)
    x = layers.Activation("relu")(_bn(layers)(x))
    # (depthwise stride, pointwise filters) of the 13 depthwise-separable blocks
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128)] + [(1, 128)] * 5 + [(2, 256), (1, 256)]
    for stride, filters in blocks:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same")(x)
        x = layers.Activation("relu")(_bn(layers)(x))
        x = layers.Conv2D(filters, 1, padding="same")(x)
        x = layers.Activation("relu")(_bn(layers)(x))
    x = layers.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x), name="mobilenet_v1_025")


def fc_autoencoder(keras):
    """MLPerf Tiny deep autoencoder (anomaly detection, 640 = 5 frames x 128 mel bins)."""
    layers = keras.layers
    inputs = keras.Input((640,), batch_size=1)
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = layers.Activation("relu")(_bn(layers)(layers.Dense(units)(x)))
    return keras.Model(inputs, layers.Dense(640)(x), name="fc_autoencoder")


BUILDERS = {"resnet8": resnet8, "ds_cnn": ds_cnn, "mobilenet_v1_025": mobilenet_v1_025,
            "fc_autoencoder": fc_autoencoder}


def convert(keras_model, work: Path, seed: int):
    """A random-weight Keras model -> int8 TFLiteModel (int8 I/O), calibrated on seeded uniform noise."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples

    rng = np.random.default_rng(seed)
    data = rng.uniform(-1, 1, (32, *keras_model.input_shape[1:])).astype(np.float32)
    keras_model(data, training=True)  # batch-norm statistics from this data (see _bn)
    path = work / f"{keras_model.name}.keras"
    keras_model.save(path)
    loaded = load_model(path)
    calib = work / f"{keras_model.name}_calib.npz"
    np.savez(calib, x=data)
    return quantize(loaded, QuantizeOptions("int8", "int8"), load_samples(calib, loaded.inputs), integer_only=True)


def convert_all(work: Path, names: list[str] | None = None, cache: Path | None = None) -> dict[str, object]:
    """name -> int8 TFLiteModel; with `cache`, models converted before are read from cache/<name>.tflite."""
    from edgeq.tfenv import keras
    from edgeq.tflite import read_model

    found = {}
    for seed, name in enumerate(names or list(BUILDERS)):
        cached = cache / f"{name}.tflite" if cache is not None else None
        if cached is not None and cached.is_file():
            found[name] = read_model(cached)
            continue
        k = keras()
        k.utils.set_random_seed(SEED + seed)
        model = convert(BUILDERS[name](k), work, seed)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(model.data)
        found[name] = model
    return found
