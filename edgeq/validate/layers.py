"""Matching a .tflite model to its float reference: inputs/outputs, and intermediate tensors to Keras layers.

Why not tf.lite.experimental.QuantizationDebugger: it re-runs the converter's calibration on a converter
object (it cannot take an existing .tflite plus a Keras file), its model-level metrics need float I/O, and
it runs LiteRT, not TFLM. Here the user's own .tflite runs in TFLM with all tensors preserved, and each
intermediate tensor is compared with the output of the Keras layer it came from (a Keras sub-model exposes
the layer outputs). Tensor names carry the layer names ('model/conv1_1/Relu;model/conv1_1/BiasAdd'); a
tensor is matched to the *last* layer (in Keras order) that its name mentions and whose output has the same
number of values, and a layer to the *last* tensor produced for it (a Dense+softmax layer yields the
logits tensor first, then the softmax output that equals the layer's output).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeq.errors import ModelLoadError
from edgeq.load.legacy import is_tf_keras_model
from edgeq.load.loader import LoadedModel
from edgeq.quantize.converter import mentioned_layers
from edgeq.tflite import Tensor, TFLiteModel
from edgeq.tflite.runners import dequantize_output
from edgeq.tflite.signature import clean_name, signature_names
from edgeq.validate.metrics import ErrorStats

_ACTIVATION_DTYPES = frozenset({"int8", "uint8", "int16", "float32", "float16"})


def _keras_of(keras_model: Any) -> Any:
    """The Keras package a model object comes from: a probe model must be built with the same one, since
    Keras 3 refuses the symbolic tensors of a model loaded by tf-keras (the legacy Keras 2 loader)."""
    if is_tf_keras_model(keras_model):
        import tf_keras

        return tf_keras
    from edgeq.tfenv import keras

    return keras()


# ------------------------------------------------------------------------------------------------ I/O mapping

@dataclass(frozen=True)
class IOMap:
    """Which reference input/output each .tflite input/output is (positions in .tflite order)."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _by_name(tflite_names: list[str], reference_names: list[str]) -> tuple[int, ...] | None:
    if len(set(reference_names)) == len(reference_names) and sorted(tflite_names) == sorted(reference_names):
        return tuple(reference_names.index(n) for n in tflite_names)
    return None


def _by_pattern(names: list[str], pattern: str, count: int) -> tuple[int, ...] | None:
    found = [re.fullmatch(pattern, n) for n in names]
    if all(found):
        order = tuple(int(m.group(1)) for m in found if m)
        if sorted(order) == list(range(count)):
            return order
    return None


def match_io(tflite: TFLiteModel, reference: LoadedModel, model_name: str = "the .tflite model") -> IOMap:
    """Pair .tflite inputs/outputs with the reference's (by signature name, then by the converter's
    'output_K' / ':K' numbering, then by position) and check their shapes."""
    sig_in, sig_out = signature_names(tflite)
    t_in, t_out = tflite.main.input_tensors(), tflite.main.output_tensors()
    where = f"reference {reference.path.name} does not match {model_name}"
    for kind, tensors, specs in (("inputs", t_in, reference.inputs), ("outputs", t_out, reference.outputs)):
        if len(tensors) != len(specs):
            raise ModelLoadError(f"{where}: {len(specs)} {kind} in the reference, {len(tensors)} in the .tflite; "
                                 "validate a .tflite converted from this reference")
    in_names = [sig_in.get(t.index) or clean_name(t.name) for t in t_in]
    inputs = _by_name(in_names, [s.name for s in reference.inputs]) or tuple(range(len(t_in)))
    out_names = [sig_out.get(t.index) or clean_name(t.name) for t in t_out]
    outputs = (_by_name(out_names, [s.name for s in reference.outputs])
               or _by_pattern(out_names, r"output_(\d+)", len(t_out))
               or _by_pattern([t.name for t in t_out], r".*:(\d+)", len(t_out))
               or tuple(range(len(t_out))))
    for kind, tensors, specs, order in (("input", t_in, reference.inputs, inputs),
                                        ("output", t_out, reference.outputs, outputs)):
        for position, (tensor, k) in enumerate(zip(tensors, order, strict=True)):
            spec = specs[k]
            if tuple(tensor.shape[1:]) != tuple(spec.shape):
                raise ModelLoadError(f"{where}: {kind} {position} {tensor.name!r} has shape "
                                     f"{tuple(tensor.shape[1:])} (without batch) but the reference's {kind} "
                                     f"{spec.name!r} has {tuple(spec.shape)}; validate a .tflite converted from "
                                     "this reference")
    return IOMap(inputs=inputs, outputs=outputs)


# --------------------------------------------------------------------------------------------- per-layer error

@dataclass(frozen=True)
class LayerTensor:
    """A .tflite tensor that holds the value of a Keras layer's output."""

    layer: str
    tensor: Tensor
    op_index: int
    opcode: str


def layer_output_sizes(keras_model: Any) -> dict[str, int]:
    """Layer name -> values per sample of its output, for layers with one well-defined output, in Keras order."""
    sizes: dict[str, int] = {}
    for layer in keras_model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            output = layer.output  # raises for layers used at several places in the graph
        except (AttributeError, ValueError, RuntimeError):
            continue
        if isinstance(output, list | tuple | dict) or output.shape is None or None in tuple(output.shape[1:]):
            continue
        sizes[layer.name] = int(np.prod(tuple(output.shape[1:]), dtype=np.int64))
    return sizes


def match_layers(tflite: TFLiteModel, keras_model: Any,
                 output_layers: dict[int, str]) -> tuple[list[LayerTensor], list[str]]:
    """Map intermediate tensors to Keras layers: (matches in execution order, layers without a tensor).
    `output_layers` maps the .tflite output tensor indices to the layers producing the reference outputs."""
    sizes = layer_output_sizes(keras_model)
    order = {name: i for i, name in enumerate(sizes)}
    graph = tflite.main
    chosen: dict[str, LayerTensor] = {}
    for op in graph.operators:
        for index in op.outputs:
            if index < 0:
                continue
            tensor = graph.tensors[index]
            if tensor.is_constant or tensor.dtype not in _ACTIVATION_DTYPES:
                continue
            candidates = [output_layers[index]] if index in output_layers else mentioned_layers(tensor.name, sizes)
            candidates = [c for c in candidates if sizes.get(c) == tensor.num_elements]
            if candidates:
                layer = max(candidates, key=order.__getitem__)
                chosen[layer] = LayerTensor(layer, tensor, op.index, op.opcode)
    matches = sorted(chosen.values(), key=lambda m: m.op_index)
    return matches, [name for name in sizes if name not in chosen]


@dataclass
class LayerComparison:
    """Per-layer error of the integer model's intermediate tensors against the float Keras layers."""

    tflite: TFLiteModel
    keras_model: Any
    output_layers: dict[int, str]
    matches: list[LayerTensor] = field(init=False)
    unmatched: list[str] = field(init=False)
    stats: list[ErrorStats] = field(init=False)
    samples: int = 0
    _probe: Any = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.matches, self.unmatched = match_layers(self.tflite, self.keras_model, self.output_layers)
        self.stats = [ErrorStats() for _ in self.matches]
        if self.matches:
            outputs = [self.keras_model.get_layer(m.layer).output for m in self.matches]
            self._probe = _keras_of(self.keras_model).Model(self.keras_model.inputs, outputs)

    def float_values(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The matched layers' float outputs for a batch (one array per match)."""
        feed = arrays if len(arrays) > 1 else arrays[0]
        result = self._probe(feed, training=False)
        result = result if isinstance(result, list | tuple) else [result]
        return [np.asarray(r, np.float32) for r in result]

    def update(self, float_values: list[np.ndarray], row: int, runner: Any) -> None:
        """Compare sample `row` of `float_values` with the tensors the runner holds after its last run."""
        for match, stats, values in zip(self.matches, self.stats, float_values, strict=True):
            quantized = runner.tensor(match.tensor.index)
            stats.update(values[row].ravel(), dequantize_output(quantized, match.tensor).ravel())
        self.samples += 1

    def rows(self) -> list[dict[str, Any]]:
        """One row per matched layer, worst (lowest SQNR) first."""
        rows = []
        for position, (match, stats) in enumerate(zip(self.matches, self.stats, strict=True)):
            q = match.tensor.quantization
            scale = float(q.scale[0]) if q is not None and match.tensor.dtype != "float32" else None
            rows.append({
                "layer": match.layer, "tensor": match.tensor.name, "tensor_index": match.tensor.index,
                "op": match.opcode, "op_index": match.op_index, "order": position,
                "dtype": match.tensor.dtype, "scale": scale, "sqnr_db": stats.sqnr_db,
                "max_abs_error": stats.max_abs_error, "mean_abs_error": stats.mean_abs_error,
                "max_error_lsb": stats.max_abs_error / scale if scale else None,
            })
        return sorted(rows, key=lambda r: (r["sqnr_db"] if not math.isnan(r["sqnr_db"]) else -math.inf,
                                           r["order"]))
