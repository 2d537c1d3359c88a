"""The conversion report: what was converted, how, and what came out (report.json and terminal tables)."""

from __future__ import annotations

from typing import Any

from edgeq.check.targets import TargetProfile
from edgeq.load.loader import LoadedModel
from edgeq.quantize.converter import QuantizeOptions
from edgeq.samples import SampleSet
from edgeq.tflite import Tensor, TFLiteModel
from edgeq.version import __version__


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


def conversion_report(source: LoadedModel, target: TargetProfile, options: QuantizeOptions,
                      samples: SampleSet | None, tflite: TFLiteModel) -> dict[str, Any]:
    """report.json's core: deterministic, no timestamps, no absolute paths."""
    return {
        "edgeq_version": __version__,
        "source": {"file": source.path.name, "format": source.format, "sha256": source.sha256,
                   "inputs": [s.to_dict() for s in source.inputs], "outputs": [s.to_dict() for s in source.outputs],
                   "compat_fixes": source.compat_fixes},
        "target": {"name": target.name, "kind": target.kind, "runtime": target.runtime.name,
                   "kernels": target.runtime.kernels},
        "quantization": {"mode": options.mode, "io_type": options.effective_io_type,
                         "integer_only": target.is_mcu},
        "calibration": samples.to_dict() if samples is not None else None,
        "model": {"file": "model.tflite", **model_info(tflite)},
    }
