"""Many generated engine models in one Cortex-M firmware, run in one QEMU guest: the DSP-extension kernels
executed as real instructions on an emulated core, cheaply enough for the test suite.

The firmware (edgeq's start-up code and linker script for the machine, newlib-nano with semihosting) reads
framed records from a file (int32 case id, then the case's input bytes), invokes that case's model and prints
"R <rc> <output bytes as hex>" per record.
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from engine_harness import case_table, write_sources

from edgeq.check.targets import get_target
from edgeq.emit.boards import data_dir
from edgeq.emulate import find_toolchain, machine_for
from edgeq.emulate.firmware import EXIT_FAULT, EXIT_SETUP, render_linker_script
from edgeq.emulate.tools import run_bounded, run_tool
from edgeq.engine import EngineBuild
from edgeq.tflite import TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES

CASES_FILE = "cases.bin"

_DRIVER = """
#include <stdint.h>
#include <stdio.h>
#include <string.h>
{case_table}
static unsigned char in_buf[4][{max_in}] __attribute__((aligned(16)));
static unsigned char out_buf[4][{max_out}] __attribute__((aligned(16)));

int main(void) {{
    static const char digits[] = "0123456789abcdef";
    char line[257];
    FILE *file = fopen("{cases_file}", "rb");
    int32_t id;
    if (file == NULL) {{
        return EDGEQ_EXIT_SETUP;
    }}
    while (fread(&id, sizeof id, 1, file) == 1) {{
        const case_info *c = &cases[id];
        const void *in[4];
        void *out[4];
        unsigned int k, i, used = 0;
        int rc;
        for (k = 0; k < c->n_in; ++k) {{
            in[k] = in_buf[k];
            if (fread(in_buf[k], 1, c->in_bytes[k], file) != c->in_bytes[k]) {{
                return EDGEQ_EXIT_SETUP;
            }}
        }}
        for (k = 0; k < c->n_out; ++k) {{
            out[k] = out_buf[k];
            memset(out_buf[k], 0x5A, c->out_bytes[k]);
        }}
        rc = c->fn(in, out);
        printf("R %d ", rc);
        for (k = 0; k < c->n_out; ++k) {{
            for (i = 0; i < c->out_bytes[k]; ++i) {{
                line[used++] = digits[out_buf[k][i] >> 4];
                line[used++] = digits[out_buf[k][i] & 15u];
                if (used == sizeof line - 1) {{
                    line[used] = '\\0';
                    fputs(line, stdout);
                    used = 0;
                }}
            }}
        }}
        line[used] = '\\0';
        fputs(line, stdout);
        fputc('\\n', stdout);
    }}
    fclose(file);
    return 0;
}}
"""


def build_firmware(builds: list[EngineBuild], directory: Path, target: str) -> tuple[Path, str]:
    """Write every build's files into `directory` and link one firmware for `target`'s emulated board;
    returns (ELF, QEMU machine name)."""
    toolchain = find_toolchain()
    profile = get_target(target)
    machine = machine_for(profile)
    write_sources(builds, directory)
    (directory / "driver.c").write_text(_DRIVER.format(
        case_table=case_table(builds), cases_file=CASES_FILE,
        max_in=max(max(b.input_bytes) for b in builds), max_out=max(max(b.output_bytes) for b in builds)))
    (directory / "link.ld").write_text(render_linker_script(machine))
    sources = sorted({s for b in builds for s in b.sources}) + ["driver.c", str(data_dir() / "startup.c")]
    flags = [*profile.cpu.cflags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
             "-fdata-sections", f"-DEDGEQ_EXIT_SETUP={EXIT_SETUP}", f"-DEDGEQ_EXIT_FAULT={EXIT_FAULT}"]

    def compile_one(source: str) -> str:
        obj = str(directory / (Path(source).stem + ".o"))
        run_tool([toolchain.gcc, *flags, f"-I{directory}", "-c", source, "-o", obj], f"compiling {source}",
                 cwd=directory)
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, sources))
    elf = directory / "cases.elf"
    run_tool([toolchain.gcc, *profile.cpu.cflags, "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs",
              f"-T{directory / 'link.ld'}", "-Wl,--gc-sections", *objects, "-lm", "-o", str(elf)],
             "linking the op-case firmware", cwd=directory)
    return elf, machine.name


def run_cases(elf: Path, machine: str, builds: list[EngineBuild], models: list[TFLiteModel],
              inputs: list[list[list[np.ndarray]]], timeout: float = 600) -> list[list[list[np.ndarray]]]:
    """Feed each build its input vectors in one guest run; per build and vector, the raw output arrays."""
    stream = bytearray()
    for case_id, vectors in enumerate(inputs):
        for vector in vectors:
            stream += struct.pack("<i", case_id)
            for x in vector:
                stream += np.ascontiguousarray(x).tobytes()
    work = elf.parent
    (work / CASES_FILE).write_bytes(bytes(stream))
    toolchain = find_toolchain()
    done = run_bounded([toolchain.qemu, "-M", machine, "-nodefaults", "-display", "none", "-monitor", "none",
                        "-nic", "none", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                       timeout=timeout, cwd=work)
    if done.timed_out or done.returncode != 0:
        raise AssertionError(f"guest failed ({'time-out' if done.timed_out else done.returncode}): "
                             f"{(done.stdout + done.stderr)[-2000:]}")
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith("R ")]
    results, row = [], 0
    for build, model, vectors in zip(builds, models, inputs, strict=True):
        per_case = []
        outs = model.main.output_tensors()
        for _ in vectors:
            fields = lines[row]
            row += 1
            if fields[1] != "0":
                raise AssertionError(f"{build.name}_invoke returned {fields[1]}")
            data = bytes.fromhex(fields[2] if len(fields) > 2 else "")
            arrays, pos = [], 0
            for t, nbytes in zip(outs, build.output_bytes, strict=True):
                arrays.append(np.frombuffer(data[pos:pos + nbytes], dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape))
                pos += nbytes
            per_case.append(arrays)
        results.append(per_case)
    if row != len(lines):
        raise AssertionError(f"the guest printed {len(lines)} results, expected {row}")
    return results
