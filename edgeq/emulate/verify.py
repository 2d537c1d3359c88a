"""Emulated on-target verification: the compiled-C model, built for the target's core, run in QEMU on golden
inputs and compared with the host TFLM interpreter (the microcontroller's truth)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.check.macs import op_costs, total_macs
from edgeq.check.targets import TargetProfile, get_target
from edgeq.emulate.firmware import CProject, Firmware, ImageSizes, build_firmware, find_project
from edgeq.emulate.machines import machine_for
from edgeq.emulate.plugin import counting_plugin
from edgeq.emulate.qemu import COMPLETED, GuestRun, run_guest
from edgeq.emulate.tools import Toolchain, find_toolchain, run_bounded
from edgeq.errors import EdgeqError, UsageError, VerifyError
from edgeq.tflite import TFLiteModel

DEFAULT_SAMPLES = 8
DEFAULT_TIMEOUT = 60.0
INSTRUCTION_COUNT = ("guest instructions QEMU executed from the call of edgeq_mark_begin to edgeq_mark_end "
                     "around one <name>_invoke, minus the same count for an empty begin/end pair")

# Report statuses; only PASSED passes.
PASSED, MISMATCH, INVOKE_ERROR = "passed", "mismatch", "invoke-error"


@dataclass
class EmulationReport:
    """The outcome of `verify`: stored under report.json["emulation"]."""

    target: str
    core: str
    machine: str
    qemu_version: str
    cpu_flags: list[str]
    samples: int
    status: str
    detail: str = ""
    outputs_equal: bool | None = None
    max_abs_diff: int | float | None = None
    mismatched_values: int | None = None
    values_compared: int = 0
    sizes: ImageSizes | None = None
    stack_used_bytes: int | None = None
    instructions: list[int] = field(default_factory=list)
    exit_code: int | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT
    per_op: list[dict[str, Any]] = field(default_factory=list)
    macs: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def instructions_per_inference(self) -> int | None:
        """Mean over the samples (they differ only where a kernel branches on data)."""
        return round(sum(self.instructions) / len(self.instructions)) if self.instructions else None

    @property
    def instructions_per_mac(self) -> float | None:
        if not self.macs or self.instructions_per_inference is None:
            return None
        return round(self.instructions_per_inference / self.macs, 3)

    def per_op_type(self) -> list[dict[str, Any]]:
        """The per-op counts summed by operator type, most instructions first."""
        totals: dict[str, list[int]] = {}
        for row in self.per_op:
            entry = totals.setdefault(row["op"], [0, 0, 0])
            entry[0] += 1
            entry[1] += row["instructions"]
            entry[2] += row["macs"]
        return [{"op": op, "count": n, "instructions": instructions, "macs": macs,
                 "instructions_per_mac": round(instructions / macs, 3) if macs else None}
                for op, (n, instructions, macs) in sorted(totals.items(), key=lambda kv: -kv[1][1])]

    def to_dict(self) -> dict[str, Any]:
        sizes = self.sizes.to_dict() if self.sizes else {}
        return {
            "passed": self.passed, "status": self.status, "detail": self.detail,
            "target": self.target, "core": self.core, "qemu_machine": self.machine,
            "qemu_version": self.qemu_version, "cpu_flags": list(self.cpu_flags), "samples": self.samples,
            "outputs_equal": self.outputs_equal, "max_abs_diff": self.max_abs_diff,
            "mismatched_values": self.mismatched_values, "values_compared": self.values_compared,
            "flash_bytes": sizes.get("flash_bytes"), "ram_bytes": sizes.get("ram_bytes"),
            "memory": {**sizes, "stack_used_bytes": self.stack_used_bytes},
            "instructions_per_inference": self.instructions_per_inference,
            "instructions_min": min(self.instructions) if self.instructions else None,
            "instructions_max": max(self.instructions) if self.instructions else None,
            "instructions_per_sample": list(self.instructions),
            "instruction_count": INSTRUCTION_COUNT,
            "macs": self.macs, "instructions_per_mac": self.instructions_per_mac,
            "per_op": [dict(row) for row in self.per_op], "per_op_type": self.per_op_type(),
            "exit_code": self.exit_code, "timeout_seconds": self.timeout_seconds,
        }

    def summary(self) -> str:
        """One line: what ran where and the verdict."""
        where = f"{self.machine} ({self.core})"
        if self.status == PASSED:
            return (f"{where}: outputs of {self.samples} sample(s) equal the host TFLM result; "
                    f"{self.instructions_per_inference:,} instructions per inference")
        if self.status == MISMATCH:
            return (f"{where}: outputs differ from the host TFLM result in {self.mismatched_values} of "
                    f"{self.values_compared} values (max difference {self.max_abs_diff})")
        return f"{where}: {self.status}: {self.detail}"

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a terminal table."""
        rows = [("target", f"{self.target} on QEMU {self.machine} ({self.core}, QEMU {self.qemu_version})"),
                ("result", "PASSED" if self.passed else f"FAILED ({self.status})")]
        if self.detail:
            rows.append(("detail", self.detail))
        if self.outputs_equal is not None:
            rows.append(("outputs", f"{'equal' if self.outputs_equal else 'DIFFERENT'} over {self.samples} "
                                    f"sample(s), {self.values_compared} values, max difference {self.max_abs_diff}"))
        if self.sizes is not None:
            s = self.sizes
            rows.append(("flash", f"{s.flash_bytes:,} bytes (model {s.model_flash_bytes:,})"))
            rows.append(("RAM", f"{s.ram_bytes:,} bytes (model {s.model_ram_bytes:,}; stack+heap reserved "
                                f"{s.stack_reserved_bytes + s.heap_reserved_bytes:,})"))
        if self.stack_used_bytes is not None:
            rows.append(("stack used", f"{self.stack_used_bytes:,} bytes by the inference"))
        if self.instructions:
            low, high = min(self.instructions), max(self.instructions)
            spread = "" if low == high else f" (min {low:,}, max {high:,})"
            per_mac = f", {self.instructions_per_mac:.2f} per MAC" if self.instructions_per_mac else ""
            rows.append(("instructions", f"{self.instructions_per_inference:,} per inference{spread}{per_mac}"))
        return rows

    def op_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """(op index, type, instructions, share, MACs, instructions/MAC) per operator, for a terminal table."""
        total = sum(row["instructions"] for row in self.per_op) or 1
        return [(str(row["index"]), row["op"], f"{row['instructions']:,}", f"{100 * row['instructions'] / total:.1f}%",
                 f"{row['macs']:,}" if row["macs"] else "-",
                 f"{row['instructions_per_mac']:.2f}" if row["instructions_per_mac"] else "-")
                for row in self.per_op]


def report_target(out_dir: Path) -> str:
    """The target name recorded in OUT/report.json ("target": {"name": ...} or "target": "name")."""
    path = Path(out_dir) / "report.json"
    if not path.is_file():
        raise VerifyError(f"{path} not found: pass --target, or verify a directory written by edgeq convert")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerifyError(f"{path} is not valid JSON ({exc}); pass --target") from None
    target = data.get("target") if isinstance(data, dict) else None
    if isinstance(target, dict):
        target = target.get("name")
    if not isinstance(target, str) or not target:
        raise VerifyError(f"{path} names no target; pass --target")
    return target


def qemu_version(toolchain: Toolchain) -> str:
    done = run_bounded([toolchain.qemu, "--version"], timeout=30)
    words = done.stdout.split()
    return words[3] if len(words) > 3 and words[:3] == ["QEMU", "emulator", "version"] else "unknown"


def emulate_project(project: CProject, profile: TargetProfile, samples: list[list[bytes]],
                    output_sizes: list[int], timeout: float, work_dir: Path,
                    toolchain: Toolchain | None = None) -> tuple[Firmware, GuestRun]:
    """Build `project` for `profile`'s emulated board and run it on `samples` (raw input bytes per sample)."""
    if not samples:
        raise UsageError("emulated verification needs at least one sample")
    toolchain = toolchain or find_toolchain()
    machine = machine_for(profile)
    input_sizes = [len(x) for x in samples[0]]
    if any([len(x) for x in sample] != input_sizes for sample in samples):
        raise VerifyError("samples differ in input sizes; every sample must match the model's inputs")
    firmware = build_firmware(project, machine, profile.cpu.cflags, input_sizes, output_sizes,
                              work_dir / "build", toolchain)
    blob = b"".join(b"".join(sample) for sample in samples)
    run = run_guest(firmware, blob, toolchain, counting_plugin(toolchain), timeout, work_dir / "run",
                    expected_samples=len(samples))
    return firmware, run


def _compare(expected: list[tuple[np.ndarray, ...]], run: GuestRun) -> tuple[bool, float | None, int, int]:
    """(equal, max |difference| in raw units (None if not finite), values that differ, values compared)."""
    max_diff = mismatched = compared = 0
    for want, got in zip(expected, run.samples, strict=True):
        for index, array in enumerate(want):
            raw = got.outputs.get(index)
            if raw is None or len(raw) != array.nbytes:
                raise VerifyError(f"the guest printed {0 if raw is None else len(raw)} bytes for output {index}, "
                                  f"the model has {array.nbytes}")
            guest = np.frombuffer(raw, dtype=array.dtype).reshape(array.shape)
            if np.issubdtype(array.dtype, np.floating):
                diff = np.abs(guest.astype(np.float64) - array.astype(np.float64))
                diff = np.where(np.isnan(diff), np.inf, diff)
            else:
                diff = np.abs(guest.astype(np.int64) - array.astype(np.int64))
            max_diff = max(max_diff, float(diff.max()) if diff.size else 0)
            mismatched += int(np.count_nonzero(diff))
            compared += int(diff.size)
    if not np.isfinite(max_diff):  # NaN/inf from a float output: JSON has no number for it
        return False, None, mismatched, compared
    return mismatched == 0, int(max_diff) if float(max_diff).is_integer() else max_diff, mismatched, compared


def per_op_counts(model: TFLiteModel, run: GuestRun) -> list[dict[str, Any]]:
    """Per marked operator: index, type, mean instructions over the samples, MACs and instructions/MAC;
    the invoke's own prologue and epilogue (argument checks, output copies) as one row of type "(invoke)"."""
    if not run.op_instructions:
        return []
    costs = {cost.index: cost for cost in op_costs(model)}
    count = len(run.op_instructions)
    means = [round(sum(split[k] for split in run.op_instructions) / count) for k in range(len(run.op_markers) + 2)]
    rows = []
    for (index, opcode), instructions in zip(run.op_markers, means[1:-1], strict=True):
        cost = costs.get(index)
        macs = cost.macs if cost is not None else 0
        rows.append({"index": index, "op": opcode, "instructions": instructions, "macs": macs,
                     "instructions_per_mac": round(instructions / macs, 3) if macs else None})
    rows.append({"index": "-", "op": "(invoke)", "instructions": means[0] + means[-1], "macs": 0,
                 "instructions_per_mac": None})
    return rows


def verify(out_dir: str | Path, samples: int = DEFAULT_SAMPLES, timeout: float = DEFAULT_TIMEOUT,
           target: str | None = None) -> EmulationReport:
    """Build OUT's compiled-C model for its target, run `samples` golden inputs on the emulated board and
    compare every output with the host TFLM interpreter. Raises ToolMissingError/VerifyError when it cannot
    run at all; a mismatch, fault or time-out is a report with `passed` False."""
    from edgeq.tflite import read_model
    from edgeq.tflite.golden import golden_vectors

    out_dir = Path(out_dir)
    if samples < 1:
        raise UsageError("--samples must be at least 1")
    profile = get_target(target or report_target(out_dir))
    machine = machine_for(profile)
    toolchain = find_toolchain()
    model_path = out_dir / "model.tflite"
    if not model_path.is_file():
        raise VerifyError(f"{model_path} not found: verify a directory written by edgeq convert --runtime c")
    model = read_model(model_path)
    project = find_project(out_dir)
    try:
        vectors = golden_vectors(model, samples)
    except EdgeqError as exc:
        raise VerifyError(f"no host reference for {model_path.name}: {exc}") from None
    inputs = [[np.ascontiguousarray(x).tobytes() for x in v.inputs] for v in vectors]
    output_sizes = [int(np.asarray(y).nbytes) for y in vectors[0].outputs]
    with tempfile.TemporaryDirectory(prefix="edgeq-verify-") as tmp:
        firmware, run = emulate_project(project, profile, inputs, output_sizes, timeout, Path(tmp), toolchain)

    report = EmulationReport(target=profile.name, core=machine.cpu, machine=machine.name,
                             qemu_version=qemu_version(toolchain), cpu_flags=list(profile.cpu.cflags),
                             samples=samples, status=run.status, detail=run.detail, sizes=firmware.sizes,
                             stack_used_bytes=run.stack_used_bytes, instructions=run.instructions,
                             exit_code=run.exit_code, timeout_seconds=timeout, macs=total_macs(model),
                             per_op=per_op_counts(model, run))
    if run.status != COMPLETED:
        return report
    failed = [(i, s.rc) for i, s in enumerate(run.samples) if s.rc != 0]
    if failed:
        report.status = INVOKE_ERROR
        report.detail = (f"{project.name}_invoke returned {failed[0][1]} on sample {failed[0][0]} "
                         f"({len(failed)} of {samples} samples failed)")
        return report
    equal, max_diff, mismatched, compared = _compare([tuple(v.outputs) for v in vectors], run)
    report.outputs_equal, report.max_abs_diff = equal, max_diff
    report.mismatched_values, report.values_compared = mismatched, compared
    report.status = PASSED if equal else MISMATCH
    if not equal:
        report.detail = f"{mismatched} of {compared} output values differ (max difference {max_diff})"
    return report


def store_emulation(out_dir: str | Path, report: EmulationReport) -> Path:
    """Set report.json["emulation"] in OUT, atomically (a temporary file renamed over the old one)."""
    from edgeq.output import json_text

    path = Path(out_dir) / "report.json"
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise VerifyError(f"{path} is not valid JSON; not overwriting it") from None
    data["emulation"] = report.to_dict()
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, partial = tempfile.mkstemp(prefix=".report.json.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(json_text(data))
        os.chmod(partial, mode)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path
