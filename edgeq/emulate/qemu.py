"""Run self-check firmware in qemu-system-arm (always under a time-out) and read what the guest reported."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeq.emulate.firmware import EXIT_FAULT, EXIT_SETUP, INPUT_FILE, Firmware
from edgeq.emulate.tools import Toolchain, run_bounded

COUNTS_FILE = "edgeq_icount.txt"

# Guest run outcomes.
COMPLETED, FAULT, TIMEOUT, ERROR = "completed", "fault", "timeout", "error"

_CFSR_BITS = {
    0: "IACCVIOL", 1: "DACCVIOL", 3: "MUNSTKERR", 4: "MSTKERR", 5: "MLSPERR", 7: "MMARVALID",
    8: "IBUSERR", 9: "PRECISERR", 10: "IMPRECISERR", 11: "UNSTKERR", 12: "STKERR", 13: "LSPERR",
    15: "BFARVALID", 16: "UNDEFINSTR", 17: "INVSTATE", 18: "INVPC", 19: "NOCP", 20: "STKOF",
    24: "UNALIGNED", 25: "DIVBYZERO",
}
_FAULT_LINE = re.compile(r"EDGEQ FAULT (?P<kind>\S+)(?P<fields>(?: \w+=0x[0-9a-f]+)*)")


@dataclass
class SampleOutput:
    """What the guest printed for one sample: invoke's return code and the raw output bytes."""

    rc: int
    outputs: dict[int, bytes] = field(default_factory=dict)


@dataclass
class GuestRun:
    """The outcome of one QEMU run. `instructions` has one count per completed sample; with operator
    markers, `op_instructions` splits each into [prologue, one count per marked operator, epilogue] and
    `op_markers` names those operators (index, opcode) in call order."""

    status: str
    exit_code: int | None
    samples: list[SampleOutput]
    instructions: list[int]
    marker_overhead: int | None
    stack_used_bytes: int | None
    detail: str = ""
    op_markers: list[tuple[int, str]] = field(default_factory=list)
    op_instructions: list[list[int]] = field(default_factory=list)
    arena_used_bytes: int | None = None    # TFLM's arena_used_bytes() (TFLM firmware only)
    arena_needed_bytes: int | None = None  # the smallest arena the model ran alike in (0: none)


def qemu_command(toolchain: Toolchain, firmware: Firmware, plugin: Path | None, counts: Path) -> list[str]:
    """The qemu-system-arm command line: no devices but the board's own, semihosting on, the plugin."""
    command = [toolchain.qemu, "-M", firmware.machine.name, "-nodefaults", "-display", "none",
               "-monitor", "none", "-nic", "none", "-semihosting-config", "enable=on,target=native",
               "-kernel", str(firmware.elf)]
    if plugin is not None:
        # QEMU's option parser takes ",," for a literal comma inside a value.
        def escape(text: str) -> str:
            return text.replace(",", ",,")

        op = f",op={firmware.op_marker:#x}" if firmware.op_marker is not None else ""
        command += ["-plugin", f"{escape(str(plugin))},begin={firmware.begin_marker:#x},"
                               f"end={firmware.end_marker:#x}{op},out={escape(str(counts))}"]
    return command


def run_guest(firmware: Firmware, inputs: bytes, toolchain: Toolchain, plugin: Path | None, timeout: float,
              work_dir: Path, expected_samples: int) -> GuestRun:
    """Run `firmware` with `inputs` (all samples back to back) as its semihosting input file."""
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / INPUT_FILE).write_bytes(inputs)
    counts = work_dir / COUNTS_FILE
    counts.unlink(missing_ok=True)
    done = run_bounded(qemu_command(toolchain, firmware, plugin, counts), timeout=timeout, cwd=work_dir)
    samples, numbers, errors = parse_console(done.stdout)
    markers = parse_op_markers(done.stdout)
    stack, ended = numbers.get("STACK"), numbers.get("END")
    overhead, instructions, per_op = read_counts(counts, op_pair=firmware.op_marker is not None)
    fault = _FAULT_LINE.search(done.stderr + "\n" + done.stdout)

    if done.timed_out:
        status = TIMEOUT
        detail = (f"no result within {timeout:g} s (the guest hangs or is too slow; raise the time-out "
                  f"for big models); {len(samples)} sample(s) had finished")
    elif fault is not None or done.returncode == EXIT_FAULT:
        status = FAULT
        detail = describe_fault(fault.group(0) if fault else "", firmware)
    elif errors or done.returncode == EXIT_SETUP:
        status = ERROR
        detail = errors[0] if errors else f"the harness stopped with exit code {EXIT_SETUP}"
    elif done.returncode != 0:
        status = ERROR
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "has no peer" not in ln]
        detail = f"QEMU exited with code {done.returncode}" + (f": {lines[0].strip()}" if lines else "")
    elif ended != expected_samples or len(samples) != expected_samples:
        status = ERROR
        detail = f"the guest reported {len(samples)} of {expected_samples} samples"
    else:
        status, detail = COMPLETED, ""
    per_op = per_op[: len(samples)]
    if any(len(split) != len(markers) + 2 for split in per_op):  # a model without (or with other) markers
        per_op, markers = [], []
    return GuestRun(status=status, exit_code=None if done.timed_out else done.returncode,
                    samples=[samples[i] for i in sorted(samples)], instructions=instructions[: len(samples)],
                    marker_overhead=overhead, stack_used_bytes=stack, detail=detail, op_markers=markers,
                    op_instructions=per_op, arena_used_bytes=numbers.get("ARENA"),
                    arena_needed_bytes=numbers.get("ARENA_NEEDED"))


def parse_op_markers(text: str) -> list[tuple[int, str]]:
    """The guest's `EDGEQ OPS` line -> the model's marked operators as (index, opcode); [] without one."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[:2] == ["EDGEQ", "OPS"]:
            try:
                return [(int(index), opcode) for index, _, opcode in (item.partition(":") for item in parts[2:])]
            except ValueError:
                return []
    return []


def parse_console(text: str) -> tuple[dict[int, SampleOutput], dict[str, int], list[str]]:
    """The guest's EDGEQ lines -> (samples by index, numbers by tag (STACK, END, ARENA, ARENA_NEEDED), ERROR
    messages)."""
    samples: dict[int, SampleOutput] = {}
    numbers: dict[str, int] = {}
    errors = []
    for line in text.splitlines():
        parts = line.strip().split(" ", 4)
        if len(parts) < 2 or parts[0] != "EDGEQ":
            continue
        tag = parts[1]
        try:
            if tag == "SAMPLE" and parts[3] == "RC":
                samples[int(parts[2])] = SampleOutput(rc=int(parts[4]))
            elif tag == "OUT":
                samples[int(parts[2])].outputs[int(parts[3])] = bytes.fromhex(parts[4] if len(parts) == 5 else "")
            elif tag in ("STACK", "END", "ARENA", "ARENA_NEEDED"):
                numbers[tag] = int(parts[2])
            elif tag == "ERROR":
                errors.append(line.strip()[len("EDGEQ ERROR "):])
        except (ValueError, IndexError, KeyError):
            errors.append(f"unreadable line from the guest: {line.strip()[:120]}")
    return samples, numbers, errors


def read_counts(path: Path, op_pair: bool = True) -> tuple[int | None, list[int], list[list[int]]]:
    """The plugin's file -> (begin/end marker overhead, instructions per inference, per inference the split
    [prologue, each marked operator, epilogue]). The file holds the empty begin/end pair, then (`op_pair`:
    the compiled-C harness, not TFLM's) a pair around one operator marker (that marker's own cost), then each
    inference; operator markers are "op <count>" lines before their measurement. Every figure excludes the
    markers' own instructions."""
    if not path.is_file():
        return None, [], []
    measurements: list[tuple[list[int], int]] = []
    marks: list[int] = []
    for line in path.read_text().split("\n"):
        words = line.split()
        if len(words) == 2 and words[0] == "op" and words[1].isdigit():
            marks.append(int(words[1]))
        elif len(words) == 1 and words[0].isdigit():
            measurements.append((marks, int(words[0])))
            marks = []
    first = 2 if op_pair else 1
    if len(measurements) < first:
        return (measurements[0][1] if measurements else None), [], []
    overhead = measurements[0][1]
    marker = measurements[1][1] - overhead if op_pair else 0
    totals, splits = [], []
    for marks, total in measurements[first:]:
        totals.append(total - overhead - marker * len(marks))
        if marks:
            edges = [0, *marks]
            split = [edges[i + 1] - edges[i] - marker for i in range(len(marks))]
            splits.append([*split, total - marks[-1] - overhead])
        else:
            splits.append([])
    return overhead, totals, splits


def describe_fault(line: str, firmware: Firmware) -> str:
    """A fault line from the guest -> 'usagefault at 0x... in fn+0x..: UNDEFINSTR'."""
    match = _FAULT_LINE.search(line)
    if match is None:
        return "the guest faulted (no fault line was printed)"
    fields = dict(item.split("=") for item in match["fields"].split())
    pc = int(fields.get("pc", "0"), 16)
    cfsr = int(fields.get("cfsr", "0"), 16)
    causes = [name for bit, name in sorted(_CFSR_BITS.items()) if cfsr >> bit & 1 and "VALID" not in name]
    where = f"pc {pc:#010x}"
    function = _function_at(pc, firmware.functions)
    if function:
        where += f" in {function}"
    text = f"{match['kind']} at {where}"
    if causes:
        text += f": {', '.join(causes)}"
    if cfsr >> 15 & 1:
        text += f" (bus address {fields.get('bfar')})"
    if cfsr >> 7 & 1:
        text += f" (memory address {fields.get('mmfar')})"
    return text


def _function_at(pc: int, symbols: dict[str, int]) -> str:
    best = None
    for name, address in symbols.items():
        start = address & ~1
        if start <= pc and (best is None or start > best[1]) and not name.startswith(("$", "__")):
            best = (name, start)
    if best is None:
        return ""
    return best[0] if pc == best[1] else f"{best[0]}+{pc - best[1]:#x}"
