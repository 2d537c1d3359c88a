"""`edgeq inspect`: what is inside any .tflite file (not only edgeq's): ops, tensors, MACs, arena, memory peak.

(Not named inspect.py: that would shadow the standard library's `inspect`.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.check.arena import activation_peak, measure_arena, tensor_bytes
from edgeq.check.macs import op_costs
from edgeq.errors import EdgeqError
from edgeq.tflite import Operator, Subgraph, Tensor, TFLiteModel, read_model
from edgeq.tflite.schema import activation_names, schema

# Option fields whose integer value is an enum of the schema: field -> enum class name.
_ENUM_FIELDS = {"fusedActivationFunction": "ActivationFunctionType", "padding": "Padding",
                "weightsFormat": "FullyConnectedOptionsWeightsFormat", "lshProjectionType": "LSHProjectionType",
                "combinerType": "CombinerType", "mode": "MirrorPadMode", "reduction": "ReduceWindowFunction"}


def _enum_name(enum_class: str, value: int) -> str | int:
    cls = getattr(schema(), enum_class, None)
    if cls is None:
        return value
    if enum_class == "ActivationFunctionType":
        return activation_names().get(value, value)
    names = {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}
    return names.get(value, value)


def _plain(value: Any) -> Any:
    """A schema options value -> JSON-friendly (numpy arrays -> lists, bytes -> text)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(type(value).__name__)  # nested tables (rare in options): name only


def operator_options(op: Operator) -> dict[str, Any]:
    """The op's builtin options as a dict, with enum values by name (`padding: 'SAME'`)."""
    if op.options is None:
        return {}
    result = {}
    for key, value in sorted(vars(op.options).items()):
        if key in _ENUM_FIELDS and isinstance(value, int):
            result[key] = _enum_name(_ENUM_FIELDS[key], value)
        else:
            result[key] = _plain(value)
    return result


def tensor_entry(tensor: Tensor) -> dict[str, Any]:
    """Index, name, shape, dtype, quantization, size and kind of one tensor."""
    quant = None
    if tensor.quantization is not None:
        q = tensor.quantization
        quant = {"scale": [float(s) for s in q.scale], "zero_point": [int(z) for z in q.zero_point],
                 "quantized_dimension": q.quantized_dimension, "per_channel": q.per_channel}
    kind = "constant" if tensor.is_constant else "variable" if tensor.is_variable else "activation"
    return {"index": tensor.index, "name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype,
            "quantization": quant, "bytes": tensor_bytes(tensor), "kind": kind}


def _subgraph_entry(model: TFLiteModel, number: int) -> dict[str, Any]:
    sg: Subgraph = model.subgraphs[number]
    costs = op_costs(model, number)
    operators = []
    for op, cost in zip(sg.operators, costs, strict=True):
        operators.append({
            "index": op.index, "op": op.opcode, "version": op.version, "custom": op.custom,
            "inputs": list(op.inputs), "outputs": list(op.outputs), "intermediates": list(op.intermediates),
            "options_type": op.options_type, "options": operator_options(op),
            "kernel_class": cost.kernel_class, "macs": cost.macs, "elements": cost.elements,
            "counted": cost.counted,
        })
    return {"index": number, "name": sg.name, "inputs": list(sg.inputs), "outputs": list(sg.outputs),
            "operators": operators, "tensors": [tensor_entry(t) for t in sg.tensors],
            "macs": sum(c.macs for c in costs)}


@dataclass
class Inspection:
    """The result of `inspect`: a JSON-ready dict plus the parsed model."""

    model: TFLiteModel
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


def inspect_model(model: TFLiteModel, *, name: str = "model.tflite", measure: bool = True) -> Inspection:
    """Describe a parsed model. `measure=False` skips the TFLM arena measurement (a child process)."""
    subgraphs = [_subgraph_entry(model, i) for i in range(len(model.subgraphs))]
    by_class: Counter[str] = Counter()
    for sg in subgraphs:
        for op in sg["operators"]:
            if op["kernel_class"]:
                by_class[op["kernel_class"]] += op["macs"]
    arena: dict[str, Any]
    if measure:
        try:
            arena = measure_arena(model).to_dict()
        except EdgeqError as exc:
            arena = {"host_bytes": None, "error": str(exc)}
    else:
        arena = {"host_bytes": None, "error": "skipped"}
    data = {
        "file": name,
        "sha256": model.sha256,
        "size_bytes": model.size,
        "schema_version": model.version,
        "description": model.description,
        "ops": model.op_counts(),
        "op_versions": model.op_versions(),
        "macs": {"total": sum(sg["macs"] for sg in subgraphs), "by_kernel_class": dict(sorted(by_class.items()))},
        "arena": arena,
        "activation_peak": activation_peak(model).to_dict() if model.main.operators else None,
        "subgraphs": subgraphs,
    }
    return Inspection(model=model, data=data)


def inspect(model: str | Path | bytes | TFLiteModel, *, measure: bool = True) -> Inspection:
    """Public API: inspect a .tflite (path, bytes or parsed model). Malformed input -> ModelFormatError."""
    if isinstance(model, TFLiteModel):
        return inspect_model(model, measure=measure)
    name = Path(model).name if isinstance(model, str | Path) else "model.tflite"
    return inspect_model(read_model(model), name=name, measure=measure)
