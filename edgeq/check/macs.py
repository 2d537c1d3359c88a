"""Multiply-accumulates per operator from tensor shapes, and the latency estimate built on them.

MACs are exact for the ops that multiply-accumulate (convolutions, fully connected, matmul, SVDF, LSTM);
every other op is counted in output elements. The latency is an ESTIMATE: cycles per MAC for the kernel
class on the target's core (from the profile, which names its source) divided by the clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edgeq.check.optable import OpInfo, load_op_table, op_info
from edgeq.check.targets import TargetProfile
from edgeq.tflite import Operator, Subgraph, TFLiteModel

_POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")


def kernel_class_of(opcode: str) -> str | None:
    """The latency class of a MAC-heavy op (the op table's kernel_class), None for every other op."""
    info = op_info(opcode)
    return info.kernel_class if info is not None else None


@dataclass(frozen=True)
class OpCost:
    """Work one operator does: MACs (MAC ops) or output elements (everything else)."""

    index: int
    opcode: str
    kernel_class: str | None
    macs: int
    elements: int
    counted: bool = True  # False: the shapes did not fit the op's schema, so nothing could be counted

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "op": self.opcode, "kernel_class": self.kernel_class, "macs": self.macs,
                "elements": self.elements, "counted": self.counted}


def _n(shape: tuple[int, ...]) -> int:
    """Elements of a shape; unknown (-1) dimensions count as 1 (batch 1 is what a device runs)."""
    return math.prod(1 if d < 0 else int(d) for d in shape)


def _shape(sg: Subgraph, op: Operator, position: int, outputs: bool = False) -> tuple[int, ...]:
    indices = op.outputs if outputs else op.inputs
    if position >= len(indices) or indices[position] < 0:
        raise ValueError(f"operand {position} absent")
    return sg.tensors[indices[position]].shape


def _mac_count(sg: Subgraph, op: Operator) -> int:
    name = op.opcode
    if name == "CONV_2D":  # filter [OC, KH, KW, IC/groups]
        _, kh, kw, ic = _shape(sg, op, 1)
        return _n(_shape(sg, op, 0, outputs=True)) * kh * kw * ic
    if name == "DEPTHWISE_CONV_2D":  # filter [1, KH, KW, OC]
        _, kh, kw, _ = _shape(sg, op, 1)
        return _n(_shape(sg, op, 0, outputs=True)) * kh * kw
    if name == "TRANSPOSE_CONV":  # inputs: output_shape, filter [OC, KH, KW, IC], input
        oc, kh, kw, _ = _shape(sg, op, 1)
        return _n(_shape(sg, op, 2)) * kh * kw * oc
    if name == "FULLY_CONNECTED":  # weights [units, depth]
        return _n(_shape(sg, op, 0, outputs=True)) * _shape(sg, op, 1)[-1]
    if name == "BATCH_MATMUL":
        lhs = _shape(sg, op, 0)
        adj_x = bool(getattr(op.options, "adjX", False))
        return _n(_shape(sg, op, 0, outputs=True)) * lhs[-2 if adj_x else -1]
    if name == "SVDF":  # weights_feature [filters, input], weights_time [filters, memory]
        batch = _shape(sg, op, 0)[0]
        return max(batch, 1) * (_n(_shape(sg, op, 1)) + _n(_shape(sg, op, 2)))
    if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        # Every step multiplies the input and the state by the 8 gate matrices (+ the projection).
        steps = _n(_shape(sg, op, 0)[:-1])
        weights = [1, 2, 3, 4, 5, 6, 7, 8, 16]
        return steps * sum(_n(_shape(sg, op, i)) for i in weights if i < len(op.inputs) and op.inputs[i] >= 0)
    return 0


def _elements(sg: Subgraph, op: Operator) -> int:
    total = sum(_n(sg.tensors[i].shape) for i in op.outputs if i >= 0)
    if op.opcode in _POOLS and op.options is not None:  # every output element reads a whole window
        window = int(getattr(op.options, "filterHeight", 1)) * int(getattr(op.options, "filterWidth", 1))
        total *= max(window, 1)
    return total


def op_costs(model: TFLiteModel, subgraph: int = 0) -> list[OpCost]:
    """MACs or elements of every operator of a subgraph, in execution order."""
    sg = model.subgraphs[subgraph]
    costs = []
    for op in sg.operators:
        kernel_class = kernel_class_of(op.opcode)
        try:
            macs = _mac_count(sg, op) if kernel_class else 0
            elements = _elements(sg, op)
            counted = True
        except (ValueError, IndexError, TypeError):  # shapes that do not fit the op: count nothing, say so
            macs, elements, counted = 0, 0, False
        costs.append(OpCost(op.index, op.opcode, kernel_class, int(macs), int(elements), counted))
    return costs


def total_macs(model: TFLiteModel) -> int:
    """MACs of one inference (all subgraphs)."""
    return sum(c.macs for i in range(len(model.subgraphs)) for c in op_costs(model, i))


@dataclass(frozen=True)
class LatencyEstimate:
    """An ESTIMATE of one inference's time on a target: cycles per op over the clock. Cycles come from the
    profile's cycles per MAC, or for the compiled-C engine from instructions (`instructions`: counted under
    QEMU when `instructions_counted`, else from the fitted per-kernel model) times assumed cycles per
    instruction (`source` says which)."""

    ms: float
    cycles: int
    clock_mhz: float
    source: str
    per_op: tuple[tuple[int, str, str, int], ...]  # (op index, op, cost basis, cycles)
    instructions: int | None = None
    instructions_counted: bool = False

    @property
    def label(self) -> str:
        """What the figure rests on, for one-line summaries."""
        return "estimate from instructions counted under QEMU" if self.instructions_counted else "estimate"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"estimate": True, "ms": round(self.ms, 3), "cycles": self.cycles,
                                "clock_mhz": self.clock_mhz, "source": self.source}
        if self.instructions is not None:
            data.update(instructions=self.instructions, instructions_counted=self.instructions_counted)
        data["per_op"] = [{"index": i, "op": op, "basis": basis, "cycles": cycles}
                          for i, op, basis, cycles in self.per_op]
        return data


def _optimized(op: Operator, sg: Subgraph, target: TargetProfile, table: dict[str, OpInfo]) -> bool:
    """Whether the target runs this op with its fast kernel for the op's activation type."""
    kernels = target.runtime.kernels
    if kernels == "reference":
        return False
    first = next((i for i in op.inputs if i >= 0), None)
    dtype = sg.tensors[first].dtype if first is not None else ""
    if target.runtime.name == "litert":  # XNNPACK covers int8 and float convolutions and matmuls
        return dtype in ("int8", "uint8", "float32", "float16")
    info = table.get(op.opcode)
    if info is None or not info.optimized(kernels):
        return False
    # CMSIS-NN / ESP-NN speed up the int8 paths (CMSIS-NN also int16 where it declares an int16 kernel).
    return dtype == "int8" or (dtype == "int16" and info.int16_registration is not None)


def estimate_latency(model: TFLiteModel, target: TargetProfile) -> LatencyEstimate:
    """Cycles of one inference on `target` (an estimate), from MACs and the profile's cycles per MAC."""
    cycles_per_mac = target.latency.cycles_per_mac
    table = load_op_table()
    per_op = []
    total = 0.0
    for number, sg in enumerate(model.subgraphs):
        for cost in op_costs(model, number):
            op = sg.operators[cost.index]
            if cost.kernel_class:
                basis = cost.kernel_class if _optimized(op, sg, target, table) else "reference"
                cycles = cost.macs * cycles_per_mac.get(basis, 0.0)
            else:
                basis, cycles = "element", cost.elements * target.latency.cycles_per_element
            total += cycles
            if number == 0:
                per_op.append((cost.index, cost.opcode, basis, int(round(cycles))))
    clock = target.cpu.clock_mhz
    ms = total / (clock * 1e3) if clock > 0 else 0.0
    return LatencyEstimate(ms=ms, cycles=int(round(total)), clock_mhz=clock, source=target.latency.source,
                           per_op=tuple(per_op))
