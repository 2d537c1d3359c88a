"""Compile many generated engine models into one host executable and run inputs through all of them.

One gcc build (with AddressSanitizer and UndefinedBehaviorSanitizer) serves a whole batch of cases. The
driver mallocs every input and output buffer at exactly its size, so a kernel writing past a caller
buffer is caught, and reads framed records on stdin: int32 case id, then the case's input bytes.
"""

from __future__ import annotations

import os
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgeq.engine import EngineBuild
from edgeq.tflite import TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]

# The part of a driver program shared by the host driver here and the firmware of engine_qemu.py: every build's
# header and a table of its invoke function and I/O sizes, indexed by case id.
_CASE_TABLE = """%(includes)s

typedef int (*invoke_fn)(const void *const inputs[], void *const outputs[]);
typedef struct {
    invoke_fn fn;
    unsigned int n_in, n_out;
    const unsigned int *in_bytes;
    const unsigned int *out_bytes;
} case_info;

static const case_info cases[] = {
%(table)s
};
"""

_DRIVER = """
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
{case_table}
int main(void) {{
    int32_t id;
    while (fread(&id, sizeof id, 1, stdin) == 1) {{
        const case_info *c;
        void *in[8];
        void *out[8];
        unsigned int k;
        if (id < 0 || id >= (int32_t)(sizeof cases / sizeof cases[0])) {{
            return 2;
        }}
        c = &cases[id];
        for (k = 0; k < c->n_in; ++k) {{
            in[k] = malloc(c->in_bytes[k]);
            if (fread(in[k], 1, c->in_bytes[k], stdin) != c->in_bytes[k]) {{
                return 3;
            }}
        }}
        for (k = 0; k < c->n_out; ++k) {{
            out[k] = malloc(c->out_bytes[k]);
        }}
        if (c->fn((const void *const *)in, out) != 0) {{
            return 4;
        }}
        for (k = 0; k < c->n_out; ++k) {{
            fwrite(out[k], 1, c->out_bytes[k], stdout);
            free(out[k]);
        }}
        for (k = 0; k < c->n_in; ++k) {{
            free(in[k]);
        }}
    }}
    return 0;
}}
"""


def _compile(directory: Path, sources: list[str], flags: list[str]) -> None:
    def one(src: str) -> None:
        obj = directory / (Path(src).stem + ".o")
        subprocess.run(["gcc", *WARNINGS, *flags, "-c", src, "-o", str(obj)], cwd=directory, check=True,
                       capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for future in [pool.submit(one, s) for s in sources]:
            try:
                future.result()
            except subprocess.CalledProcessError as exc:
                raise AssertionError(f"gcc failed:\n{exc.stderr[-4000:]}") from None


def write_sources(builds: list[EngineBuild], directory: Path) -> None:
    """Every build's C sources and headers into `directory` (the shared kernels once)."""
    directory.mkdir(parents=True, exist_ok=True)
    for build in builds:
        for rel, data in build.files.items():
            if rel.endswith((".c", ".h")) and not (directory / rel).exists():
                (directory / rel).write_bytes(data)


def case_table(builds: list[EngineBuild]) -> str:
    """C text: the builds' headers and `cases[]`, one {invoke, inputs, outputs, input bytes, output bytes} each."""
    table = "\n".join(f"    {{{b.name}_invoke, {b.name.upper()}_NUM_INPUTS, {b.name.upper()}_NUM_OUTPUTS, "
                      f"{b.name}_input_bytes, {b.name}_output_bytes}}," for b in builds)
    return _CASE_TABLE % {"includes": "\n".join(f'#include "{b.header}"' for b in builds), "table": table}


def build_executable(builds: list[EngineBuild], directory: Path, sanitize: bool = True,
                     optimize: str = "-O1") -> Path:
    """Write every build's files into `directory` (kernels once) and link one driver over all of them."""
    write_sources(builds, directory)
    (directory / "driver.c").write_text(_DRIVER.format(case_table=case_table(builds)))
    sources = sorted({s for b in builds for s in b.sources}) + ["driver.c"]
    flags = [optimize, *(SANITIZE if sanitize else [])]
    _compile(directory, sources, flags)
    exe = directory / "driver"
    objects = [str(directory / (Path(s).stem + ".o")) for s in sources]
    subprocess.run(["gcc", *flags, "-o", str(exe), *objects], check=True, capture_output=True, text=True)
    return exe


def run_cases(exe: Path, builds: list[EngineBuild], models: list[TFLiteModel],
              inputs: list[list[list[np.ndarray]]]) -> list[list[list[np.ndarray]]]:
    """Feed each build its input vectors; return, per build and vector, the raw output arrays."""
    stream = bytearray()
    for case_id, vectors in enumerate(inputs):
        for vector in vectors:
            stream += struct.pack("<i", case_id)
            for x in vector:
                stream += np.ascontiguousarray(x).tobytes()
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.run([str(exe)], input=bytes(stream), capture_output=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"engine driver failed ({proc.returncode}):\n{proc.stderr.decode()[-4000:]}")
    data, pos, results = proc.stdout, 0, []
    for build, model, vectors in zip(builds, models, inputs, strict=True):
        per_case = []
        outs = model.main.output_tensors()
        for _ in vectors:
            arrays = []
            for t, nbytes in zip(outs, build.output_bytes, strict=True):
                arrays.append(np.frombuffer(data[pos:pos + nbytes], dtype=NUMPY_DTYPES[t.dtype]).reshape(t.shape))
                pos += nbytes
            per_case.append(arrays)
        results.append(per_case)
    if pos != len(data):
        raise AssertionError(f"driver wrote {len(data)} bytes, expected {pos}")
    return results
