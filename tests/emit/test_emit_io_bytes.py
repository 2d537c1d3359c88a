"""model_io.h's *_BYTES for I/O whose elements are wider than a byte (float32, int16): elements x element size,
checked against the interpreter's own tensor sizes and compiled (a buffer sized from a wrong macro overflows).
The golden files use int8 I/O only, where bytes and elements are the same number."""

from __future__ import annotations

import re
import subprocess

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from emit_models import build_quantize_model, build_tiny_model

from edgeq.check.targets import get_target
from edgeq.emit.sources import Arena, model_context
from edgeq.render import render
from edgeq.tflite import read_model

DRIVER = """
#include <stdio.h>
#include "model_io.h"
@CHECKS@
int main(void) {
@PRINTS@
    return 0;
}
"""


def _interpreter_bytes(data: bytes) -> dict[str, int]:
    """The interpreter's byte size of every input and output, keyed like model_io.h's macros (input0, ...)."""
    interpreter = Interpreter(model_content=data)
    sizes = {}
    for role, details in (("input", interpreter.get_input_details()), ("output", interpreter.get_output_details())):
        for index, d in enumerate(details):
            sizes[f"{role}{index}"] = int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize
    return sizes


def _compiled_bytes(tmp_path, data: bytes, tools) -> tuple[dict[str, int], str]:
    """Render model_io.h, compile a driver that holds each *_BYTES equal to sizeof(a buffer of *_ELEMENTS
    elements of the tensor's type), and print every *_BYTES."""
    model = read_model(data)
    context = {**model_context(model, "io", get_target("cortex-m4")), "arena": Arena(0, "not used by this test")}
    header = render("_sources/model_io.h.j2", context)
    (tmp_path / "model_io.h").write_text(header)
    names = [f"{role}{i}" for role, count in (("input", len(model.main.inputs)), ("output", len(model.main.outputs)))
             for i in range(count)]
    checks = "\n".join(f"static io_{n}_t buffer_{n}[IO_{n.upper()}_ELEMENTS];\n"
                       f"_Static_assert(sizeof buffer_{n} == IO_{n.upper()}_BYTES, \"{n}\");" for n in names)
    prints = "\n".join(f'    printf("{n} %u\\n", (unsigned)IO_{n.upper()}_BYTES);' for n in names)
    (tmp_path / "driver.c").write_text(DRIVER.replace("@CHECKS@", checks).replace("@PRINTS@", prints))
    exe = tmp_path / "driver"
    build = subprocess.run([tools["gcc"], "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}",
                            str(tmp_path / "driver.c"), "-o", str(exe)], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    return {k: int(v) for k, v in (line.split() for line in run.stdout.splitlines())}, header


def test_bytes_of_float32_and_int16_io(tmp_path, tools) -> None:
    # float32 inputs [5] -> QUANTIZE -> int16 outputs [5]; int16 inputs [256] -> DEQUANTIZE -> float32 [256].
    data = build_quantize_model([(0.002, 0), (0.5, 0)], 5, "int16")
    got, header = _compiled_bytes(tmp_path, data, tools)
    want = _interpreter_bytes(data)
    assert got == want
    assert got == {"input0": 20, "input1": 20, "input2": 512, "input3": 512,
                   "output0": 10, "output1": 10, "output2": 1024, "output3": 1024}
    assert re.search(r"#define IO_INPUT2_ELEMENTS 256u\n#define IO_INPUT2_BYTES 512u", header)
    assert "typedef int16_t io_input2_t;" in header and "typedef float io_input0_t;" in header


def test_bytes_of_the_tiny_models_float_io(tmp_path, tools) -> None:
    data = build_tiny_model(float_io=True)
    got, _ = _compiled_bytes(tmp_path, data, tools)
    assert got == _interpreter_bytes(data) == {"input0": 32, "output0": 16, "output1": 16}
