"""End to end: the example converted to int8, emitted as compiled C, verified on the emulated Cortex-M4."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from edgeq.emulate import verify
from edgeq.errors import VerifyError

pytestmark = [pytest.mark.qemu, pytest.mark.slow]


@pytest.fixture(scope="session")
def digits_c_out(tmp_path_factory, digits_int8):
    """An OUT directory as `convert --runtime c` writes it: model.tflite, report.json and the engine's
    project (model + kernels + a host self-check main.c, which the firmware must leave out)."""
    from edgeq.engine import write_engine_project
    from edgeq.tflite.golden import golden_vectors

    out = tmp_path_factory.mktemp("verify") / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(digits_int8.data)
    (out / "report.json").write_text(json.dumps({"edgeq_version": "0", "target": {"name": "cortex-m4", "kind": "mcu"}}))
    build = write_engine_project(digits_int8, "digits", golden_vectors(digits_int8, 2), out)
    assert (out / "main.c").is_file()
    return out, build


def _copy(out: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy


def test_converted_model_verifies_equal_to_host_tflm(digits_c_out, toolchain):
    out, build = digits_c_out
    report = verify(out, samples=8)
    assert report.passed, report.summary()
    assert report.outputs_equal is True and report.max_abs_diff == 0
    assert report.values_compared == 8 * 10  # 8 samples x 10 class scores
    assert report.machine == "mps2-an386" and report.core == "cortex-m4"
    # The model's share of the image holds at least its weights (flash) and its arena (RAM).
    assert report.sizes.model_flash_bytes >= build.weights_bytes
    assert report.sizes.model_ram_bytes >= build.arena_bytes
    assert report.sizes.flash_bytes > report.sizes.model_flash_bytes
    assert report.instructions_per_inference > 10_000
    # Every operator row names the kernel functions its code calls, as the generated invoke calls them.
    source = (out / "digits_model.c").read_text()
    rows = [r for r in report.per_op if r["op"] != "(invoke)"]
    assert rows and all(r["kernel"] and all(f"    {k}(" in source for k in r["kernel"].split("+")) for r in rows)
    assert all("conv" in r["kernel"] for r in rows if r["op"] == "CONV_2D")
    assert [t[2] for t in report.op_rows()] == [r["kernel"] or "-" for r in report.per_op]
    data = report.to_dict()
    assert data["passed"] is True and data["qemu_machine"] == "mps2-an386"
    assert data["flash_bytes"] == report.sizes.flash_bytes and data["ram_bytes"] == report.sizes.ram_bytes
    assert json.loads(json.dumps(data)) == data


def test_instruction_counts_are_identical_on_two_runs(digits_c_out, toolchain):
    out, _ = digits_c_out
    first = verify(out, samples=3)
    second = verify(out, samples=3)
    assert first.values_compared == 30
    assert first.instructions == second.instructions and len(first.instructions) == 3


def test_cli_verify_stores_the_result_in_report_json(digits_c_out, toolchain, tmp_path):
    from edgeq.cli import main

    out = _copy(digits_c_out[0], tmp_path)
    main(["-q", "verify", str(out), "--samples", "2"])
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["name"] == "cortex-m4"  # the rest of report.json is kept
    emulation = report["emulation"]
    assert emulation["passed"] is True and emulation["samples"] == 2
    assert emulation["max_abs_diff"] == 0 and emulation["values_compared"] == 20
    assert not list(out.glob(".report.json.*"))  # the atomic write left no temporary file


def _corrupt_first_bias(source: str) -> str:
    """Add a million to the first int32 constant (a bias) of the generated model."""
    pattern = re.compile(r"(static const int32_t \w+\[\d+\][^=]*=\s*\{\s*)(-?\d+)")
    match = pattern.search(source)
    assert match, "no int32 constant array found in the generated C"
    return source[: match.start(2)] + str(int(match[2]) + 1_000_000) + source[match.end(2):]


def test_a_corrupted_weight_in_the_emitted_c_is_a_mismatch(digits_c_out, toolchain, tmp_path, capfd):
    from edgeq.cli import main

    out = _copy(digits_c_out[0], tmp_path)
    model_c = out / "digits_model.c"
    model_c.write_text(_corrupt_first_bias(model_c.read_text()))
    with pytest.raises(SystemExit) as info:
        main(["-q", "verify", str(out), "--samples", "4"])
    assert info.value.code == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: mps2-an386 (cortex-m4): outputs differ")
    emulation = json.loads((out / "report.json").read_text())["emulation"]
    assert emulation["status"] == "mismatch" and emulation["passed"] is False
    assert emulation["max_abs_diff"] > 0 and emulation["mismatched_values"] > 0


def test_target_without_an_emulator_is_refused(digits_c_out, toolchain):
    with pytest.raises(VerifyError, match="cortex-m0plus cannot be emulated"):
        verify(digits_c_out[0], target="cortex-m0plus")


def test_a_directory_without_report_needs_a_target(digits_c_out, toolchain, tmp_path):
    out = _copy(digits_c_out[0], tmp_path)
    (out / "report.json").unlink()
    with pytest.raises(VerifyError, match="report.json not found: pass --target"):
        verify(out)
    assert verify(out, samples=1, target="cortex-m4").passed


def test_a_directory_without_c_sources_says_how_to_get_them(digits_c_out, toolchain, tmp_path):
    out = tmp_path / "tflite-only"
    out.mkdir()
    shutil.copy(digits_c_out[0] / "model.tflite", out)
    shutil.copy(digits_c_out[0] / "report.json", out)
    with pytest.raises(VerifyError, match="no firmware project to verify; write one with edgeq convert or edgeq "
                                          "emit \\(--runtime c or tflm\\)"):
        verify(out)


def _sabotage_invoke(out: Path, statement: str) -> None:
    """Put `statement` first in digits_invoke's body in the emitted C."""
    model_c = out / "digits_model.c"
    text, count = re.subn(r"(int digits_invoke\([^)]*\)\s*\{)", r"\1 " + statement, model_c.read_text(), count=1)
    assert count == 1, "digits_invoke's definition not found in the generated C"
    model_c.write_text(text)


@pytest.mark.parametrize(("statement", "status", "detail"), [
    ("__builtin_trap();", "fault", "usagefault at pc 0x"),
    ("for (;;) { __asm__ volatile(\"\"); }", "timeout", "no result within 2 s"),
])
def test_a_faulting_or_hanging_guest_fails_the_cli(digits_c_out, toolchain, tmp_path, capfd, statement, status,
                                                    detail):
    from edgeq.cli import main

    out = _copy(digits_c_out[0], tmp_path)
    _sabotage_invoke(out, statement)
    with pytest.raises(SystemExit) as info:
        main(["-q", "verify", str(out), "--samples", "2", "--timeout", "2"])
    assert info.value.code == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f": {status}: {detail}" in err[0]
    emulation = json.loads((out / "report.json").read_text())["emulation"]
    assert emulation["status"] == status and emulation["passed"] is False
    assert emulation["outputs_equal"] is None
