"""Emulated on-target verification: the emitted model (compiled-C engine, or TFLM with edgeq's resolver), built
for the target's core, run in QEMU on golden inputs and compared with the host TFLM interpreter (the
microcontroller's truth)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeq.check.macs import op_costs, total_macs
from edgeq.check.targets import TargetProfile, get_target
from edgeq.emit.boards import machine_for
from edgeq.emulate.firmware import CProject, Firmware, ImageSizes, build_firmware, engine_headers, find_project
from edgeq.emulate.plugin import counting_plugin
from edgeq.emulate.qemu import COMPLETED, GuestRun, run_guest
from edgeq.emulate.tools import Toolchain, find_toolchain, run_bounded
from edgeq.errors import EdgeqError, UsageError, VerifyError
from edgeq.record import REPORT_FILE, RecordError, read_report

if TYPE_CHECKING:
    from edgeq.check.arena import TargetArena
    from edgeq.tflite import TFLiteModel

DEFAULT_SAMPLES = 8
DEFAULT_TIMEOUT = 60.0
INSTRUCTION_COUNT = ("guest instructions QEMU executed from the call of edgeq_mark_begin to edgeq_mark_end "
                     "around one inference (<name>_invoke, or TFLM's Invoke), minus the same count for an empty "
                     "begin/end pair")
RUNTIMES = ("c", "tflm")

# Report statuses; only PASSED passes.
PASSED, MISMATCH, INVOKE_ERROR, ARENA_ERROR = "passed", "mismatch", "invoke-error", "arena-error"


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
    runtime: str = "c"                  # what ran the model: "c" (edgeq's compiled-C engine) or "tflm"
    kernels: str = "compiled-c"         # TFLM's kernels ("cmsis-nn", "reference") or "compiled-c"
    arena_used_bytes: int | None = None    # TFLM's arena_used_bytes() on the emulated core
    arena_needed_bytes: int | None = None  # the smallest arena (multiple of 16) the model ran alike in
    arena_given_bytes: int | None = None
    tflm: dict[str, Any] | None = None  # the tree and the cached library the firmware was linked with

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
            "runtime": self.runtime, "kernels": self.kernels,
            "arena": None if self.arena_used_bytes is None else {
                "used_bytes": self.arena_used_bytes, "needed_bytes": self.arena_needed_bytes,
                "given_bytes": self.arena_given_bytes,
                "method": "used: TFLM's MicroInterpreter::arena_used_bytes() on the emulated core after the "
                          "samples ran; needed: the smallest arena (a multiple of 16 bytes, found by bisection on "
                          "the core) in which the last sample allocated, ran and gave the same outputs again "
                          "(AllocateTensors briefly needs more than it keeps)"},
            "tflm": self.tflm,
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
                ("runtime", "TensorFlow Lite Micro, " + self.kernels + " kernels" if self.runtime == "tflm"
                 else "edgeq's compiled-C engine"),
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
        if self.arena_used_bytes is not None:
            needed = f"; the model runs in {self.arena_needed_bytes:,}" if self.arena_needed_bytes else ""
            rows.append(("arena", f"TFLM used {self.arena_used_bytes:,} bytes on the {self.core}{needed}"))
        if self.stack_used_bytes is not None:
            rows.append(("stack used", f"{self.stack_used_bytes:,} bytes by the inference"))
        if self.instructions:
            low, high = min(self.instructions), max(self.instructions)
            spread = "" if low == high else f" (min {low:,}, max {high:,})"
            per_mac = f", {self.instructions_per_mac:.2f} per MAC" if self.instructions_per_mac else ""
            rows.append(("instructions", f"{self.instructions_per_inference:,} per inference{spread}{per_mac}"))
        return rows

    def op_rows(self) -> list[tuple[str, str, str, str, str, str, str]]:
        """(op index, type, kernel, instructions, share, MACs, instructions/MAC) per operator, for a terminal
        table."""
        total = sum(row["instructions"] for row in self.per_op) or 1
        return [(str(row["index"]), row["op"], row.get("kernel") or "-", f"{row['instructions']:,}",
                 f"{100 * row['instructions'] / total:.1f}%", f"{row['macs']:,}" if row["macs"] else "-",
                 f"{row['instructions_per_mac']:.2f}" if row["instructions_per_mac"] else "-")
                for row in self.per_op]


def report_target(out_dir: Path) -> str:
    """The target name recorded in OUT/report.json (older reports' `"target": "name"` too)."""
    path = Path(out_dir) / REPORT_FILE
    if not path.exists():  # a FIFO or device is read_report's to refuse
        raise VerifyError(f"{path} not found: pass --target, or verify a directory written by edgeq convert or "
                          "edgeq emit")
    try:
        target = read_report(out_dir).target
    except RecordError as exc:
        raise VerifyError(f"{exc}; pass --target") from None
    if target is None or not target.name:
        raise VerifyError(f"{path} names no target; pass --target")
    return target.name


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


_OP_COMMENT = re.compile(r"^\s*/\* op (\d+) \w+:")
_KERNEL_CALL = re.compile(r"^\s*(eq_\w+)\(")


def op_kernels(sources: Sequence[Path]) -> dict[int, str]:
    """Per operator index, the kernel functions its calls in a compiled-C model's invoke use (in call order,
    '+'-joined): what the generated code chose (a DSP kernel, a 3x3 variant, the portable one), so that a
    change of kernel shows in verify's per-operator table."""
    kernels: dict[int, list[str]] = {}
    for source in sources:
        current = None
        for line in source.read_text(encoding="utf-8", errors="replace").splitlines():
            if (m := _OP_COMMENT.match(line)) is not None:
                current = int(m.group(1))
            elif current is not None and (m := _KERNEL_CALL.match(line)) is not None:
                kernels.setdefault(current, []).append(m.group(1))
    return {index: "+".join(dict.fromkeys(names)) for index, names in kernels.items()}


def per_op_counts(model: TFLiteModel, run: GuestRun, kernels: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Per marked operator: index, type, mean instructions over the samples, MACs and instructions/MAC, and
    (a compiled-C model) its kernel functions; the invoke's own prologue and epilogue (argument checks, output
    copies) as one row of type "(invoke)"."""
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
                     "instructions_per_mac": round(instructions / macs, 3) if macs else None,
                     "kernel": (kernels or {}).get(index, "")})
    rows.append({"index": "-", "op": "(invoke)", "instructions": means[0] + means[-1], "macs": 0,
                 "instructions_per_mac": None, "kernel": ""})
    return rows


def project_runtime(out_dir: Path) -> str:
    """What runs the model in OUT: report.json's project runtime, else 'c' for a compiled-C model (a header
    declaring <name>_invoke) and 'tflm' for a TFLM project (model_ops.h)."""
    try:
        project = read_report(out_dir).project
        if project is not None and project.runtime in RUNTIMES:
            return project.runtime
    except RecordError:
        pass  # no usable record: look at the files
    compiled = bool(engine_headers(out_dir))
    tflm = any(out_dir.rglob("model_ops.h"))
    if compiled and tflm:
        raise VerifyError(f"{out_dir} holds both a compiled-C model and a TFLM project; verify one at a time")
    if not compiled and not tflm:
        raise VerifyError(f"{out_dir}: no firmware project to verify; write one with edgeq convert or edgeq emit "
                          "(--runtime c or tflm)")
    return "c" if compiled else "tflm"


def verify(out_dir: str | Path, samples: int = DEFAULT_SAMPLES, timeout: float = DEFAULT_TIMEOUT,
           target: str | None = None, tflm_tree: str | Path | None = None,
           on_build: Callable[[int, Path], None] | None = None,
           on_clean: Callable[[Path], None] | None = None) -> EmulationReport:
    """Build OUT's model for its target (the compiled-C engine, or TFLM from `tflm_tree` / $EDGEQ_TFLM_TREE with
    edgeq's resolver), run `samples` golden inputs on the emulated board and compare every output with the host
    TFLM interpreter. `on_build(files, where)` is called before a TFLM library is compiled (the first time for a
    tree and core), `on_clean(folder)` for each half-built library of a stopped run that is removed. Raises
    ToolMissingError/VerifyError when it cannot run at all; a mismatch, fault or time-out is a report with
    `passed` False."""
    from edgeq.tflite import read_model
    from edgeq.tflite.golden import golden_vectors

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise VerifyError(f"{out_dir}: no such folder; give the OUT folder of `edgeq convert --runtime c`")
    if samples < 1:
        raise UsageError("--verify-samples must be at least 1")
    profile = get_target(target or report_target(out_dir))
    machine = machine_for(profile)
    runtime = project_runtime(out_dir)
    tree = None
    if runtime == "tflm":
        from edgeq.emulate.tflm import find_tree

        tree = find_tree(tflm_tree, cmsis_nn=profile.runtime.kernels == "cmsis-nn")
    toolchain = find_toolchain()
    model_path = out_dir / "model.tflite"
    if not model_path.is_file():
        raise VerifyError(f"{model_path} not found: verify a directory written by edgeq convert or edgeq emit")
    model = read_model(model_path)
    project = find_project(out_dir) if runtime == "c" else None
    try:
        vectors = golden_vectors(model, samples)
    except EdgeqError as exc:
        raise VerifyError(f"no host reference for {model_path.name}: {exc}") from None
    inputs = [[np.ascontiguousarray(x).tobytes() for x in v.inputs] for v in vectors]
    output_sizes = [int(np.asarray(y).nbytes) for y in vectors[0].outputs]
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="edgeq-verify-") as tmp:
        if project is not None:
            firmware, run = emulate_project(project, profile, inputs, output_sizes, timeout, Path(tmp), toolchain)
        else:  # runtime tflm: find_tree gave a tree
            firmware, run, extra = _emulate_tflm(out_dir, model, profile, Path(str(tree)), inputs, output_sizes,
                                                 timeout, Path(tmp), toolchain, on_build, on_clean)

    report = EmulationReport(target=profile.name, core=machine.cpu, machine=machine.name,
                             qemu_version=qemu_version(toolchain), cpu_flags=list(profile.cpu.cflags),
                             samples=samples, status=run.status, detail=run.detail, sizes=firmware.sizes,
                             stack_used_bytes=run.stack_used_bytes, instructions=run.instructions,
                             exit_code=run.exit_code, timeout_seconds=timeout, macs=total_macs(model),
                             per_op=per_op_counts(model, run, op_kernels(project.sources) if project else None),
                             **extra)
    if run.status != COMPLETED:
        return report
    failed = [(i, s.rc) for i, s in enumerate(run.samples) if s.rc != 0]
    if failed:
        report.status = INVOKE_ERROR
        call = f"{project.name}_invoke" if project is not None else "TFLM's Invoke()"
        report.detail = (f"{call} returned {failed[0][1]} on sample {failed[0][0]} "
                         f"({len(failed)} of {samples} samples failed)")
        return report
    equal, max_diff, mismatched, compared = _compare([tuple(v.outputs) for v in vectors], run)
    report.outputs_equal, report.max_abs_diff = equal, max_diff
    report.mismatched_values, report.values_compared = mismatched, compared
    report.status = PASSED if equal else MISMATCH
    if not equal:
        report.detail = f"{mismatched} of {compared} output values differ (max difference {max_diff})"
    elif runtime == "tflm":
        report.arena_used_bytes, report.arena_needed_bytes = run.arena_used_bytes, run.arena_needed_bytes
        if not run.arena_used_bytes or run.arena_needed_bytes is None:
            report.status, report.detail = ARENA_ERROR, "the guest did not report the arena TFLM used"
        elif run.arena_needed_bytes == 0:
            report.status = ARENA_ERROR
            report.detail = (f"the last sample did not run alike again in the {report.arena_given_bytes} bytes of "
                             "arena it first ran in")
    return report


def _emulate_tflm(out_dir: Path, model: TFLiteModel, profile: TargetProfile, tree: Path,
                  samples: list[list[bytes]], output_sizes: list[int], timeout: float, work_dir: Path,
                  toolchain: Toolchain, on_build: Callable[[int, Path], None] | None,
                  on_clean: Callable[[Path], None] | None = None) -> tuple[Firmware, GuestRun, dict[str, Any]]:
    """Build (or reuse) TFLM for the core, link edgeq's TFLM harness with OUT's sources and run it."""
    from edgeq.check.arena import recommended_arena
    from edgeq.emulate.tflm import tflm_library
    from edgeq.emulate.tflm_firmware import build_tflm_firmware, find_tflm_sources, harness_arena_bytes

    sources = find_tflm_sources(out_dir)
    library = tflm_library(tree, profile, toolchain, on_start=on_build, on_clean=on_clean)
    arena = harness_arena_bytes(recommended_arena(model, profile).recommended_bytes)
    machine = machine_for(profile)
    input_sizes = [len(x) for x in samples[0]]
    firmware = build_tflm_firmware(sources, machine, library, input_sizes, output_sizes, arena,
                                   work_dir / "build", toolchain)
    blob = b"".join(b"".join(sample) for sample in samples)
    run = run_guest(firmware, blob, toolchain, counting_plugin(toolchain), timeout, work_dir / "run",
                    expected_samples=len(samples))
    kernels = "cmsis-nn" if profile.runtime.kernels == "cmsis-nn" else "reference"
    extra = {"runtime": "tflm", "kernels": kernels, "arena_given_bytes": arena,
             "tflm": {"tree": str(tree), "tree_sha256": library.tree_digest, "library": str(library.path),
                      "library_built_now": library.built_now}}
    return firmware, run, extra


def measured_arena(report: EmulationReport) -> TargetArena | None:
    """The recommendation from the arena TFLM used on the emulated core (None unless a TFLM run passed)."""
    from edgeq.check.arena import target_arena

    if not report.passed or not report.arena_used_bytes or not report.arena_needed_bytes:
        return None
    where = f"QEMU {report.machine} ({report.core}), TFLM with {report.kernels} kernels"
    return target_arena(report.arena_needed_bytes, report.arena_used_bytes, get_target(report.target), where)


def store_emulation(out_dir: str | Path, report: EmulationReport) -> Path:
    """Set report.json's `emulation` in OUT, atomically (a reader never sees half a file). A passed TFLM run also
    replaces the host-measured arena recommendation (`target.arena`). A report.json edgeq did not write is never
    rewritten; without one, a new report names the target and the run."""
    from edgeq.check.rules import target_identity
    from edgeq.record import EmulationRecord, Report, TargetRecord, section
    from edgeq.staging import json_text, update_output_file
    from edgeq.version import __version__

    path = Path(out_dir) / REPORT_FILE
    if path.is_file():
        try:
            record = read_report(out_dir)
        except RecordError as exc:
            raise VerifyError(f"{exc}; not overwriting it") from None
    else:
        identity = target_identity(get_target(report.target), "c" if report.runtime == "c" else None)
        record = Report(edgeq_version=__version__, written_by="edgeq verify", target=section(TargetRecord, identity))
    record.emulation = section(EmulationRecord, report.to_dict())
    arena = measured_arena(report)
    if arena is not None:
        if record.target is None:
            record.target = TargetRecord(name=report.target)
        record.target.arena = arena.to_dict(record.target.arena)
    update_output_file(out_dir, REPORT_FILE, json_text(record.to_dict()))
    return path
