"""TFLM tensor arena: measured in the host TFLM interpreter, not guessed; and the activation memory peak.

`measure_arena` finds the smallest arena with which the host TFLM interpreter allocates and invokes the
model (in a child process, because a TFLM kernel can crash when an allocation fails). The host is 64-bit,
so its arena overstates a 32-bit target's (pointers in TFLM's bookkeeping): the number is a safe floor.
`recommended_arena` adds what the target's optimized kernels request and the host's reference kernels do
not (CMSIS-NN scratch buffers from CMSIS-NN's size formulas, ESP-NN's from ESP-NN's own: edgeq.check.esp_nn),
plus the profile's margin.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.check import esp_nn
from edgeq.check.targets import TargetProfile
from edgeq.errors import EdgeqError, UnsupportedOpError
from edgeq.tflite import Operator, Subgraph, Tensor, TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES

ALIGN = 16  # TFLM aligns every arena buffer to 16 bytes (MicroArenaBufferAllocator)
_TIMEOUT_S = 300
_cache: dict[str, ArenaMeasurement | EdgeqError] = {}
_running: dict[str, tuple[subprocess.Popen[bytes], tempfile.TemporaryDirectory[str]]] = {}


def _align(n: int) -> int:
    return (int(n) + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class ArenaMeasurement:
    """The smallest arena (bytes) that allocates and invokes the model in the host (64-bit) TFLM interpreter.

    recorded_bytes: what TFLM's RecordingMicroAllocator reported using at a generous arena size.
    """

    host_bytes: int
    recorded_bytes: int
    probes: int

    def to_dict(self) -> dict[str, Any]:
        return {"host_bytes": self.host_bytes, "recorded_bytes": self.recorded_bytes, "probes": self.probes,
                "method": "bisection over arena_size in the host TFLM interpreter (allocate + invoke)"}


def _names_unsupported_op(line: str) -> bool:
    """TFLM's words for an op it lacks or a kernel refusing the tensor types."""
    return "Didn't find op" in line or "not supported" in line.lower() or "unsupported" in line.lower()


def _reason(log: str) -> str:
    """The most telling line of TFLM's log: an unsupported op, else the first that is not allocator noise."""
    lines = [" ".join(line.split()) for line in log.splitlines() if line.strip()]
    for line in lines:
        if _names_unsupported_op(line):
            return line
    useful = [line for line in lines if not line.startswith("[RecordingMicroAllocator]")]
    return useful[0] if useful else "TFLM gave no reason"


def _start_worker(model: TFLiteModel) -> tuple[subprocess.Popen[bytes], tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory(prefix="edgeq-arena-")
    path = Path(tmp.name) / "model.tflite"
    path.write_bytes(model.data)
    command = [sys.executable, "-m", "edgeq.check.arena_worker", str(path), str(len(model.main.inputs))]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE), tmp


def _run_worker(model: TFLiteModel) -> ArenaMeasurement:
    started = _running.pop(model.sha256, None)
    proc, tmp = started or _start_worker(model)
    with tmp:
        try:
            stdout, stderr = proc.communicate(timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise EdgeqError(f"measuring the TFLM arena took longer than {_TIMEOUT_S} s; the model may be too "
                             "large for a microcontroller") from None
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if proc.returncode < 0:
        raise EdgeqError(f"the TFLM interpreter crashed (signal {-proc.returncode}) while running the model; "
                         "it cannot be run as is with TFLM")
    try:
        result = json.loads(proc.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        tail = " ".join(proc.stderr.decode("utf-8", "replace").split())[-300:]
        raise EdgeqError(f"the TFLM arena measurement failed (exit {proc.returncode}): {tail or 'no output'}") from None
    if not result.get("ok"):
        reason = _reason(result.get("log", ""))
        if _names_unsupported_op(reason):
            raise UnsupportedOpError(f"TFLM cannot run this model: {reason}")
        raise EdgeqError(f"TFLM could not {result.get('stage', 'run')} the model "
                         f"(arena {result.get('arena_tried', 0):,} bytes): {reason}")
    return ArenaMeasurement(host_bytes=int(result["host_bytes"]), recorded_bytes=int(result["recorded_bytes"]),
                            probes=int(result["probes"]))


def start_measuring(model: TFLiteModel) -> None:
    """Start the arena measurement of `model` in its child process now, so that it runs on another core while
    the caller does other work; `measure_arena` collects it (the pipeline's check comes seconds later)."""
    if model.sha256 not in _cache and model.sha256 not in _running:
        _running[model.sha256] = _start_worker(model)


def measure_arena(model: TFLiteModel) -> ArenaMeasurement:
    """Smallest host TFLM arena for the model (cached per model sha256; failures are cached too).

    Raises UnsupportedOpError when TFLM lacks an op or a kernel refuses the tensor types, EdgeqError when
    TFLM fails otherwise (including a crash of the child process).
    """
    cached = _cache.get(model.sha256)
    if cached is None:
        try:
            cached = _run_worker(model)
        except EdgeqError as exc:
            cached = exc
        _cache[model.sha256] = cached
    if isinstance(cached, EdgeqError):
        raise cached
    return cached


# --- what optimized kernels add -----------------------------------------------------------------------------

def _first_dtype(sg: Subgraph, op: Operator) -> str:
    first = next((i for i in op.inputs if i >= 0), None)
    return sg.tensors[first].dtype if first is not None else ""


def _kernel_buffer(sg: Subgraph, op: Operator, mve: bool) -> tuple[int, int]:
    """(scratch, persistent) bytes CMSIS-NN requests for one int8 op beyond the reference kernel.

    Upper bounds of CMSIS-NN's *_get_buffer_size functions (Source/*/arm_*_get_buffer_sizes_s8.c).
    """
    def shape(position: int) -> tuple[int, ...]:
        return sg.tensors[op.inputs[position]].shape

    if op.opcode == "CONV_2D":
        _, kh, kw, ic = shape(1)
        col = kh * kw * ic
        if kh * kw == 1:
            return 4 * ic, 0  # arm_convolve_1x1_s8_fast (armclang DSP path)
        return max(4 * (col + (-col) % 4), 64 * math.ceil(col / 16) if mve else 0), 0
    if op.opcode == "DEPTHWISE_CONV_2D":
        _, kh, kw, channels = shape(1)
        return max(2 * channels * kh * kw, 4 * 124 * kh * kw if mve else 0), 0
    if op.opcode == "FULLY_CONNECTED":
        units = shape(1)[0]
        return 8 * units, (4 * units if mve else 0)  # per-channel multipliers/shifts; MVE kernel sums
    if op.opcode == "AVERAGE_POOL_2D":
        return 4 * sg.tensors[op.outputs[0]].shape[-1], 0
    return 0, 0


_FORMULAS = {"cmsis-nn": "CMSIS-NN's *_get_buffer_size formulas (upper bounds)",
             "esp-nn": f"ESP-NN's scratch size functions, the larger of {esp_nn.ESP_NN_VERSIONS}"}


@dataclass(frozen=True)
class KernelBuffers:
    """Bytes the target's optimized kernels add to the arena (an estimate from shapes)."""

    scratch_bytes: int      # the largest per-op scratch buffer (scratch is planned per op, like tensors)
    persistent_bytes: int   # kept for the whole run
    kernels: str

    @property
    def total(self) -> int:
        return self.scratch_bytes + self.persistent_bytes


def kernel_buffers(model: TFLiteModel, target: TargetProfile) -> KernelBuffers:
    """Estimate the extra arena the optimized kernels need (0 for reference kernels and LiteRT)."""
    kernels = target.runtime.kernels
    if target.runtime.name != "tflm" or kernels == "reference":
        return KernelBuffers(0, 0, kernels)
    scratch = persistent = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            if _first_dtype(sg, op) != "int8":
                continue
            try:
                s, p = esp_nn.op_buffers(sg, op) if kernels == "esp-nn" else _kernel_buffer(sg, op, target.cpu.mve)
            except (IndexError, ValueError, TypeError, AttributeError):  # shapes/options that do not fit the op
                continue
            scratch = max(scratch, _align(s) if s else 0)
            persistent += _align(p) if p else 0
    return KernelBuffers(scratch, persistent, kernels)


@dataclass(frozen=True)
class ArenaPlan:
    """The arena to give the target: host measurement + optimized-kernel buffers + the profile's margin."""

    measured: ArenaMeasurement
    kernel_buffers: KernelBuffers
    margin_bytes: int
    recommended_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"measured_host_bytes": self.measured.host_bytes,
                "recorded_host_bytes": self.measured.recorded_bytes,
                "kernel_buffers_bytes": self.kernel_buffers.total,
                "kernel_buffers_estimate": f"{self.kernel_buffers.kernels} scratch/persistent buffers, "
                                           f"from {_FORMULAS.get(self.kernel_buffers.kernels, 'shapes')}",
                "margin_bytes": self.margin_bytes,
                "recommended_bytes": self.recommended_bytes,
                "note": "measured on the 64-bit host, which overstates a 32-bit target's arena; the "
                        "recommendation is never below the measurement"}


def recommended_arena(model: TFLiteModel, target: TargetProfile,
                      measurement: ArenaMeasurement | None = None) -> ArenaPlan:
    """The arena size to compile into the target's firmware (never below the host measurement)."""
    measured = measurement or measure_arena(model)
    extra = kernel_buffers(model, target)
    percent = target.runtime.arena_margin_percent
    margin = target.runtime.arena_margin_bytes + math.ceil(measured.host_bytes * percent / 100)
    recommended = _align(measured.host_bytes + extra.total + margin)
    return ArenaPlan(measured=measured, kernel_buffers=extra, margin_bytes=margin, recommended_bytes=recommended)


@dataclass(frozen=True)
class TargetArena:
    """The arena TFLM needs on the target's core, measured by `edgeq verify` on the emulated board, and the
    recommendation made from it: that + the profile's margin, rounded up to 16.

    used_bytes: MicroInterpreter::arena_used_bytes() (what the self-check prints); needed_bytes: the smallest
    arena the model ran in (AllocateTensors briefly needs a little more than it keeps)."""

    needed_bytes: int
    used_bytes: int
    measured_on: str  # e.g. "QEMU mps2-an386 (cortex-m4), TFLM with cmsis-nn kernels"
    margin_bytes: int
    recommended_bytes: int

    def describe(self, target: TargetProfile) -> str:
        """For the generated sources' comments."""
        return (f"TFLM ran the model in {self.needed_bytes} bytes on {self.measured_on} (arena_used_bytes() "
                f"{self.used_bytes}), + {self.margin_bytes} bytes margin ({target.name} profile), rounded up to 16")

    def to_dict(self, host: dict[str, Any] | None = None) -> dict[str, Any]:
        """report.json's `target.arena` once the target was measured (the host's figures kept beside it)."""
        kept = {k: v for k, v in (host or {}).items() if k.startswith(("measured_host", "recorded_host"))}
        if host and "recommended_bytes" in host and host.get("source") != "target":
            kept["host_recommended_bytes"] = host["recommended_bytes"]
        elif host and "host_recommended_bytes" in host:
            kept["host_recommended_bytes"] = host["host_recommended_bytes"]
        return {**kept, "source": "target", "measured_target_bytes": self.needed_bytes,
                "target_arena_used_bytes": self.used_bytes, "measured_on": self.measured_on,
                "margin_bytes": self.margin_bytes, "recommended_bytes": self.recommended_bytes,
                "note": "the smallest arena TFLM ran the model in on the emulated target core (optimized kernels' "
                        "buffers included) replaces the 64-bit host's measurement"}


def target_arena(needed_bytes: int, used_bytes: int, target: TargetProfile, measured_on: str) -> TargetArena:
    """The recommendation from a measurement on the target's core: what the model needs + the profile's
    margin."""
    margin = target.runtime.arena_margin_bytes + math.ceil(needed_bytes * target.runtime.arena_margin_percent / 100)
    return TargetArena(needed_bytes, used_bytes, measured_on, margin, _align(needed_bytes + margin))


# --- activation memory peak (liveness over the execution order) -----------------------------------------------

def tensor_bytes(tensor: Tensor) -> int:
    """Bytes of a tensor's data; unknown (-1) dimensions count as 1."""
    dtype = NUMPY_DTYPES.get(tensor.dtype)
    itemsize = int(np.dtype(dtype).itemsize) if dtype is not None else 1
    # math.prod on Python ints: no overflow; an unknown (-1) dimension counts as 1, a 0 dimension as 0
    elements = math.prod(1 if d < 0 else int(d) for d in tensor.shape)
    return elements * itemsize


@dataclass(frozen=True)
class MemoryPeak:
    """The largest set of activation tensors alive at once, and at which operator.

    A lower bound for the non-persistent part of TFLM's arena (its planner may fragment).
    """

    bytes: int
    op_index: int
    opcode: str
    tensors: tuple[tuple[int, str, int], ...] = field(default=())  # (index, name, bytes), largest first

    def to_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "op_index": self.op_index, "op": self.opcode,
                "tensors": [{"index": i, "name": n, "bytes": b} for i, n, b in self.tensors]}

    def describe(self, limit: int = 3) -> str:
        """'op #3 CONV_2D: conv1 (36,864 B), input (9,216 B)' for messages."""
        parts = [f"{name} ({size:,} B)" for _, name, size in self.tensors[:limit]]
        more = f" and {len(self.tensors) - limit} more" if len(self.tensors) > limit else ""
        return f"op #{self.op_index} {self.opcode}: {', '.join(parts)}{more}"


def activation_peak(model: TFLiteModel, subgraph: int = 0) -> MemoryPeak:
    """Liveness of every non-constant tensor over the execution order; the op where the sum peaks."""
    sg = model.subgraphs[subgraph]
    last_op = max(len(sg.operators) - 1, 0)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def planned(index: int) -> bool:
        tensor = sg.tensors[index]
        return index >= 0 and not tensor.is_constant and not tensor.is_variable

    for index in sg.inputs:
        if planned(index):
            first[index], last[index] = 0, 0
    for op in sg.operators:
        for index in op.inputs:
            if index >= 0 and planned(index):
                first.setdefault(index, op.index)
                last[index] = max(last.get(index, op.index), op.index)
        for index in (*op.outputs, *op.intermediates):
            if index >= 0 and planned(index):
                first[index] = min(first.get(index, op.index), op.index)
                last[index] = max(last.get(index, op.index), op.index)
    for index in sg.outputs:
        if planned(index):
            first.setdefault(index, last_op)
            last[index] = last_op
    best = MemoryPeak(0, 0, sg.operators[0].opcode if sg.operators else "")
    for position in range(last_op + 1):
        live = [(i, sg.tensors[i].name, _align(tensor_bytes(sg.tensors[i])))
                for i in first if first[i] <= position <= last[i]]
        total = sum(size for _, _, size in live)
        if total > best.bytes:
            live.sort(key=lambda t: (-t[2], t[0]))
            opcode = sg.operators[position].opcode if sg.operators else ""
            best = MemoryPeak(total, position, opcode, tuple(live))
    return best
