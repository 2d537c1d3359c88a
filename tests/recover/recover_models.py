"""Models built to be hard for plain min/max int8, with their calibration and validation data.

Weights are set by hand (no training): each model computes what its docstring says, deterministically. Shared by
tests/quantize/test_recover.py and benchmarks/bench_recover.py. Labels of the validation data are the float
model's own top-1 classes, so the float model's accuracy is 1 and "the gap to float" is what int8 loses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class HardCase:
    """A saved model and its data: calib.npz (x) and val.npz (x, and y for classifiers)."""

    name: str
    model: Path
    calib: Path
    val: Path
    classifier: bool


def _save(keras_model, root: Path, name: str, calib: np.ndarray, val: np.ndarray, classifier: bool) -> HardCase:
    root.mkdir(parents=True, exist_ok=True)
    model_path = root / f"{name}.keras"
    keras_model.save(model_path)
    np.savez(root / f"{name}_calib.npz", x=calib.astype(np.float32))
    expected = np.asarray(keras_model(val.astype(np.float32), training=False))
    if classifier:
        np.savez(root / f"{name}_val.npz", x=val.astype(np.float32), y=expected.argmax(axis=-1))
    else:
        np.savez(root / f"{name}_val.npz", x=val.astype(np.float32))
    return HardCase(name, model_path, root / f"{name}_calib.npz", root / f"{name}_val.npz", classifier)


def rare_outliers(keras, root: Path) -> HardCase:
    """A classifier whose hidden layer has one unit that fires only on rare extreme inputs (x0 > 4), at ~100x
    the other units: with min/max ranges that unit takes the hidden tensor's int8 range from the rest. The head
    hardly reads it, so clipping its range costs little. 2% of the calibration samples carry such an input."""
    rng = np.random.default_rng(101)
    inputs = keras.Input((16,), name="features")
    hidden = keras.layers.Dense(256, activation="relu", name="hidden")
    head = keras.layers.Dense(6, name="logits")
    model = keras.Model(inputs, head(hidden(inputs)), name="rare_outliers")
    w1 = rng.normal(0, 0.5, (16, 256))
    b1 = rng.normal(0.2, 0.1, 256)
    w1[:, 0], w1[0, 0], b1[0] = 0.0, 60.0, -240.0  # unit 0 = relu(60 * (x0 - 4))
    w2 = rng.normal(0, 0.3, (256, 6))
    w2[0] = 0.0005
    hidden.set_weights([w1.astype(np.float32), b1.astype(np.float32)])
    head.set_weights([w2.astype(np.float32), rng.normal(0, 0.1, 6).astype(np.float32)])
    calib = rng.normal(0, 1, (200, 16))
    calib[rng.choice(200, 4, replace=False), 0] = 7.0
    return _save(model, root, "rare_outliers", calib, rng.normal(0, 1, (400, 16)), classifier=True)


def scaled_channels(keras, root: Path) -> HardCase:
    """A 1x1 conv whose output channels are scaled by 40 ... 1/40 (ReLU keeps that exact), undone by the
    depthwise conv after it: the float function is an ordinary conv net, but one per-tensor int8 range must
    cover channels 1600x apart, so the small ones round to nothing."""
    rng = np.random.default_rng(202)
    inputs = keras.Input((8, 8, 3), name="image")
    conv = keras.layers.Conv2D(8, 1, activation="relu", name="expand")
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")
    project = keras.layers.Conv2D(8, 1, activation="relu", name="project")
    head = keras.layers.Dense(4, name="logits")
    x = project(depthwise(conv(inputs)))
    model = keras.Model(inputs, head(keras.layers.Flatten(name="flat")(x)), name="scaled_channels")
    factors = np.array([40.0, 1.0, 0.025, 1.0, 8.0, 0.05, 1.0, 0.2])
    w_conv = rng.normal(0, 0.6, (1, 1, 3, 8)) * factors
    b_conv = rng.normal(0.1, 0.05, 8) * factors
    w_dw = rng.normal(0, 0.4, (3, 3, 8, 1)) / factors[None, None, :, None]
    conv.set_weights([w_conv.astype(np.float32), b_conv.astype(np.float32)])
    depthwise.set_weights([w_dw.astype(np.float32), rng.normal(0, 0.05, 8).astype(np.float32)])
    project.set_weights([rng.normal(0, 0.5, (1, 1, 8, 8)).astype(np.float32), np.full(8, 0.05, np.float32)])
    head.set_weights([rng.normal(0, 0.1, (512, 4)).astype(np.float32), np.zeros(4, np.float32)])
    calib, val = rng.normal(0, 1, (200, 8, 8, 3)), rng.normal(0, 1, (400, 8, 8, 3))
    return _save(model, root, "scaled_channels", calib, val, classifier=True)


def wide_regression(keras, root: Path) -> HardCase:
    """A regression head over readings in absolute units (300 ± 3, say kelvin): the hidden features carry the
    300 offset, the output is a small difference of them. Every int8 range must reach from 0 to ~300, so its step
    (~1.2) is as large as the variation the output is made of; no clipping can shrink a range that must hold
    the offset. 16-bit activations resolve it."""
    rng = np.random.default_rng(303)
    inputs = keras.Input((8,), name="readings")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")
    out = keras.layers.Dense(1, name="value")
    model = keras.Model(inputs, out(hidden(inputs)), name="wide_regression")
    mix = rng.uniform(0, 1, (8, 16))
    mix /= mix.sum(axis=0, keepdims=True)  # each hidden unit: a weighted mean of the readings, ~300
    weights = rng.normal(0, 1, (16, 1))
    weights -= weights.mean()  # the offset cancels in the output
    hidden.set_weights([mix.astype(np.float32), np.zeros(16, np.float32)])
    out.set_weights([weights.astype(np.float32), np.zeros(1, np.float32)])
    calib, val = 300 + 3 * rng.normal(0, 1, (200, 8)), 300 + 3 * rng.normal(0, 1, (400, 8))
    return _save(model, root, "wide_regression", calib, val, classifier=False)


def _on_int8_grid(weights: np.ndarray) -> np.ndarray:
    """Weights TFLite's per-channel int8 quantization represents exactly (as quantization-aware training gives)."""
    scale = np.abs(weights).max(axis=0, keepdims=True) / 127
    return np.round(weights / scale) * scale


def already_fine(keras, root: Path) -> HardCase:
    """A small classifier with weights on the int8 grid and uniform inputs: min/max ranges are already right and
    the weights have no rounding error to correct; nothing should beat plain int8."""
    rng = np.random.default_rng(404)
    inputs = keras.Input((12,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")
    head = keras.layers.Dense(5, name="logits")
    model = keras.Model(inputs, head(hidden(inputs)), name="already_fine")
    hidden.set_weights([_on_int8_grid(rng.normal(0, 0.5, (12, 16))).astype(np.float32), np.full(16, 0.2, np.float32)])
    head.set_weights([_on_int8_grid(rng.normal(0, 0.5, (16, 5))).astype(np.float32), np.zeros(5, np.float32)])
    calib, val = rng.uniform(0, 1, (200, 12)), rng.uniform(0, 1, (400, 12))
    return _save(model, root, "already_fine", calib, val, classifier=True)


HARD_CASES = {"rare_outliers": rare_outliers, "scaled_channels": scaled_channels, "wide_regression": wide_regression}
ALL_CASES = {**HARD_CASES, "already_fine": already_fine}


def build(name: str, root: Path) -> HardCase:
    """Build one case (Keras 3, seeded) into `root`."""
    from edgeq.tfenv import keras

    keras().utils.set_random_seed(0)
    return ALL_CASES[name](keras(), root)
