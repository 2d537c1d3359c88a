"""Names and float specs of a .tflite model's inputs and outputs, as its signature (or tensor names) say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgeq.tflite.reader import TFLiteModel
from edgeq.tflite.schema import schema


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output without its batch dimension."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def signature_names(tflite: TFLiteModel) -> tuple[dict[int, str], dict[int, str]]:
    """Tensor index -> name in the model's first signature, for inputs and outputs ({} without one)."""
    model = schema().Model.GetRootAs(tflite.data, 0)
    if model.SignatureDefsLength() == 0:
        return {}, {}
    signature = model.SignatureDefs(0)

    def names(count: int, get: Any) -> dict[int, str]:
        return {int(get(i).TensorIndex()): get(i).Name().decode("utf-8", "replace") for i in range(count)}

    return (names(signature.InputsLength(), signature.Inputs), names(signature.OutputsLength(), signature.Outputs))


def clean_name(name: str) -> str:
    return re.sub(r"^serving_default_|:\d+$", "", name)


def tflite_input_specs(tflite: TFLiteModel) -> list[TensorSpec]:
    """The model's inputs as float TensorSpecs (no batch dimension), named like the reference would be."""
    inputs, _ = signature_names(tflite)
    return [TensorSpec(inputs.get(t.index) or clean_name(t.name), tuple(t.shape[1:]), "float32")
            for t in tflite.main.input_tensors()]


def output_names(tflite: TFLiteModel) -> list[str]:
    """Display names of the outputs: signature names, else cleaned tensor names."""
    _, outputs = signature_names(tflite)
    return [outputs.get(t.index) or clean_name(t.name) for t in tflite.main.output_tensors()]


def io_names(tflite: TFLiteModel) -> tuple[list[str], list[str]]:
    """Display names of the inputs and outputs in the model's order: the Keras names its signature carries
    (`image`, `probs`), else the tensor names without `serving_default_` and `:0`."""
    inputs, outputs = signature_names(tflite)
    sg = tflite.main
    return ([inputs.get(t.index) or clean_name(t.name) for t in sg.input_tensors()],
            [outputs.get(t.index) or clean_name(t.name) for t in sg.output_tensors()])
