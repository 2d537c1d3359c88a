"""A .tflite model at a glance, as JSON-ready dicts (report.json's `model` block and emit's record)."""

from __future__ import annotations

from typing import Any

from edgeq.tflite.reader import Tensor, TFLiteModel


def tensor_info(tensor: Tensor) -> dict[str, Any]:
    """Name, shape, dtype and quantization of one tensor."""
    info: dict[str, Any] = {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype}
    if tensor.quantization is not None:
        info.update(tensor.quantization.to_dict())
    return info


def model_info(tflite: TFLiteModel) -> dict[str, Any]:
    """The parts of a .tflite model a user needs at a glance."""
    return {
        "sha256": tflite.sha256,
        "size_bytes": tflite.size,
        "inputs": [tensor_info(t) for t in tflite.main.input_tensors()],
        "outputs": [tensor_info(t) for t in tflite.main.output_tensors()],
        "ops": tflite.op_counts(),
        "op_versions": tflite.op_versions(),
    }
