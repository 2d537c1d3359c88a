"""Compile-check helpers for the emit tests: generated C/C++ through host gcc and arm-none-eabi-gcc."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgeq.templates import output_path, registry

WARNINGS = ("-Wall", "-Wextra", "-Werror")
HERE = Path(__file__).resolve().parent
TFLM_SHIM = HERE / "tflm_shim"          # declaration-only stand-in for TFLM's headers (see its files)
PLATFORM_SHIM = HERE / "platform_shim"  # declaration-only Zephyr / ESP-IDF / Arduino declarations


@dataclass(frozen=True)
class Job:
    """One compiler run: `source` compiled as `language` ('c' or 'c++') with `flags`."""

    compiler: str
    source: Path
    language: str
    flags: tuple[str, ...] = ()
    includes: tuple[Path, ...] = ()

    def command(self) -> list[str]:
        std = "-std=c11" if self.language == "c" else "-std=c++17"
        return [self.compiler, "-x", self.language, std, *WARNINGS, *self.flags,
                *(f"-I{path}" for path in self.includes), "-c", str(self.source), "-o", os.devnull]


def run_jobs(jobs: Sequence[Job]) -> None:
    """Run every job (2 at a time); fail with the compiler's messages for each job that did not compile."""
    def run(job: Job) -> str | None:
        proc = subprocess.run(job.command(), capture_output=True, text=True, check=False)
        if proc.returncode == 0 and not proc.stderr.strip():
            return None
        return f"$ {' '.join(job.command())}\n{proc.stderr.strip()}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [message for message in pool.map(run, jobs) if message]
    assert not failures, "generated code does not compile cleanly:\n\n" + "\n\n".join(failures)


def project_jobs(project: Path, template: str, name: str, cxx: str, cc: str, flags: Sequence[str] = (),
                 scratch: Path | None = None) -> list[Job]:
    """Jobs that compile every generated C/C++ file of a TFLM project: the main file and model_data as C++17
    (against the shims), model_data and the plain-C headers as C11."""
    info = registry()[template]  # where the template puts its sources and its main file, from its manifest
    src_dir, main = (output_path(info, part, {"name": name}) for part in (info.sources_dir, info.main))
    src = project / src_dir
    data = next(src.glob("model_data.c*"))
    cxx_includes = (src, TFLM_SHIM, PLATFORM_SHIM)
    # the Arduino IDE includes Arduino.h in a sketch (.ino) itself
    main_flags = (*flags, "-include", "Arduino.h") if main.endswith(".ino") else tuple(flags)
    jobs = [Job(cxx, project / main, "c++", main_flags, cxx_includes),
            Job(cxx, data, "c++", tuple(flags), (src,)),
            Job(cc, data, "c", tuple(flags), (src,))]
    scratch = scratch or project
    c_user = scratch / f"uses_headers_{template}.c"
    c_user.write_text('#include "model_data.h"\n#include "model_io.h"\n#include "model_test_data.h"\n'
                      "int edgeq_test_use(void);\n"
                      "int edgeq_test_use(void) { return (int)" + name + "_model_data[0]; }\n", encoding="utf-8")
    jobs.append(Job(cc, c_user, "c", tuple(flags), (src,)))
    return jobs
