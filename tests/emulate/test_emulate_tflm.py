"""`edgeq verify` on TFLM outputs and on `edgeq emit` outputs, without TFLM sources (CI has none): the one-line
error without a tree, the harness compiled against the declaration-only shims, the arena recommendation made
from a target measurement, and the compiled-C engine verified on what `edgeq emit --runtime c` writes.
Real TFLM runs are in tests/tflm/ (only collected when EDGEQ_TFLM_TREE is set)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeq.check.targets import get_target
from edgeq.emit import emit_project, write_project
from edgeq.emulate.tflm import TREE_ENV
from edgeq.emulate.tflm_firmware import find_tflm_sources, render_tflm_harness
from edgeq.emulate.verify import EmulationReport, measured_arena, project_runtime, store_emulation
from edgeq.errors import VerifyError

TESTS = Path(__file__).resolve().parents[1]
TFLM_SHIM = TESTS / "emit" / "tflm_shim"


@pytest.fixture(scope="session")
def digits_tflm_out(tmp_path_factory, digits_int8) -> Path:
    """What `edgeq emit` writes for the example with the default TFLM runtime."""
    out = tmp_path_factory.mktemp("tflm") / "out"
    emit_project(digits_int8, out, target="cortex-m4", name="digits")
    return out


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeq.cli", *args], capture_output=True, text=True, env=env,
                          check=False)


def test_emit_writes_what_verify_needs(digits_tflm_out, digits_int8, tmp_path) -> None:
    out = digits_tflm_out
    assert (out / "model.tflite").read_bytes() == digits_int8.data
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["name"] == "cortex-m4" and report["project"]["runtime"] == "tflm"
    assert report["project"]["arena_bytes"] == report["target"]["arena"]["recommended_bytes"]
    assert report["model"]["sha256"] == digits_int8.sha256
    assert project_runtime(out) == "tflm"
    again = emit_project(digits_int8, tmp_path / "again", target="cortex-m4", name="digits")
    assert "report.json" in again.files and "model.tflite" in again.files
    assert (tmp_path / "again" / "report.json").read_bytes() == (out / "report.json").read_bytes()


def test_verify_without_a_tree_says_in_one_line_how_to_get_one(digits_tflm_out, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TREE_ENV}
    done = _cli("verify", str(digits_tflm_out), env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: verifying a TFLM build needs a TFLM tree: pass --tflm-tree DIR or set "
                                "EDGEQ_TFLM_TREE; make one from a tflite-micro checkout with")
    assert "create_tflm_tree.py" in lines[-1] and len([ln for ln in lines if ln.startswith("error")]) == 1
    not_a_tree = tmp_path / "empty"
    not_a_tree.mkdir()
    done = _cli("verify", str(digits_tflm_out), env={**env, TREE_ENV: str(not_a_tree)})
    assert done.returncode == 1
    assert f"error: {not_a_tree} is not a TFLM tree: tensorflow/lite/micro/micro_interpreter.h is missing" in \
        done.stderr
    assert "emulation" not in json.loads((digits_tflm_out / "report.json").read_text())


def test_convert_verify_with_tflm_needs_a_tree_before_any_work(tmp_path, digits_keras_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TREE_ENV}
    out = tmp_path / "out"
    done = _cli("convert", str(digits_keras_path), "--synthetic-calib", "-o", str(out), "--verify", env=env)
    assert done.returncode == 1
    assert "error: verifying a TFLM build needs a TFLM tree" in done.stderr and not out.exists()


@pytest.mark.arm
def test_tflm_harness_compiles_against_the_generated_sources(digits_tflm_out, tmp_path) -> None:
    """The harness C++ with the generated model_ops.h/model_data.h, against the declaration-only TFLM shims,
    for every core QEMU emulates, with -Wall -Wextra -Werror."""
    sources = find_tflm_sources(digits_tflm_out)
    assert sources.name == "digits" and sources.model_data.name == "model_data.cc"
    harness = tmp_path / "harness.cc"
    harness.write_text(render_tflm_harness(sources.name, [64], [10], 65536))
    for target in ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"):
        done = subprocess.run(["arm-none-eabi-g++", *get_target(target).cpu.cflags, "-std=c++17", "-O2", "-Wall",
                               "-Wextra", "-Werror", "-fno-rtti", "-fno-exceptions", "-DEDGEQ_EXIT_SETUP=3",
                               f"-I{TFLM_SHIM}", f"-I{sources.directory}", "-c", str(harness), "-o",
                               str(tmp_path / f"{target}.o")], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
    text = harness.read_text()
    assert "digits_register_ops(resolver)" in text and "alignas(16) uint8_t g_arena[65536];" in text
    assert "interpreter.arena_used_bytes()" in text and text.count("edgeq_mark_begin();") == 2


def test_sources_without_a_resolver_are_refused(tmp_path) -> None:
    with pytest.raises(VerifyError, match="no TFLM project"):
        find_tflm_sources(tmp_path)
    (tmp_path / "model_ops.h").write_text("// not edgeq's\n")
    with pytest.raises(VerifyError, match="no `<name>_op_resolver` typedef"):
        find_tflm_sources(tmp_path)


def _tflm_report(used: int | None, needed: int | None = None, status: str = "passed") -> EmulationReport:
    return EmulationReport(target="cortex-m4", core="cortex-m4", machine="mps2-an386", qemu_version="7.2.0",
                           cpu_flags=[], samples=2, status=status, runtime="tflm", kernels="cmsis-nn",
                           arena_used_bytes=used, arena_needed_bytes=needed)


def test_the_target_measurement_replaces_the_host_arena_in_report_json(digits_tflm_out, tmp_path) -> None:
    out = tmp_path / "out"
    shutil.copytree(digits_tflm_out, out)
    host = json.loads((out / "report.json").read_text())["target"]["arena"]
    store_emulation(out, _tflm_report(4756, 4768))
    data = json.loads((out / "report.json").read_text())
    arena = data["target"]["arena"]
    assert arena["source"] == "target" and arena["measured_target_bytes"] == 4768
    assert arena["target_arena_used_bytes"] == 4756
    assert arena["recommended_bytes"] == 4784  # 4768 + the profile's 16-byte margin, rounded up to 16
    assert 4768 <= arena["recommended_bytes"] <= 1.10 * 4768 + 16
    assert arena["measured_host_bytes"] == host["measured_host_bytes"]
    assert arena["host_recommended_bytes"] == host["recommended_bytes"]
    assert data["emulation"]["runtime"] == "tflm" and data["emulation"]["kernels"] == "cmsis-nn"
    assert data["emulation"]["arena"]["used_bytes"] == 4756 and data["emulation"]["arena"]["needed_bytes"] == 4768
    store_emulation(out, _tflm_report(4790, 4800))  # a second run keeps the host's figures
    again = json.loads((out / "report.json").read_text())["target"]["arena"]
    assert again["host_recommended_bytes"] == host["recommended_bytes"] and again["recommended_bytes"] == 4816
    assert measured_arena(_tflm_report(4756, 4768, status="mismatch")) is None
    assert measured_arena(_tflm_report(4756, 0)) is None  # the model ran in no smaller arena: no figure


def test_a_target_measured_arena_sets_the_projects_macro(tmp_path, digits_int8) -> None:
    arena = measured_arena(_tflm_report(4756, 4768))
    assert arena is not None
    write_project(digits_int8, tmp_path, target=get_target("cortex-m4"), name="digits", target_arena=arena)
    io = (tmp_path / "src" / "model_io.h").read_text()
    assert "#define DIGITS_ARENA_SIZE 4784u" in io
    assert "TFLM ran the model in 4768 bytes on QEMU mps2-an386 (cortex-m4), TFLM with cmsis-nn kernels" in io
    assert "edgeq: arena used 4756 of 4784 bytes" in (tmp_path / "README.md").read_text()


@pytest.mark.qemu
@pytest.mark.slow
def test_verify_runs_what_emit_runtime_c_writes_with_no_flags(tmp_path, digits_int8, toolchain) -> None:
    model = tmp_path / "digits.tflite"
    model.write_bytes(digits_int8.data)
    out = tmp_path / "out"
    assert _cli("emit", str(model), "--runtime", "c", "--name", "digits", "-o", str(out)).returncode == 0
    assert project_runtime(out) == "c"
    done = _cli("verify", str(out), "--samples", "2", "--json")
    assert done.returncode == 0, done.stderr
    emulation = json.loads((out / "report.json").read_text())["emulation"]
    assert emulation["passed"] and emulation["outputs_equal"] and emulation["runtime"] == "c"
    assert emulation["instructions_per_inference"] > 0 and emulation["values_compared"] == 20
    assert re.search(r'"qemu_machine": "mps2-an386"', done.stdout)
