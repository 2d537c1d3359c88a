"""The README's firmware author's quick start: both snippets, taken from README.md as written, compile warning-free
against the example's emitted sources (TFLM's API through the declaration-only shim; the compiled-C snippet linked
with the engine's sources and run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from edgeq.emit import emit_project

REPO = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).resolve().parent / "tflm_shim"


def _snippets() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Firmware author's quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = dict(re.findall(r"```(cpp|c)\n(.*?)```", section, flags=re.S))
    assert set(blocks) == {"cpp", "c"}, "the quick start should hold one C++ and one C snippet"
    return blocks


def test_the_tflm_snippet_compiles_against_the_emitted_sources(digits_int8, tools, tmp_path):
    out = tmp_path / "tflm"
    emit_project(digits_int8.data, out, target="cortex-m4")
    (tmp_path / "app.cc").write_text(_snippets()["cpp"])
    done = subprocess.run([tools["g++"], "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                           f"-I{out / 'src'}", f"-I{SHIM}", str(tmp_path / "app.cc")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_compiled_c_snippet_builds_and_runs(digits_int8, tools, tmp_path):
    out = tmp_path / "engine"
    emit_project(digits_int8.data, out, target="cortex-m4", runtime="c")
    header = (out / "model.h").read_text()
    snippet = _snippets()["c"]
    # The snippet's buffer sizes are the example's I/O byte counts that model.h states.
    assert "int8 [1, 8, 8, 1], 64 bytes" in header and "static int8_t image[64];" in snippet
    assert "int8 [1, 10], 10 bytes" in header and "static int8_t probs[10];" in snippet
    (tmp_path / "app.c").write_text(snippet + "\nint main(void) { return classify() < 0; }\n")
    sources = [str(p) for p in sorted(out.glob("*.c")) if p.name != "main.c"]
    done = subprocess.run([tools["gcc"], "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out}", str(tmp_path / "app.c"),
                           *sources, "-o", str(tmp_path / "app")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert subprocess.run([str(tmp_path / "app")]).returncode == 0  # model_invoke returned 0 and a class
