"""Build the TFLM check firmware: edgeq's harness + the emitted model_data and model_ops.h + the cached TFLM
library + edgeq's start-up code, linked for one QEMU machine.

The TFLM sources of a project are found by `model_ops.h` (the resolver edgeq generates); its symbol prefix is
read from the `<name>_op_resolver` typedef, and model_data.cc/.cpp beside it holds the model array.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgeq.emit.boards import Machine, data_dir
from edgeq.emulate.firmware import (
    EXIT_FAULT,
    EXIT_SETUP,
    INPUT_FILE,
    OPTIMIZE,
    Firmware,
    image_sizes,
    read_symbols,
    render_linker_script,
)
from edgeq.emulate.tflm import TflmLibrary, compilers
from edgeq.emulate.tools import Toolchain, run_tool
from edgeq.errors import VerifyError
from edgeq.render import render
from edgeq.version import __version__

_RESOLVER = re.compile(r"MicroMutableOpResolver<\s*\w+\s*>\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)_op_resolver\s*;")
ARENA_HEADROOM = 2  # the harness gives TFLM this many times the host's recommendation (it measures the real use)
ARENA_MIN = 64 * 1024


@dataclass(frozen=True)
class TflmSources:
    """An emitted TFLM project's generated sources: the directory, the symbol prefix, the model array."""

    directory: Path
    name: str
    model_data: Path


def find_tflm_sources(root: Path) -> TflmSources:
    """The generated TFLM sources under `root`, found by model_ops.h; VerifyError when there are none or
    several."""
    root = Path(root)
    headers = sorted(root.rglob("model_ops.h"))
    if not headers:
        raise VerifyError(f"{root}: no TFLM project (model_ops.h); emit one with --runtime tflm")
    if len(headers) > 1:
        found = ", ".join(str(p.relative_to(root)) for p in headers)
        raise VerifyError(f"{root}: several TFLM projects ({found}); verify one directory per model")
    directory = headers[0].parent
    match = _RESOLVER.search(headers[0].read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise VerifyError(f"{headers[0]}: no `<name>_op_resolver` typedef; it is not a model_ops.h edgeq wrote")
    data = [directory / f"model_data{ext}" for ext in (".cc", ".cpp")]
    found_data = [p for p in data if p.is_file()]
    if len(found_data) != 1 or not (directory / "model_data.h").is_file():
        raise VerifyError(f"{directory}: model_data.h with one model_data.cc or .cpp must sit beside model_ops.h")
    return TflmSources(directory=directory, name=match["name"], model_data=found_data[0])


def harness_arena_bytes(recommended: int) -> int:
    """The arena the harness gives TFLM: ample, so the measurement never depends on the host's estimate."""
    wanted = max(recommended * ARENA_HEADROOM, ARENA_MIN)
    return (wanted + 15) // 16 * 16


def render_tflm_harness(name: str, input_sizes: list[int], output_sizes: list[int], arena_bytes: int) -> str:
    """The harness main.cc for the TFLM project `name`."""
    if not input_sizes or not output_sizes:
        raise VerifyError(f"model {name} needs at least one input and one output to be verified")
    return render("_emulate/tflm_harness.cc.j2", {
        "version": __version__, "name": name, "NAME": name.upper(), "inputs": list(input_sizes),
        "outputs": list(output_sizes), "input_file": INPUT_FILE, "arena_bytes": arena_bytes})


def build_tflm_firmware(sources: TflmSources, machine: Machine, library: TflmLibrary, input_sizes: list[int],
                        output_sizes: list[int], arena_bytes: int, build_dir: Path,
                        toolchain: Toolchain) -> Firmware:
    """Compile the harness, the model array and the start-up code, and link them with libtflm.a."""
    gxx, _ = compilers(toolchain)
    build = library.build
    (build_dir / "obj").mkdir(parents=True, exist_ok=True)
    harness = build_dir / "edgeq_tflm_harness.cc"
    harness.write_text(render_tflm_harness(sources.name, input_sizes, output_sizes, arena_bytes), encoding="utf-8")
    script = build_dir / "firmware.ld"
    script.write_text(render_linker_script(machine), encoding="utf-8")

    own = [OPTIMIZE, "-ffunction-sections", "-fdata-sections", f"-DEDGEQ_EXIT_SETUP={EXIT_SETUP}",
           f"-DEDGEQ_EXIT_FAULT={EXIT_FAULT}", f"-I{sources.directory}"]
    model_object = build_dir / "obj" / "model_data.o"
    jobs = [
        ([gxx, *build.flags("c++", library=False), *own, "-c", str(harness)], build_dir / "obj" / "harness.o"),
        ([gxx, *build.flags("c++", library=False), *own, "-c", str(sources.model_data)], model_object),
        ([toolchain.gcc, *build.cpu_flags, *own, "-std=c99", "-c", str(data_dir() / "startup.c")],
         build_dir / "obj" / "edgeq_startup.o"),
    ]

    def compile_one(job: tuple[list[str], Path]) -> Path:
        command, obj = job
        run_tool([*command, "-o", str(obj)], f"compiling {Path(command[-1]).name} for {machine.cpu}")
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, jobs))

    elf = build_dir / "firmware.elf"
    map_file = build_dir / "firmware.map"
    run_tool([gxx, *build.cpu_flags, "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", f"-T{script}",
              "-Wl,--gc-sections", f"-Wl,-Map={map_file}", *map(str, objects), str(library.path), "-lm",
              "-o", str(elf)], f"linking the TFLM check firmware for {machine.name}")
    symbols = read_symbols(elf, toolchain)
    for marker in ("edgeq_mark_begin", "edgeq_mark_end"):
        if marker not in symbols:
            raise VerifyError(f"{elf.name}: marker {marker} is missing from the linked image")
    sizes = image_sizes(elf, machine, toolchain, map_file, {model_object.name})
    return Firmware(elf=elf, machine=machine, cflags=tuple(build.flags("c++", library=False)),
                    begin_marker=symbols["edgeq_mark_begin"], end_marker=symbols["edgeq_mark_end"], sizes=sizes,
                    functions=read_symbols(elf, toolchain, kinds="TtWw"))
