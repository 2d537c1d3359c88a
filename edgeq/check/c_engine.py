"""The compiled-C engine's cost model, for judging a target with `--runtime c`: its figures and how they are
worked out without a compiler.

The engine is generated for the model (edgeq.engine, which lies beneath check) and judged like TFLM: flash =
the engine's code + the weights + per-channel tables, RAM = the engine's arena + the caller's input and output
buffers (both exact), latency from instructions. Without a measurement (edgeq.emulate.engine_size links the
engine with arm-none-eabi-gcc), the code is estimated from edgeq/data/engine_fit.toml (kernel function sizes
and call graph per core, invoke and parameter-struct sizes); latency is the per-kernel instruction fit
(instructions = a * MACs + b * elements + c, fitted to counts under QEMU) times the file's assumed cycles per
instruction, or the instructions `edgeq verify` counted. `benchmarks/fit_engine.py` measures and writes the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from edgeq.check.macs import LatencyEstimate, op_costs
from edgeq.check.targets import TargetProfile
from edgeq.errors import EdgeqError, EmitError, TargetError, UnsupportedOpError
from edgeq.resources import data_dir
from edgeq.schema import build, read_toml
from edgeq.tflite import TFLiteModel

if TYPE_CHECKING:  # the engine itself is imported when a figure is asked for: `edgeq check` stays light
    from edgeq.engine import EngineBuild

RUNTIME = "c"
KERNELS = "compiled-c"
FIT_FILE = "engine_fit.toml"
LIBRARY_FUNCTIONS = ("memcpy", "memset")  # newlib's: not the model's objects, as in the firmware's figures

# (code bytes, how they were found) for a generated engine on a target, or None when it cannot be measured
CodeMeasure = Callable[["EngineBuild", TargetProfile], "tuple[int, str] | None"]


@dataclass(frozen=True)
class EngineFigures:
    """What the engine generated for one model needs on one target. `unsupported` (non-empty) says why the
    engine cannot generate the model at all; the other figures are then zero."""

    path: str                    # "dsp" (kernels for the DSP extension) or "portable"
    code_bytes: int              # kernels, the invoke function and the operators' parameter structs
    weights_bytes: int           # filters and biases as the kernels read them
    tables_bytes: int            # per-channel multipliers/shifts and other lookup tables
    arena_bytes: int
    io_bytes: int                # the caller's input and output buffers
    code_measured: bool          # code_bytes from a linked arm-none-eabi-gcc image (else the fitted estimate)
    code_method: str
    latency: LatencyEstimate
    unsupported: str = ""

    @property
    def flash_bytes(self) -> int:
        return self.code_bytes + self.weights_bytes + self.tables_bytes

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.io_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "code_bytes": self.code_bytes, "code_measured": self.code_measured,
                "code_method": self.code_method, "weights_bytes": self.weights_bytes,
                "tables_bytes": self.tables_bytes, "flash_bytes": self.flash_bytes,
                "arena_bytes": self.arena_bytes, "io_bytes": self.io_bytes, "ram_bytes": self.ram_bytes,
                "unsupported": self.unsupported or None}


@dataclass(frozen=True)
class InstructionFit:
    """instructions = per_mac * MACs + per_element * elements + per_call, for one kernel function."""

    per_mac: float = 0.0
    per_element: float = 0.0
    per_call: float = 0.0


@dataclass(frozen=True)
class FunctionSize:
    """One kernel function's code bytes on a core, and the functions it calls."""

    bytes: int
    calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class InvokeFit:
    """The generated invoke function's bytes: base + per_call * calls + per_argument * arguments."""

    base: float = 0.0
    per_call: float = 0.0
    per_argument: float = 0.0


@dataclass(frozen=True)
class CoreCode:
    """Code-size data for one core."""

    unknown_function_bytes: int
    unknown_params_bytes: int
    invoke: InvokeFit = field(default_factory=InvokeFit)
    params: dict[str, int] = field(default_factory=dict)
    functions: dict[str, FunctionSize] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineFit:
    """edgeq/data/engine_fit.toml."""

    cpi_source: str
    cpi: dict[str, float]                  # core (or "default") -> cycles per instruction
    instructions: dict[str, InstructionFit]  # kernel function (or "default", "invoke") -> fit
    default_core: str
    code: dict[str, CoreCode]              # core -> code-size data


@cache
def load_fit() -> EngineFit:
    """edgeq/data/engine_fit.toml, checked against its schema (errors name the key)."""
    path = data_dir(FIT_FILE)
    raw = read_toml(path, TargetError)
    cpi = dict(raw.get("cycles_per_instruction", {}))
    code = dict(raw.get("code", {}))
    flat = {"cpi_source": cpi.pop("source", None), "cpi": cpi, "instructions": raw.get("instructions", {}),
            "default_core": code.pop("default_core", None), "code": code}
    unknown = sorted(set(raw) - {"cycles_per_instruction", "instructions", "code"})
    if unknown:
        raise TargetError(f"{path.name}: unknown key(s) {', '.join(unknown)}")
    return build(EngineFit, {k: v for k, v in flat.items() if v is not None}, path.name, TargetError)


def _closure(functions: set[str], table: dict[str, FunctionSize]) -> set[str]:
    """The engine's functions reachable from `functions` (library and compiler-support calls left out, as the
    firmware's figures leave them out); a called kernel missing from the table stays in (an unknown size)."""
    todo, seen = list(functions), set()
    while todo:
        f = todo.pop()
        if f in seen or f in LIBRARY_FUNCTIONS or (f not in table and not f.startswith("eq_")):
            continue
        seen.add(f)
        todo.extend(table[f].calls if f in table else ())
    return seen


def estimate_code(build: EngineBuild, target: TargetProfile) -> tuple[int, str]:
    """(code bytes, how they were estimated): the kernel functions the model calls and everything they call,
    the invoke function (per call and per argument) and the parameter structs, from the fit for the core."""
    fit = load_fit()
    core = target.cpu.core if target.cpu.core in fit.code else fit.default_core
    entry = fit.code[core]
    called = {f for k in build.op_kernels for f in k.functions}
    kernels = _closure(called, entry.functions)
    kernel_bytes = sum(entry.functions[f].bytes if f in entry.functions else entry.unknown_function_bytes
                       for f in kernels)
    calls = sum(len(k.functions) for k in build.op_kernels) + build.final_calls
    args = sum(sum(k.args) for k in build.op_kernels) + 3 * build.final_calls
    invoke_bytes = entry.invoke.base + entry.invoke.per_call * calls + entry.invoke.per_argument * args
    params_bytes = sum(entry.params.get(k.params_type, entry.unknown_params_bytes) for k in build.op_kernels
                       if k.params_type)
    code = round(kernel_bytes + invoke_bytes + params_bytes)
    whose = f"{core}'s" if core == target.cpu.core else f"{core}'s (no fit for {target.cpu.core or target.name})"
    return code, (f"estimated (no arm-none-eabi-gcc): {whose} kernel sizes and call graph ({len(kernels)} functions, "
                  f"{kernel_bytes:,} B), invoke and parameter structs fitted to linked images "
                  f"(edgeq/data/{FIT_FILE})")


def op_work(model: TFLiteModel) -> dict[int, tuple[int, int]]:
    """Per operator (index): (MACs, elements) as the instruction fit counts them: a MAC op's output elements;
    for other ops the larger of its output elements (times the window for pooling) and its first input's
    elements (a MEAN reads many values per output)."""
    sg = model.main
    work = {}
    for cost in op_costs(model):
        op = sg.operators[cost.index]
        if cost.macs:
            work[cost.index] = (cost.macs, cost.elements)
            continue
        first = next((i for i in op.inputs if i >= 0 and not sg.tensors[i].is_constant), None)
        read = sg.tensors[first].num_elements if first is not None else 0
        work[cost.index] = (0, max(cost.elements, int(read)))
    return work


def _op_instructions(model: TFLiteModel, build: EngineBuild) -> list[tuple[int, str, int]]:
    """(op index, op, instructions) per operator from the per-kernel fit."""
    fit = load_fit().instructions
    work = op_work(model)
    rows = []
    for k in build.op_kernels:
        if not k.functions:
            continue
        macs, elements = work[k.index]
        model_of = fit.get(k.functions[0], fit["default"])
        instructions = model_of.per_mac * macs + model_of.per_element * elements + model_of.per_call
        rows.append((k.index, k.opcode, round(instructions)))
    return rows


def _cycles_per_instruction(target: TargetProfile) -> tuple[float, str]:
    fit = load_fit()
    return fit.cpi.get(target.cpu.core, fit.cpi["default"]), fit.cpi_source


def fitted_latency(model: TFLiteModel, build: EngineBuild, target: TargetProfile) -> LatencyEstimate:
    """Latency from the per-kernel instruction fit times the assumed cycles per instruction."""
    rows = _op_instructions(model, build)
    cpi, cpi_source = _cycles_per_instruction(target)
    instructions = sum(n for _, _, n in rows) + int(load_fit().instructions["invoke"].per_call)
    return _latency(instructions, [(i, op, "fitted instructions", n) for i, op, n in rows], cpi, target,
                    f"instructions from the per-kernel fit to counts under QEMU on a Cortex-M4 "
                    f"(edgeq/data/{FIT_FILE}) x {cpi:g} cycles per instruction ({cpi_source})", counted=False)


def counted_latency(instructions: int, per_op: list[dict[str, Any]], target: TargetProfile) -> LatencyEstimate:
    """Latency from the instructions `edgeq verify` counted (per_op: its per-operator rows)."""
    cpi, cpi_source = _cycles_per_instruction(target)
    rows = [(int(r["index"]), str(r["op"]), "counted instructions", int(r["instructions"]))
            for r in per_op if isinstance(r.get("index"), int)]
    return _latency(instructions, rows, cpi, target,
                    f"instructions counted under QEMU by edgeq verify x {cpi:g} cycles per instruction ({cpi_source})",
                    counted=True)


def _latency(instructions: int, rows: list[tuple[int, str, str, int]], cpi: float, target: TargetProfile,
             source: str, counted: bool) -> LatencyEstimate:
    clock = target.cpu.clock_mhz
    cycles = instructions * cpi
    return LatencyEstimate(ms=cycles / (clock * 1e3) if clock > 0 else 0.0, cycles=round(cycles), clock_mhz=clock,
                           source=source, per_op=tuple((i, op, basis, round(n * cpi)) for i, op, basis, n in rows),
                           instructions=instructions, instructions_counted=counted)


def engine_figures(model: TFLiteModel, target: TargetProfile, name: str = "model",
                   measure: CodeMeasure | None = None) -> EngineFigures:
    """The engine's flash, RAM and latency for `model` on `target` (kernels for the DSP extension where the
    profile has it). `measure` (edgeq.emulate.engine_size) gives the code size from a linked image; without it,
    or when it returns None, the code size is estimated from the fit."""
    from edgeq.engine import generate

    path = "dsp" if target.cpu.dsp else "portable"
    try:
        engine = generate(model, name, dsp=target.cpu.dsp)
    except (UnsupportedOpError, EmitError) as exc:
        none = LatencyEstimate(ms=0.0, cycles=0, clock_mhz=target.cpu.clock_mhz, source="not generated", per_op=())
        return EngineFigures(path=path, code_bytes=0, weights_bytes=0, tables_bytes=0, arena_bytes=0, io_bytes=0,
                             code_measured=False, code_method="not generated", latency=none, unsupported=str(exc))
    measured = measure(engine, target) if measure is not None else None
    code, method = measured if measured is not None else estimate_code(engine, target)
    return EngineFigures(path=path, code_bytes=code, weights_bytes=engine.weights_bytes,
                         tables_bytes=engine.tables_bytes, arena_bytes=engine.arena_bytes,
                         io_bytes=sum(engine.input_bytes) + sum(engine.output_bytes),
                         code_measured=measured is not None, code_method=method,
                         latency=fitted_latency(model, engine, target))


def memory_summary(build: EngineBuild, model: TFLiteModel, measure_tflm: bool = True) -> dict[str, Any]:
    """Arena (planned peak), its lower bound, greedy-by-size's peak, weight bytes and, when `measure_tflm`,
    the smallest host TFLM arena for the same model and the ratio. The engine's model inputs and outputs
    live in caller buffers (`io_bytes`), TFLM's inside its arena; the host TFLM arena overstates a 32-bit
    target's by ~12% (64-bit pointers in its bookkeeping)."""
    summary = build.to_dict()
    if measure_tflm:
        from edgeq.check.arena import measure_arena

        try:
            tflm = measure_arena(model).host_bytes
        except EdgeqError as exc:
            summary.update(tflm_host_arena_bytes=None, tflm_error=str(exc))
        else:
            summary.update(tflm_host_arena_bytes=tflm, arena_vs_tflm=round(build.arena_bytes / tflm, 3),
                           arena_and_io_vs_tflm=round((build.arena_bytes + summary["io_bytes"]) / tflm, 3))
    return summary
