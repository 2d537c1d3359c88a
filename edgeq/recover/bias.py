"""Bias correction: the expected output error of the int8 weights, folded into each layer's bias.

TFLite quantizes convolution and dense weights per output channel, symmetrically, to int8. Rounding shifts the
mean of each output channel by ΔW · E[x] (ΔW: the rounding error of the weights, E[x]: the mean of the layer's
input over the calibration samples, per input channel). Subtracting that from the float bias before quantizing
removes the shift (Nagel et al. 2019, empirical variant). Padding borders see zeros, not E[x]: a small residue.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.samples import SampleSet
from edgeq.tfenv import keras

MAX_SAMPLES = 256
WEIGHT_LEVELS = 127  # TFLite's symmetric int8 weights use [-127, 127]


def fake_quantize(kernel: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Per-channel symmetric int8 rounding of a kernel, reduced over `axes` (every axis but the channel's)."""
    scale = np.abs(kernel).max(axis=axes, keepdims=True) / WEIGHT_LEVELS
    safe = np.where(scale > 0, scale, 1.0)
    return np.clip(np.round(kernel / safe), -WEIGHT_LEVELS, WEIGHT_LEVELS) * safe


def weight_error(layer: Any, kernel: np.ndarray, mean: np.ndarray) -> np.ndarray | None:
    """ΔW · E[x] per output channel of a Conv2D / DepthwiseConv2D / Dense layer (None for other layers)."""
    layers = keras().layers
    if isinstance(layer, layers.DepthwiseConv2D):  # (kh, kw, cin, mult): channels i * mult + m
        delta = fake_quantize(kernel, (0, 1)) - kernel
        return np.einsum("hwim,i->im", delta, mean).reshape(-1)
    if isinstance(layer, layers.Conv2D) and int(layer.get_config().get("groups", 1)) == 1:
        delta = fake_quantize(kernel, (0, 1, 2)) - kernel
        return np.einsum("hwio,i->o", delta, mean)
    if isinstance(layer, layers.Dense) and kernel.ndim == 2:
        delta = fake_quantize(kernel, (0,)) - kernel
        return mean @ delta
    return None


def correct_biases(model: Any, samples: SampleSet) -> tuple[Any, list[str]]:
    """A copy of a Keras 3 model with corrected biases, and the layers corrected."""
    k = keras()
    clone = k.models.clone_model(model)
    clone.set_weights(model.get_weights())
    layers = [layer for layer in clone.layers
              if isinstance(layer, k.layers.Conv2D | k.layers.DepthwiseConv2D | k.layers.Dense)
              and getattr(layer, "use_bias", False)]
    if not layers:
        return clone, []
    probe = k.Model(clone.inputs, [layer.input for layer in layers])
    count = min(samples.count, MAX_SAMPLES)
    feed = [a[:count] for a in samples.arrays]
    values = probe(feed if len(feed) > 1 else feed[0], training=False)
    values = values if isinstance(values, list | tuple) else [values]
    corrected = []
    for layer, inputs in zip(layers, values, strict=True):
        array = np.asarray(inputs, np.float64)
        mean = array.reshape(-1, array.shape[-1]).mean(axis=0)
        kernel, bias, *rest = layer.get_weights()
        error = weight_error(layer, np.asarray(kernel, np.float64), mean)
        if error is None or error.shape != bias.shape or not np.any(error):
            continue
        layer.set_weights([kernel, (bias - error).astype(bias.dtype), *rest])
        corrected.append(layer.name)
    return clone, corrected
