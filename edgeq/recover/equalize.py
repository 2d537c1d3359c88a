"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019) in float, before quantizing.

For a convolution whose output feeds only a depthwise (or plain) convolution, through nothing or a ReLU-family
activation (positive-homogeneous: relu(x / s) = relu(x) / s for s > 0), dividing output channel c of the first
layer by s_c and multiplying input channel c of the second by s_c leaves the function unchanged. With
s_c = sqrt(r1_c / r2_c) (r: the weight ranges per channel) both layers' channels get the same range, and so do
the activations between them: one badly scaled channel no longer eats the per-tensor int8 range of the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.tfenv import keras

HOMOGENEOUS_ACTIVATIONS = ("linear", "relu", "leaky_relu")
PASSES = 3  # chains (conv -> dw -> conv) settle in a few sweeps


def _consumers(model: Any) -> tuple[dict[str, list[str]], set[str]]:
    """Which layers read each layer's output, and the layers whose output is a model output."""
    layers = model.layers
    consumers: dict[str, list[str]] = {layer.name: [] for layer in layers}
    if isinstance(model, keras().Sequential):
        for before, after in zip(layers, layers[1:], strict=False):
            consumers[before.name].append(after.name)
        return consumers, {layers[-1].name} if layers else set()
    config = model.get_config()
    for layer in config.get("layers", []):
        for source in _history_names(layer.get("inbound_nodes", [])):
            if source in consumers:
                consumers[source].append(layer["name"])
    entries = config.get("output_layers", [])
    if entries and isinstance(entries[0], str):  # a single output is stored as one [name, node, index]
        entries = [entries]
    outputs = {str(entry[0]) for entry in entries if isinstance(entry, list | tuple) and entry}
    return consumers, outputs


def _history_names(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        history = node.get("keras_history")
        if isinstance(history, list | tuple) and history:
            found.append(str(history[0]))
        for value in node.values():
            found.extend(_history_names(value))
    elif isinstance(node, list | tuple):
        for value in node:
            found.extend(_history_names(value))
    return found


def _activation(layer: Any) -> str:
    value = layer.get_config().get("activation", "linear")
    return value if isinstance(value, str) else ""


def _is_conv(layer: Any) -> bool:
    layers = keras().layers
    if isinstance(layer, layers.DepthwiseConv2D):
        return True
    return isinstance(layer, layers.Conv2D) and int(layer.get_config().get("groups", 1)) == 1


def _homogeneous_activation_layer(layer: Any) -> bool:
    layers = keras().layers
    config = layer.get_config()
    if isinstance(layer, layers.ReLU):
        return config.get("max_value") is None and float(config.get("threshold", 0.0)) == 0.0
    if isinstance(layer, layers.LeakyReLU):
        return True
    return isinstance(layer, layers.Activation) and _activation(layer) in HOMOGENEOUS_ACTIVATIONS


def equalizable_pairs(model: Any) -> list[tuple[Any, Any]]:
    """(producer, consumer) convolution pairs that can be rescaled without changing the model's function."""
    consumers, outputs = _consumers(model)
    pairs = []
    for layer in model.layers:
        if not _is_conv(layer) or _activation(layer) not in HOMOGENEOUS_ACTIVATIONS:
            continue
        current = layer
        following = consumers.get(current.name, [])
        if current.name in outputs or len(following) != 1:
            continue
        nxt = model.get_layer(following[0])
        if _homogeneous_activation_layer(nxt):
            following = consumers.get(nxt.name, [])
            if nxt.name in outputs or len(following) != 1:
                continue
            nxt = model.get_layer(following[0])
        if _is_conv(nxt):
            pairs.append((layer, nxt))
    return pairs


def _output_ranges(layer: Any, kernel: np.ndarray) -> np.ndarray:
    if isinstance(layer, keras().layers.DepthwiseConv2D):  # (kh, kw, cin, mult): output channel i * mult + m
        return np.abs(kernel).max(axis=(0, 1)).reshape(-1)
    return np.abs(kernel).max(axis=(0, 1, 2))


def _scale_pair(producer: Any, consumer: Any) -> None:
    first, second = producer.get_weights(), consumer.get_weights()
    r1 = _output_ranges(producer, first[0])
    r2 = np.abs(second[0]).max(axis=(0, 1, 3))  # input channels of a (depthwise) conv kernel: axis 2
    if r1.shape != r2.shape:
        return
    scale = np.where((r1 > 0) & (r2 > 0), np.sqrt(r1 / np.where(r2 > 0, r2, 1.0)), 1.0).astype(np.float32)
    if isinstance(producer, keras().layers.DepthwiseConv2D):
        first[0] = first[0] / scale.reshape(first[0].shape[2], first[0].shape[3])[None, None]
    else:
        first[0] = first[0] / scale
    if len(first) > 1:
        first[1] = first[1] / scale
    second[0] = second[0] * scale[None, None, :, None]
    producer.set_weights(first)
    consumer.set_weights(second)


def equalize(model: Any) -> tuple[Any, list[str]]:
    """A copy of a Keras 3 model with every equalizable pair rescaled, and the pairs ('conv1 -> dw')."""
    k = keras()
    clone = k.models.clone_model(model)
    clone.set_weights(model.get_weights())
    pairs = equalizable_pairs(clone)
    for _ in range(PASSES if pairs else 0):
        for producer, consumer in pairs:
            _scale_pair(producer, consumer)
    return clone, [f"{p.name} -> {c.name}" for p, c in pairs]
