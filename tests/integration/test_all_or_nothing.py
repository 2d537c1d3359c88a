"""`edgeq convert` writes OUT completely or not at all, whichever step fails, and the same inputs give the
same bytes in two separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeq import pipeline
from edgeq.errors import CalibrationError, CheckFailed, EmitError, ModelLoadError, QuantizationError, VerifyError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KERAS, CALIB, VAL = (str(EXAMPLES / name) for name in ("digits.keras", "digits_calib.npz", "digits_val.npz"))


def _fail(error: type[Exception], message: str):
    def raising(*args, **kwargs):
        raise error(message)
    return raising


def _emit_half_then_fail(*args, **kwargs):
    """The real project step, which writes its files into the staging directory, then a failure."""
    from edgeq.emit import write_project

    write_project(*args, **kwargs)
    raise EmitError("disk full (injected after the project was written)")


def _html_fails(*args, **kwargs):
    raise EmitError("cannot render the HTML report (injected after report.json was written)")


# step -> (patches of edgeq.pipeline names, extra CLI arguments, the error line's fragment). Load and quantize
# are replaced by the session's converted example so that later steps fail without a conversion each.
STEPS = {
    "load": ({"load_model": _fail(ModelLoadError, "model file is damaged")}, [], "model file is damaged"),
    "calibration": ({"load_samples": _fail(CalibrationError, "calibration data has NaN")}, [],
                    "calibration data has NaN"),
    "quantize": ({"quantize": _fail(QuantizationError, "not integer-only")}, [], "not integer-only"),
    "recover": ({"recover_accuracy": _fail(QuantizationError, "no technique could run")}, [],
                "no technique could run"),
    "validate": ({}, ["--val", "BAD_VAL"], "validation data"),
    "check": ({"check_model": _fail(CheckFailed, "the arena does not fit")}, [], "the arena does not fit"),
    "project": ({"write_project": _emit_half_then_fail}, [], "disk full"),
    "verify": ({"verify": _fail(VerifyError, "qemu-system-arm died")}, ["--runtime", "c", "--verify"],
               "qemu-system-arm died"),
    "report": ({"render_html": _html_fails}, ["--val", VAL, "--tflm-samples", "10"], "cannot render"),
}


@pytest.fixture
def converted_example(monkeypatch, digits_source, digits_calib, digits_int8):
    """Load, calibration and quantization return the session's results (each test may make one fail)."""
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: digits_source)
    monkeypatch.setattr(pipeline, "load_samples", lambda *a, **k: digits_calib)
    monkeypatch.setattr(pipeline, "quantize", lambda *a, **k: digits_int8)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("existing", [False, True], ids=["new-out", "existing-out-with-force"])
@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_failing_step_writes_nothing(step, existing, tmp_path, monkeypatch, converted_example, run_cli):
    patches, extra, fragment = STEPS[step]
    bad_val = tmp_path / "bad_val.npy"
    np.save(bad_val, np.zeros((4, 3), np.float32))  # the wrong shape for the model's [8, 8, 1] input
    extra = [str(bad_val) if arg == "BAD_VAL" else arg for arg in extra]
    parent = tmp_path / "work"
    out = parent / "out"
    parent.mkdir()
    if existing:  # an earlier edgeq output (the only kind --force may replace), written by the same command
        code, _, err = run_cli(["-q", "convert", KERAS, "--calib", CALIB, "-o", str(out)])
        assert code == 0, err
    before = _tree(parent)
    for name, replacement in patches.items():
        monkeypatch.setattr(pipeline, name, replacement)
    code, _, err = run_cli(["-q", "convert", KERAS, "--calib", CALIB, "-o", str(out), *extra,
                            *(["--force"] if existing else [])])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and lines[-1].startswith("error: ") and fragment in lines[-1], err
    assert "Traceback" not in err
    assert _tree(parent) == before  # nothing new, nothing replaced, no staging directory left behind
    assert sorted(p.name for p in parent.iterdir()) == (["out"] if existing else [])


def test_the_steps_run_when_nothing_is_injected(tmp_path, converted_example, run_cli):
    """The same command line without a failure writes OUT (so the tests above fail for the injected reason)."""
    out = tmp_path / "out"
    code, _, err = run_cli(["-q", "convert", KERAS, "--calib", CALIB, "-o", str(out), "--val", VAL,
                            "--tflm-samples", "10"])
    assert code == 0, err
    assert {"model.tflite", "report.json", "validation.html"} <= {p.name for p in out.iterdir()}


def test_two_processes_write_byte_identical_out(tmp_path):
    """Two separate `edgeq convert` processes (no cache shared in memory, e.g. the arena measurement): every
    file of OUT is byte-identical, including the project, report.json and the validation reports."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "edgeq.cli", "-q", "convert", KERAS, "--calib", CALIB, "--val", VAL,
                   "--tflm-samples", "20", "-o", str(tmp_path / name / "out")]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True))
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
    a, b = _tree(tmp_path / "a" / "out"), _tree(tmp_path / "b" / "out")
    assert sorted(a) == sorted(b)
    assert {"model.tflite", "report.json", "validation.html", "validation.junit.xml",
            "tflm-cmake/src/model_io.h"} <= set(a)
    assert [name for name in a if a[name] != b[name]] == []
