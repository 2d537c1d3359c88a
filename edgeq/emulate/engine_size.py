"""The compiled-C engine's code size measured with arm-none-eabi-gcc: the engine is compiled and linked for the
target's core (the flags the self-check firmware uses, unused sections dropped) and its objects' share of the
image is read from the linker's map. The cost model that uses it (and estimates without it) is
edgeq.check.c_engine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edgeq.check.c_engine import EngineFigures, engine_figures
from edgeq.check.targets import TargetProfile
from edgeq.emulate.firmware import OPTIMIZE, RAM_ONLY_SECTIONS, map_contributions
from edgeq.emulate.tools import run_bounded, run_tool
from edgeq.engine import EngineBuild
from edgeq.tflite import TFLiteModel


def find_compiler() -> str | None:
    """arm-none-eabi-gcc with newlib (needed to link memcpy), or None."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        return None
    found = run_bounded([gcc, "-print-file-name=libc_nano.a"], timeout=30).stdout.strip()
    return gcc if os.path.isabs(found) else None


def measured_engine_figures(model: TFLiteModel, target: TargetProfile, name: str = "model",
                            measure: bool = True) -> EngineFigures:
    """edgeq.check.c_engine.engine_figures with the code size measured when arm-none-eabi-gcc is installed
    (`measure` False, or no compiler: estimated from the fit)."""
    gcc = find_compiler() if measure else None
    if gcc is None:
        return engine_figures(model, target, name)

    def linked(build: EngineBuild, profile: TargetProfile) -> tuple[int, str]:
        flash, _ = measure_image(build, profile, gcc)
        return (flash - build.weights_bytes - build.tables_bytes,
                f"measured: arm-none-eabi-gcc {OPTIMIZE} for {profile.cpu.core or profile.name}, linked with "
                "unused sections dropped; the engine's objects minus weights and tables")

    return engine_figures(model, target, name, measure=linked)


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
                ram += size if section.startswith((".data", *RAM_ONLY_SECTIONS)) else 0
                flash += 0 if section.startswith(RAM_ONLY_SECTIONS) else size
    return flash, ram
