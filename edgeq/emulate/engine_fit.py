"""The compiled-C engine's figures for `--runtime c` (edgeq.check.c_engine.EngineFigures).

Flash: the generated engine is compiled and linked with arm-none-eabi-gcc for the target's core (the flags the
self-check firmware uses, unused sections dropped) and its objects' share of the image is read from the
linker's map; without the compiler, its code is estimated from edgeq/data/engine_fit.toml (kernel function
sizes and call graph per core, invoke and parameter-struct sizes). Weights and tables are exact either way.
RAM: the planned arena and the model's input and output buffers, exact. Latency: instructions per operator
from the per-kernel fit in the same file (instructions = a * MACs + b * elements + c, fitted to counts under
QEMU), or the instructions `edgeq verify` counted, times the file's assumed cycles per instruction.
`benchmarks/fit_engine.py` measures and writes the file.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from edgeq.check.c_engine import EngineFigures
from edgeq.check.macs import LatencyEstimate, op_costs
from edgeq.check.targets import TargetProfile
from edgeq.emulate.firmware import _RAM_ONLY, OPTIMIZE, map_contributions
from edgeq.emulate.tools import run_bounded, run_tool
from edgeq.engine import EngineBuild, generate
from edgeq.errors import EmitError, UnsupportedOpError
from edgeq.resources import data_dir
from edgeq.tflite import TFLiteModel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIT_FILE = "engine_fit.toml"
LIBRARY_FUNCTIONS = ("memcpy", "memset")  # newlib's: not the model's objects, as in the firmware's figures


@cache
def load_fit() -> dict[str, Any]:
    """edgeq/data/engine_fit.toml as a dict."""
    with open(data_dir(FIT_FILE), "rb") as handle:
        return tomllib.load(handle)


def find_compiler() -> str | None:
    """arm-none-eabi-gcc with newlib (needed to link memcpy), or None."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    found = run_bounded([gcc, "-print-file-name=libc_nano.a"], timeout=30).stdout.strip()
    return gcc if os.path.isabs(found) else None


def engine_figures(model: TFLiteModel, target: TargetProfile, name: str = "model",
                   measure: bool = True) -> EngineFigures:
    """The engine's flash, RAM and latency for `model` on `target` (kernels for the DSP extension where the
    profile has it). `measure` False (or no compiler) estimates the code size from the fit."""
    path = "dsp" if target.cpu.dsp else "portable"
    try:
        build = generate(model, name, dsp=target.cpu.dsp)
    except (UnsupportedOpError, EmitError) as exc:
        none = LatencyEstimate(ms=0.0, cycles=0, clock_mhz=target.cpu.clock_mhz, source="not generated", per_op=())
        return EngineFigures(path=path, code_bytes=0, weights_bytes=0, tables_bytes=0, arena_bytes=0, io_bytes=0,
                             code_measured=False, code_method="not generated", latency=none, unsupported=str(exc))
    gcc = find_compiler() if measure else None
    if gcc is not None:
        flash, _ = measure_image(build, target, gcc)
        code = flash - build.weights_bytes - build.tables_bytes
        method = (f"measured: arm-none-eabi-gcc {OPTIMIZE} for {target.cpu.core or target.name}, linked with "
                  "unused sections dropped; the engine's objects minus weights and tables")
    else:
        code, method = estimate_code(build, target)
    return EngineFigures(path=path, code_bytes=code, weights_bytes=build.weights_bytes,
                         tables_bytes=build.tables_bytes, arena_bytes=build.arena_bytes,
                         io_bytes=sum(build.input_bytes) + sum(build.output_bytes), code_measured=gcc is not None,
                         code_method=method, latency=fitted_latency(model, build, target))


def measure_image(build: EngineBuild, target: TargetProfile, gcc: str) -> tuple[int, int]:
    """(flash, RAM) of the engine's own objects in an image linked from `<name>_invoke` for the target's core."""
    cflags = [*target.cpu.cflags, OPTIMIZE, "-std=c99", "-ffunction-sections", "-fdata-sections"]
    with tempfile.TemporaryDirectory(prefix="edgeq-engine-size-") as tmp:
        work = Path(tmp)
        for relative, data in build.files.items():
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            (work / relative).write_bytes(data)
        objects = []
        for source in build.sources:
            obj = work / (Path(source).stem + ".o")
            run_tool([gcc, *cflags, f"-I{work}", "-c", str(work / source), "-o", str(obj)],
                     f"compiling {source} for {target.cpu.core or target.name}")
            objects.append(obj)
        map_file = work / "engine.map"
        run_tool([gcc, *target.cpu.cflags, "-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                  f"-Wl,-e,{build.name}_invoke", f"-Wl,-Map={map_file}", *map(str, objects), "-lm",
                  "-o", str(work / "engine.elf")], "linking the engine to measure it")
        names = {o.name for o in objects}
        flash = ram = 0
        for section, size, obj in map_contributions(map_file.read_text(encoding="utf-8", errors="replace")):
            if Path(obj).name in names:
                ram += size if section.startswith((".data", *_RAM_ONLY)) else 0
                flash += 0 if section.startswith(_RAM_ONLY) else size
    return flash, ram


def _closure(functions: set[str], table: dict[str, Any]) -> set[str]:
    """The engine's functions reachable from `functions` (library and compiler-support calls left out, as the
    firmware's figures leave them out); a called kernel missing from the table stays in (an unknown size)."""
    todo, seen = list(functions), set()
    while todo:
        f = todo.pop()
        if f in seen or f in LIBRARY_FUNCTIONS or (f not in table and not f.startswith("eq_")):
            continue
        seen.add(f)
        todo.extend(table.get(f, {}).get("calls", []))
    return seen


def estimate_code(build: EngineBuild, target: TargetProfile) -> tuple[int, str]:
    """(code bytes, how they were estimated): the kernel functions the model calls and everything they call,
    the invoke function (per call and per argument) and the parameter structs, from the fit for the core."""
    fit = load_fit()["code"]
    core = target.cpu.core if target.cpu.core in fit else fit["default_core"]
    entry = fit[core]
    functions = entry["functions"]
    called = {f for k in build.op_kernels for f in k.functions}
    kernels = _closure(called, functions)
    kernel_bytes = sum(int(functions.get(f, {}).get("bytes", entry["unknown_function_bytes"])) for f in kernels)
    calls = sum(len(k.functions) for k in build.op_kernels) + build.final_calls
    args = sum(sum(k.args) for k in build.op_kernels) + 3 * build.final_calls
    invoke = entry["invoke"]
    invoke_bytes = (invoke.get("base", 0.0) + invoke.get("per_call", 0.0) * calls
                    + invoke.get("per_argument", 0.0) * args)
    params = entry["params"]
    params_bytes = sum(int(params.get(k.params_type, entry["unknown_params_bytes"])) for k in build.op_kernels
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
    fit = load_fit()["instructions"]
    work = op_work(model)
    rows = []
    for k in build.op_kernels:
        if not k.functions:
            continue
        macs, elements = work[k.index]
        model_of = fit.get(k.functions[0], fit["default"])
        instructions = (model_of.get("per_mac", 0.0) * macs + model_of.get("per_element", 0.0) * elements
                        + model_of.get("per_call", 0.0))
        rows.append((k.index, k.opcode, round(instructions)))
    return rows


def _cycles_per_instruction(target: TargetProfile) -> tuple[float, str]:
    table = load_fit()["cycles_per_instruction"]
    value = table.get(target.cpu.core, table["default"])
    return float(value), str(table["source"])


def fitted_latency(model: TFLiteModel, build: EngineBuild, target: TargetProfile) -> LatencyEstimate:
    """Latency from the per-kernel instruction fit times the assumed cycles per instruction."""
    rows = _op_instructions(model, build)
    cpi, cpi_source = _cycles_per_instruction(target)
    instructions = sum(n for _, _, n in rows) + int(load_fit()["instructions"]["invoke"]["per_call"])
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
