"""`edgeq validate` and `edgeq convert --val` end to end: exit codes, files, one-line errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VAL = str(EXAMPLES / "digits_val.npz")
KERAS = str(EXAMPLES / "digits.keras")



def last_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], err
    return lines[-1]


def test_validate_passes_and_writes_junit_and_html(digits_int8_path, tmp_path, run_cli):
    junit, html = tmp_path / "ci" / "validation.xml", tmp_path / "report.html"
    code, out, err = run_cli(["-q", "validate", str(digits_int8_path), "--data", VAL, "--reference", KERAS,
                              "--junit", str(junit), "--report", str(html), "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["passed"] is True
    assert {c["status"] for c in report["checks"]} == {"passed"}
    assert report["interpreters"]["tflm"]["samples"] == 200 and report["layers"]["rows"][0]["layer"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) == len(report["checks"]) and suite.get("failures") == "0"
    assert 'id="plot-layers"' in html.read_text()


def test_validate_table_output(digits_int8_path, run_cli):
    code, out, err = run_cli(["validate", str(digits_int8_path), "-d", VAL, "-r", KERAS, "--tflm-samples", "20",
                              "--no-layers"])
    assert code == 0, err
    assert "litert vs tflm" in out and "validation PASSED" in out and "✓ pass" in out
    assert "Worst layers" not in out  # --no-layers


def test_mismatched_model_exits_1_naming_the_metric(mismatched_int8_path, tmp_path, run_cli):
    junit = tmp_path / "junit.xml"
    code, out, err = run_cli(["validate", str(mismatched_int8_path), "-d", VAL, "-r", KERAS, "--tflm-samples", "50",
                              "--junit", str(junit)])
    assert code == 1
    line = last_error(err)
    assert line.startswith("error: validation failed: ") and "top-1 agreement with float" in line
    assert "(--min-agreement)" in line
    assert "validation FAILED" in out
    assert ET.parse(junit).getroot().find("testsuite").get("failures") != "0"  # written before exiting 1


def test_thresholds_can_be_turned_off(mismatched_int8_path, run_cli):
    code, out, err = run_cli(["-q", "validate", str(mismatched_int8_path), "-d", VAL, "-r", KERAS, "--tflm-samples",
                              "20", "--no-layers", "--max-drop", "off", "--min-agreement", "off", "--json"])
    assert code == 0, err
    assert json.loads(out)["checks"] == []


def test_existing_report_file_needs_force(digits_int8_path, tmp_path, run_cli):
    junit = tmp_path / "junit.xml"
    junit.write_text("keep me")
    code, _, err = run_cli(["validate", str(digits_int8_path), "-d", VAL, "--junit", str(junit)])
    assert code == 1 and "exists; use --force" in last_error(err)
    assert junit.read_text() == "keep me"


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("badval")
    np.savez(root / "empty.npz", x=np.zeros((0, 8, 8, 1), np.float32))
    np.savez(root / "shape.npz", x=np.zeros((4, 8, 8, 3), np.float32))
    np.savez(root / "labels.npz", x=np.zeros((4, 8, 8, 1), np.float32), y=np.arange(3))
    np.savez(root / "strings.npz", x=np.array(["a"] * 256).reshape(4, 8, 8, 1))
    np.savez(root / "sine.npz", x=np.zeros((4, 1), np.float32))
    return {p.name: p for p in root.iterdir()}


@pytest.mark.parametrize(("data", "extra", "code", "fragment"), [
    ("empty.npz", [], 1, "has no samples"),
    ("shape.npz", [], 1, "the model expects (8, 8, 1)"),
    ("labels.npz", [], 1, "different sample counts"),
    ("strings.npz", [], 1, "expected numbers"),
    (None, ["--reference", "SINE_FLOAT"], 1, "already a .tflite model"),
    (None, ["--min-agreement", "1.5"], 2, "--min-agreement is a fraction between 0 and 1"),
    (None, ["--max-drop", "lots"], 2, "expected a number or 'off'"),
], ids=["empty", "shape", "label count", "dtype", "tflite as reference", "agreement range", "not a number"])
def test_bad_input_is_one_line_error(digits_int8_path, bad, sine_float_path, run_cli, data, extra, code, fragment):
    extra = [str(sine_float_path) if e == "SINE_FLOAT" else e for e in extra]
    data_path = str(bad[data]) if data else VAL
    got, _, err = run_cli(["validate", str(digits_int8_path), "-d", data_path, *extra])
    assert got == code, err
    assert fragment in last_error(err)


def test_reference_with_other_io_is_one_line_error(sine_int8_path, bad, run_cli):
    code, _, err = run_cli(["validate", str(sine_int8_path), "-d", str(bad["sine.npz"]), "-r", KERAS])
    assert code == 1
    assert "reference digits.keras does not match sine_int8.tflite: input 0" in last_error(err)


def test_missing_data_option_is_usage_error(digits_int8_path, run_cli):
    code, _, err = run_cli(["validate", str(digits_int8_path)])
    assert code == 2 and "--data" in last_error(err)


def test_help_states_the_defaults(run_cli):
    code, out, _ = run_cli(["validate", "--help"])
    assert code == 0
    flat = " ".join(out.split())
    for fragment in ("--max-drop PP", "[default: 1.0]", "[default: 0.97]", "--max-error X", "[default: off]",
                     "--tflm-samples N", "[default: 200", "--junit FILE", "--report FILE"):
        assert fragment in flat, fragment


def test_convert_with_val_that_fails_a_gate_writes_out_then_exits_1(tmp_path, run_cli):
    out = tmp_path / "out"
    code, _, err = run_cli(["-q", "convert", KERAS, "--calib", str(EXAMPLES / "digits_calib.npz"), "--val", VAL,
                            "--min-accuracy", "0.999", "--tflm-samples", "40", "-o", str(out)])
    assert code == 1
    line = last_error(err)
    assert "validation failed" in line and "top-1 accuracy" in line and "(--min-accuracy)" in line
    report = json.loads((out / "report.json").read_text())
    validation = report["validation"]
    assert validation["passed"] is False and validation["model"]["file"] == "model.tflite"
    statuses = {(c["interpreter"], c["metric"]): c["status"] for c in validation["checks"]}
    # LiteRT sees all 397 samples (98.5 % right), TFLM a 40-sample subset
    assert statuses[("litert", "top1_agreement")] == "passed" and statuses[("litert", "top1_accuracy")] == "failed"
    assert validation["interpreters"]["tflm"]["samples"] == 40
    assert (out / "model.tflite").exists() and 'id="plot-layers"' in (out / "validation.html").read_text()
    suite = ET.parse(out / "validation.junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == str(sum(c["status"] == "failed" for c in validation["checks"]))


def test_convert_thresholds_without_val_are_a_usage_error(tmp_path, run_cli):
    code, _, err = run_cli(["convert", KERAS, "--synthetic-calib", "--max-drop", "2", "-o", str(tmp_path / "o")])
    assert code == 2 and "apply only with --val" in last_error(err)
    assert not (tmp_path / "o").exists()


def test_cli_defaults_are_the_api_defaults():
    from edgeq.cli.convert_cmd import convert
    from edgeq.cli.validate_cmd import validate_command
    from edgeq.validate.session import DEFAULT_TFLM_SAMPLES, Thresholds

    expected = {**Thresholds().__dict__, "tflm_samples": DEFAULT_TFLM_SAMPLES}
    for command in (validate_command, convert):
        defaults = {p.name: p.default for p in command.params if p.name in expected}
        assert defaults == expected, command.name
