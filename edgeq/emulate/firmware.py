"""Build the self-check firmware: the compiled-C model + edgeq's harness and start-up code, for one machine.

The C project is found by its header declaring `int <name>_invoke(` (`<name>_model.h`, or `model.h`; the engine's
interface: <NAME>_NUM_INPUTS/OUTPUTS,
<name>_input_bytes/_output_bytes, <name>_invoke). Every .c file of the project is compiled with the
target's CPU flags; a file that defines `main` (a host demo program) is left out of the link.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeq.emit.boards import EXIT_FAULT, EXIT_SETUP, Machine, data_dir, render_linker_script
from edgeq.emulate.tools import Toolchain, run_tool
from edgeq.errors import VerifyError
from edgeq.render import render
from edgeq.version import __version__

INPUT_FILE = "edgeq_inputs.bin"
OPTIMIZE = "-O2"

_INVOKE = re.compile(r"^\s*int\s+([A-Za-z_][A-Za-z0-9_]*)_invoke\s*\(", re.MULTILINE)
_DEFINES_MAIN = re.compile(r"^\s*int\s+main\s*\(", re.MULTILINE)
_NOT_LOADED = (".debug", ".comment", ".ARM.attributes", ".stab", ".gnu.attributes")
RAM_ONLY_SECTIONS = (".bss", ".heap", ".stack")


@dataclass(frozen=True)
class CProject:
    """A compiled-C model on disk: its name, sources and header directories."""

    root: Path
    name: str
    header: str  # the engine header's file name, e.g. kws_model.h
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]


def find_project(root: Path) -> CProject:
    """The compiled-C model under `root`, found by the header that declares `int <name>_invoke(`."""
    root = Path(root)
    headers = engine_headers(root)
    if not headers:
        raise VerifyError(f"{root}: no compiled-C model (a header declaring int <name>_invoke); "
                          "emit one with --runtime c")
    if len(headers) > 1:
        found = ", ".join(str(p.relative_to(root)) for p in headers)
        raise VerifyError(f"{root}: several compiled-C models ({found}); verify one directory per model")
    header, name = headers[0]
    # A host program (the engine's self-check main.c) would clash with the harness and may not even
    # compile for the target: leave out files that define main (objects are checked again after compiling).
    sources = tuple(p for p in sorted(root.rglob("*.c"))
                    if not _DEFINES_MAIN.search(p.read_text(encoding="utf-8", errors="replace")))
    includes = tuple(sorted({p.parent for p in root.rglob("*.h")}))
    return CProject(root=root, name=name, header=header.name, sources=sources, include_dirs=includes)


@dataclass(frozen=True)
class ImageSizes:
    """Memory of the linked image, in bytes. flash = code + constants + the .data load image;
    ram = .data + .bss + the heap and stack the linker script reserves. The model_* figures count only
    the model's own objects (the engine's sources, after unused sections were dropped)."""

    flash_bytes: int
    ram_bytes: int
    static_ram_bytes: int
    stack_reserved_bytes: int
    heap_reserved_bytes: int
    model_flash_bytes: int
    model_ram_bytes: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Firmware:
    """A linked self-check image and what the host needs to run and measure it."""

    elf: Path
    machine: Machine
    cflags: tuple[str, ...]
    begin_marker: int
    end_marker: int
    sizes: ImageSizes
    functions: dict[str, int]
    op_marker: int | None = None


def engine_headers(root: Path) -> list[tuple[Path, str]]:
    """(header, model name) for every header under `root` declaring a compiled-C model's `int <name>_invoke(`."""
    found = []
    for path in sorted(root.rglob("*.h")):
        match = _INVOKE.search(path.read_text(encoding="utf-8", errors="replace"))
        if match:
            found.append((path, match.group(1)))
    return found


def render_harness(name: str, input_sizes: list[int], output_sizes: list[int], header: str | None = None) -> str:
    """The harness main.c for model `name` (its engine header `header`, default `<name>_model.h`) with the I/O
    byte sizes model.tflite says it has."""
    if not input_sizes or not output_sizes:
        raise VerifyError(f"model {name} needs at least one input and one output to be verified")
    return render("_emulate/harness.c.j2", {
        "version": __version__, "name": name, "NAME": name.upper(), "inputs": list(input_sizes),
        "outputs": list(output_sizes), "input_file": INPUT_FILE, "header": header or f"{name}_model.h"})


def _object_name(source: Path, project: CProject) -> str:
    try:
        relative = source.relative_to(project.root)
    except ValueError:
        relative = Path(source.name)
    return "__".join(relative.with_suffix(".o").parts)


def _defines_main(obj: Path, toolchain: Toolchain) -> bool:
    symbols = run_tool([toolchain.nm, "--defined-only", str(obj)], f"reading symbols of {obj.name}")
    return any(line.split()[-1] == "main" for line in symbols.splitlines() if line.strip())


def build_firmware(project: CProject, machine: Machine, cpu_flags: tuple[str, ...] | list[str],
                   input_sizes: list[int], output_sizes: list[int], build_dir: Path,
                   toolchain: Toolchain) -> Firmware:
    """Compile the project with the harness and start-up code for `machine` and link firmware.elf."""
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "obj").mkdir(exist_ok=True)
    harness = build_dir / "edgeq_harness.c"
    harness.write_text(render_harness(project.name, input_sizes, output_sizes, project.header), encoding="utf-8")
    script = build_dir / "firmware.ld"
    script.write_text(render_linker_script(machine), encoding="utf-8")

    cflags = [*cpu_flags, OPTIMIZE, "-std=c99", "-ffunction-sections", "-fdata-sections",
              f"-DEDGEQ_EXIT_SETUP={EXIT_SETUP}", f"-DEDGEQ_EXIT_FAULT={EXIT_FAULT}", "-DEDGEQ_OP_MARKERS"]
    includes = [f"-I{d}" for d in project.include_dirs]

    def compile_one(source: Path, obj: Path) -> Path:
        run_tool([toolchain.gcc, *cflags, *includes, "-c", str(source), "-o", str(obj)],
                 f"compiling {source.name} for {machine.cpu}")
        return obj

    model_jobs = [(s, build_dir / "obj" / _object_name(s, project)) for s in project.sources]
    own_jobs = [(harness, build_dir / "obj" / "edgeq_harness.o"),
                (data_dir() / "startup.c", build_dir / "obj" / "edgeq_startup.o")]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        model_objects = list(pool.map(lambda job: compile_one(*job), model_jobs))
        own_objects = list(pool.map(lambda job: compile_one(*job), own_jobs))
    model_objects = [o for o in model_objects if not _defines_main(o, toolchain)]

    elf = build_dir / "firmware.elf"
    map_file = build_dir / "firmware.map"
    run_tool([toolchain.gcc, *cpu_flags, "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs",
              f"-T{script}", "-Wl,--gc-sections", f"-Wl,-Map={map_file}",
              *map(str, own_objects + model_objects), "-lm", "-o", str(elf)],
             f"linking the self-check firmware for {machine.name}")

    symbols = read_symbols(elf, toolchain)
    functions = read_symbols(elf, toolchain, kinds="TtWw")
    for marker in ("edgeq_mark_begin", "edgeq_mark_end"):
        if marker not in symbols:
            raise VerifyError(f"{elf.name}: marker {marker} is missing from the linked image")
    sizes = image_sizes(elf, machine, toolchain, map_file, {o.name for o in model_objects})
    return Firmware(elf=elf, machine=machine, cflags=tuple(cflags), begin_marker=symbols["edgeq_mark_begin"],
                    end_marker=symbols["edgeq_mark_end"], sizes=sizes, functions=functions,
                    op_marker=symbols.get("edgeq_mark_op"))


def read_symbols(elf: Path, toolchain: Toolchain, kinds: str = "") -> dict[str, int]:
    """Defined symbols of an ELF image -> address, optionally only nm types in `kinds` (e.g. "Tt")."""
    table = {}
    for line in run_tool([toolchain.nm, "--defined-only", str(elf)], f"reading symbols of {elf.name}").splitlines():
        parts = line.split()
        if len(parts) == 3 and (not kinds or parts[1] in kinds):
            table[parts[2]] = int(parts[0], 16)
    return table


def section_sizes(elf: Path, toolchain: Toolchain) -> list[tuple[str, int, int]]:
    """(name, size, address) of each loaded section, from `arm-none-eabi-size -A -d`."""
    rows = []
    for line in run_tool([toolchain.size, "-A", "-d", str(elf)], f"measuring {elf.name}").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            name, size, address = parts[0], int(parts[1]), int(parts[2])
            if size and not name.startswith(_NOT_LOADED):
                rows.append((name, size, address))
    return rows


def image_sizes(elf: Path, machine: Machine, toolchain: Toolchain, map_file: Path | None = None,
                model_objects: set[str] | None = None) -> ImageSizes:
    """Flash and RAM of the linked image (see ImageSizes for what each figure counts)."""
    flash = ram = heap = stack = 0
    for name, size, address in section_sizes(elf, toolchain):
        if machine.ram.contains(address):
            ram += size
            flash += 0 if name.startswith(RAM_ONLY_SECTIONS) else size  # .data's initial values live in flash
            heap += size if name == ".heap" else 0
            stack += size if name == ".stack" else 0
        else:
            flash += size
    model_flash = model_ram = 0
    if map_file is not None and model_objects:
        for output_section, size, obj in map_contributions(map_file.read_text(encoding="utf-8", errors="replace")):
            if Path(obj).name not in model_objects:
                continue
            in_ram = output_section.startswith((".data", *RAM_ONLY_SECTIONS))
            model_ram += size if in_ram else 0
            model_flash += 0 if output_section.startswith(RAM_ONLY_SECTIONS) else size
    return ImageSizes(flash_bytes=flash, ram_bytes=ram, static_ram_bytes=ram - heap - stack,
                      stack_reserved_bytes=stack, heap_reserved_bytes=heap, model_flash_bytes=model_flash,
                      model_ram_bytes=model_ram)


_INPUT_SECTION = re.compile(r"^ (?P<name>\S+)?\s+0x(?P<addr>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+)\s+(?P<obj>\S.*)$")


def map_contributions(text: str) -> list[tuple[str, int, str]]:
    """(output section, size, object file) for every input section GNU ld kept, from its map file."""
    _, _, text = text.partition("Linker script and memory map")
    rows = []
    output_section = ""
    for line in text.splitlines():
        if line.startswith("."):
            output_section = line.split()[0]
            continue
        match = _INPUT_SECTION.match(line)
        if match and output_section and not output_section.startswith(_NOT_LOADED) and not line.startswith(" *"):
            rows.append((output_section, int(match["size"], 16), match["obj"].strip()))
    return rows
