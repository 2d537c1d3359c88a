"""Bad inputs through the CLI: one line on stderr, exit 1 (2 for usage), no traceback, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"



def assert_one_line_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert lines and lines[-1].startswith("error: "), err
    assert fragment in lines[-1], lines[-1]
    assert "Traceback" not in err
    error_lines = [line for line in lines if line.startswith("error: ")]
    assert len(error_lines) == 1, err


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    np.save(root / "wrong_shape.npy", np.zeros((4, 8, 8, 3), np.float32))
    np.save(root / "nan.npy", np.full((4, 8, 8, 1), np.nan, np.float32))
    np.save(root / "empty.npy", np.zeros((0, 8, 8, 1), np.float32))
    np.savez(root / "wrong_key.npz", images=np.zeros((4, 8, 8, 1), np.float32))
    (root / "model.onnx").write_bytes(b"onnx")
    (root / "corrupt.keras").write_bytes(b"PK\x03\x04 definitely not a keras zip")
    (root / "occupied").mkdir()
    (root / "occupied" / "keep.txt").write_text("user data")
    return {p.name: p for p in root.iterdir()}


MODEL = str(EXAMPLES / "digits.keras")
CALIB = str(EXAMPLES / "digits_calib.npz")

CASES = [
    # (id, args builder, exit code, fragment of the message)
    ("missing model", lambda d: ["convert", str(d["occupied"].parent / "nope.keras"), "--calib", CALIB], 1,
     "no such file"),
    ("unknown format", lambda d: ["convert", str(d["model.onnx"]), "--calib", CALIB], 1, "unknown model format"),
    ("corrupt keras", lambda d: ["convert", str(d["corrupt.keras"]), "--calib", CALIB], 1,
     "not a valid Keras .keras file"),
    ("unknown target", lambda d: ["convert", MODEL, "--calib", CALIB, "--target", "pdp11"], 1,
     "unknown target 'pdp11'; known targets: android-arm64, "),
    ("float mode on mcu", lambda d: ["convert", MODEL, "--mode", "float16"], 2,
     "mode float16 is not available for cortex-m4"),
    ("bad mode", lambda d: ["convert", MODEL, "--mode", "int4"], 2, "'int4' is not one of"),
    ("bad sample count", lambda d: ["convert", MODEL, "--calib-samples", "0"], 2, "--calib-samples"),
    ("bad mean", lambda d: ["convert", MODEL, "--calib", CALIB, "--mean", "a,b"], 2, "comma-separated numbers"),
    ("mean per channel", lambda d: ["convert", MODEL, "--calib", CALIB, "--mean", "0.5,0.4,0.3"], 2,
     "--mean has 3 values but the samples have 1 channel (last axis): give 1 value"),
    ("zero std", lambda d: ["convert", MODEL, "--calib", CALIB, "--std", "0"], 2, "--std must not be 0"),
    ("no calibration", lambda d: ["convert", MODEL], 1, "needs calibration data: pass --calib"),
    ("both calibrations", lambda d: ["convert", MODEL, "--calib", CALIB, "--synthetic-calib"], 2, "not both"),
    ("missing calib", lambda d: ["convert", MODEL, "--calib", str(d["occupied"] / "none.npz")], 1,
     "no such file"),
    ("wrong shape", lambda d: ["convert", MODEL, "--calib", str(d["wrong_shape.npy"])], 1,
     "samples of shape (8, 8, 3), the model expects (8, 8, 1)"),
    ("nan calib", lambda d: ["convert", MODEL, "--calib", str(d["nan.npy"])], 1, "NaN or infinite"),
    ("empty calib", lambda d: ["convert", MODEL, "--calib", str(d["empty.npy"])], 1, "has no samples"),
    ("wrong npz key", lambda d: ["convert", MODEL, "--calib", str(d["wrong_key.npz"])], 1, "needs key(s) 'x'"),
    ("unknown command", lambda d: ["transmogrify"], 2, "No such command"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, bad_data, run_cli, args, code, fragment):
    out_dir = tmp_path / "out"
    exit_code, stdout, err = run_cli([*args(bad_data), "-o", str(out_dir)])
    assert_one_line_error(exit_code, err, code, fragment)
    assert not out_dir.exists()
    assert list(tmp_path.iterdir()) == []  # no staging directories left behind
    assert stdout == ""


def test_existing_output_is_not_overwritten_without_force(bad_data, run_cli):
    occupied = bad_data["occupied"]
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(occupied)])
    assert_one_line_error(code, err, 1, "is not empty; use --force")
    assert sorted(p.name for p in occupied.iterdir()) == ["keep.txt"]


def test_force_replaces_an_empty_folder_and_json_goes_to_stdout(tmp_path, run_cli):
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(out), "--force", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert report["target"]["name"] == "cortex-m4"
    assert (out / "model.tflite").exists()
    assert "Quantizing to int8 for cortex-m4" in err  # progress goes to stderr, never into the JSON


def test_real_process_has_no_traceback_and_no_tensorflow_noise(tmp_path):
    """A genuine subprocess, so TensorFlow's C++ logging to fd 2 would be visible."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3), np.float32))
    proc = subprocess.run([sys.executable, "-m", "edgeq.cli", "convert", MODEL, "--calib", str(bad), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: calibration data") and "Traceback" not in proc.stderr
    noise = [line for line in lines if not line.startswith(("•", "error:"))]
    assert noise == [], noise
    assert not (tmp_path / "out").exists()


def test_help_is_fast_and_lists_commands():
    proc = subprocess.run([sys.executable, "-c", "import sys, edgeq.cli; edgeq.cli.main(['--help']);"
                           "print('tensorflow' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert "convert" in proc.stdout
    # --help must not import TensorFlow (5-7 s); the last printed line is the check
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_names_from_the_model_are_never_read_as_rich_markup(digits_convert_dir):
    """A tensor or file name like '[/bold]' must print verbatim, not crash rich's markup parser."""
    import dataclasses
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from edgeq.cli.app import RichProgress
    from edgeq.cli.convert_cmd import _summary_table

    _, result = digits_convert_dir
    real = result.tflite
    hostile = dataclasses.replace(real.main.input_tensors()[0], name="in[/bold]put")
    tflite = SimpleNamespace(size=real.size, op_counts=real.op_counts, data=real.data,
                             main=SimpleNamespace(input_tensors=lambda: [hostile],
                                                  output_tensors=real.main.output_tensors))
    fake = dataclasses.replace(result, out_dir="out[/]", tflite=tflite,
                               samples=dataclasses.replace(result.samples, source="[red]calib.npz"))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    console.print(_summary_table(fake))
    RichProgress(console).step("Loading [/italic]model.keras")
    text = buffer.getvalue()
    assert "in[/bold]put" in text and "[red]calib.npz" in text and "Loading [/italic]model.keras" in text
