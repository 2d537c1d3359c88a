"""The five validation gates at their edges: a metric equal to its threshold passes (the README: a gate fails
when the metric is *more than* / *below* the threshold), one step beyond fails, one step inside passes.
Reports are built from outputs whose statistics are known exactly; once end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.validate.results import (
    InterpreterInfo,
    OutputInfo,
    OutputStats,
    Thresholds,
    ValidationReport,
    evaluate_checks,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
N = 100
STEP = 1e-6  # far below any metric's own resolution here, far above the gates' 1e-9 float tolerance


def _output(position: int, name: str, classes: int, labelled: bool) -> OutputInfo:
    return OutputInfo(position=position, name=name, reference=position, shape=(classes,), dtype="int8",
                      quantized=True, scale=1 / 256, zero_point=-128, classes=classes, unit=1 / 256,
                      unit_name="LSB", labelled=labelled)


def _known_report(thresholds: Thresholds, float_right: int = 90, int_right: int = 87,
                  disagree: int = 5) -> ValidationReport:
    """Two outputs with exact statistics, the same for LiteRT and TFLM.

    'cls' (4 classes, labelled, N samples): the float model is right on `float_right`, the integer model on
    `int_right` (so drop = float_right - int_right pp, accuracy = int_right / N), and they pick different
    classes on `disagree` samples (agreement 1 - disagree / N); scores differ by at most 0.125.
    'reg' (1 value): float 10.0 against integer 9.0 on every sample, SQNR exactly 20 dB, error 1.0."""
    labels = np.arange(N) % 4
    floats = np.where(np.arange(N) < float_right, labels, (labels + 1) % 4)  # the float model's answers
    wrong, extra = float_right - int_right, disagree - (float_right - int_right)
    assert 0 <= wrong <= disagree and float_right + extra <= N
    ints = floats.copy()
    ints[:wrong] = (labels[:wrong] + 2) % 4  # right for the float model, wrong for the integer one
    ints[float_right:float_right + extra] = (labels[float_right:float_right + extra] + 3) % 4  # both wrong
    expected, actual = 0.5 + 0.125 * np.eye(4)[floats], 0.5 + 0.125 * np.eye(4)[ints]
    outputs = [_output(0, "cls", 4, labelled=True), _output(1, "reg", 1, labelled=False)]
    stats = {}
    for name in ("litert", "tflm"):
        cls, reg = OutputStats.create(outputs[0], True), OutputStats.create(outputs[1], True)
        cls.update(expected, actual, labels)
        reg.update(np.full((N, 1), 10.0), np.full((N, 1), 9.0), None)
        stats[name] = [cls, reg]
    info = {name: InterpreterInfo(name, True, "", N, "test") for name in ("litert", "tflm")}
    report = ValidationReport(model={"file": "m.tflite"}, reference={"file": "m.keras"},
                              data={"source": "test", "samples": N, "labels": True}, thresholds=thresholds,
                              interpreters=info, outputs=outputs, stats=stats, float_stats=None,
                              litert_vs_tflm={}, layers={})
    report.checks = evaluate_checks(report)
    return report


def test_the_known_report_has_the_stated_statistics():
    report = _known_report(Thresholds(max_error=10.0, min_accuracy=0.0))
    for interpreter in ("litert", "tflm"):
        assert report.metric(interpreter, "accuracy_drop_pp", "cls") == 3.0
        assert report.metric(interpreter, "top1_accuracy", "cls") == 0.87
        assert report.metric(interpreter, "top1_agreement", "cls") == 0.95
        assert report.metric(interpreter, "max_abs_error", "cls") == 0.125
        assert report.metric(interpreter, "sqnr_db", "reg") == 20.0
        assert report.metric(interpreter, "max_abs_error", "reg") == 1.0


# (threshold field, output, metric, the value in the known report, direction: +1 = a maximum, -1 = a minimum)
GATES = [("max_drop", "cls", "accuracy_drop_pp", 3.0, 1), ("min_agreement", "cls", "top1_agreement", 0.95, -1),
         ("max_error", "reg", "max_abs_error", 1.0, 1), ("min_sqnr", "reg", "sqnr_db", 20.0, -1),
         ("min_accuracy", "cls", "top1_accuracy", 0.87, -1)]


@pytest.mark.parametrize(("field", "output", "metric", "value", "direction"), GATES, ids=[g[0] for g in GATES])
@pytest.mark.parametrize(("offset", "passes"), [(0.0, True), (-STEP, False), (STEP, True)],
                         ids=["at-threshold", "one-step-beyond", "one-step-inside"])
def test_gate_edges(field, output, metric, value, direction, offset, passes):
    # For a maximum, "beyond" is a threshold below the value; for a minimum, a threshold above it.
    threshold = value + direction * offset
    off = {"max_drop": None, "min_agreement": None, "max_error": None, "min_sqnr": None, "min_accuracy": None}
    report = _known_report(Thresholds(**{**off, field: threshold}))
    checks = [c for c in report.checks if c.output == output and c.metric == metric]
    assert [c.interpreter for c in checks] == ["litert", "tflm"]
    assert {c.status for c in checks} == {"passed" if passes else "failed"}, [c.describe() for c in checks]
    others = [c for c in report.checks if c not in checks]  # --max-error also applies to 'cls' (0.125)
    assert all(c.status == "passed" for c in others)
    assert report.passed is passes
    if not passes:
        option = "--" + field.replace("_", "-")
        assert option in report.failure_message() and report.failures[0].threshold == threshold


@pytest.mark.parametrize(("counts", "drop_passes", "accuracy_passes", "agreement_passes"), [
    ((90, 87, 5), True, True, True),    # at the thresholds
    ((90, 86, 5), False, False, True),  # one more mistake: drop 4 pp > 3, accuracy 0.86 < 0.87
    ((90, 88, 5), True, True, True),    # one fewer
    ((90, 87, 6), True, True, False),   # one more disagreement: 0.94 < 0.95
    ((90, 87, 4), True, True, True),
])
def test_count_gates_move_by_one_sample(counts, drop_passes, accuracy_passes, agreement_passes):
    """The metrics' own step (one sample of N) against fixed thresholds."""
    report = _known_report(Thresholds(max_drop=3.0, min_agreement=0.95, min_sqnr=None, min_accuracy=0.87), *counts)
    status = {c.metric: c.status for c in report.checks if c.interpreter == "tflm"}
    assert status == {"accuracy_drop_pp": "passed" if drop_passes else "failed",
                      "top1_accuracy": "passed" if accuracy_passes else "failed",
                      "top1_agreement": "passed" if agreement_passes else "failed"}


def test_gates_at_their_edges_through_the_cli(digits_report, digits_int8_path, tmp_path, run_cli):
    """The TFLM metrics of the example (digits_report: the same model, data, reference and sample subset)
    as thresholds: accuracy and max error equal to theirs pass, agreement one step above fails."""
    accuracy = digits_report.metric("tflm", "top1_accuracy")
    agreement = digits_report.metric("tflm", "top1_agreement")
    max_error = digits_report.metric("tflm", "max_abs_error")
    assert agreement + STEP <= 1.0
    code, out, err = run_cli(["-q", "validate", str(digits_int8_path), "--data", str(EXAMPLES / "digits_val.npz"),
                              "--reference", str(EXAMPLES / "digits.keras"), "--no-layers", "--max-drop", "off",
                              "--min-accuracy", repr(accuracy), "--max-error", repr(max_error),
                              "--min-agreement", repr(agreement + STEP), "--json"])
    assert code == 1
    error = err.strip().splitlines()[-1]
    assert error.startswith("error: validation failed: ") and "tflm output" in error and "(--min-agreement)" in error
    status = {c["metric"]: c["status"] for c in json.loads(out)["checks"] if c["interpreter"] == "tflm"}
    assert status == {"top1_accuracy": "passed", "max_abs_error": "passed", "top1_agreement": "failed"}


def test_junit_of_passed_failed_and_skipped_checks():
    """JUnit from the known report with LiteRT not run: its checks are skipped (counted as skipped, not as
    failures), TFLM's agreement fails by one sample, its drop and accuracy pass at their edges."""
    import xml.etree.ElementTree as ET

    from edgeq.validate.junit import junit_xml

    report = _known_report(Thresholds(max_drop=3.0, min_agreement=0.96, min_sqnr=None, min_accuracy=0.87))
    report.model = {"file": "m.tflite", "sha256": "ab" * 32}
    report.interpreters["litert"] = InterpreterInfo("litert", False, "ai-edge-litert is not installed", 0, "")
    report.checks = evaluate_checks(report)
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite.get("name") == "edgeq.validate.m.tflite"
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    tflm, litert = "edgeq.validate.tflm", "edgeq.validate.litert"
    assert sorted(cases) == sorted((where, name) for where in (tflm, litert) for name in
                                   ("cls.accuracy_drop_pp <= 3", "cls.top1_agreement >= 0.96",
                                    "cls.top1_accuracy >= 0.87"))
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("skipped"), element.get("errors")) == \
            ("6", "1", "3", "0")
    failure = cases[(tflm, "cls.top1_agreement >= 0.96")].find("failure")
    assert failure.get("type") == "ThresholdMissed"
    assert failure.text == "tflm.cls.top1_agreement = 0.95, required >= 0.96"
    assert "0.95 < 0.96 (--min-agreement)" in failure.get("message")
    for name in ("cls.accuracy_drop_pp <= 3", "cls.top1_accuracy >= 0.87"):
        passed = cases[(tflm, name)]
        assert passed.find("failure") is None and passed.find("skipped") is None
        assert passed.find("system-out").text.startswith("tflm output 'cls': ")
    for (where, _), case in cases.items():
        if where == litert:
            assert case.find("failure") is None and case.find("system-out") is None
            assert case.find("skipped").get("message") == "litert did not run"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props == {"model": "m.tflite", "model_sha256": "ab" * 32, "data": "test", "samples": str(N),
                     "reference": "m.keras", "litert": "skipped: ai-edge-litert is not installed", "tflm": "test"}
    assert junit_xml(report) == junit_xml(report)  # deterministic
    assert junit_xml(report).startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites name=\"edgeq.validate\"")


def test_junit_without_a_reference_counts_five_skipped_and_one_failure():
    """Without --reference every gate that compares with float is skipped, for TFLM too (and LiteRT did not run):
    five skipped, the accuracy gate (needs no reference) evaluated and failed -- counts no complement can fake."""
    import xml.etree.ElementTree as ET

    from edgeq.validate.junit import junit_xml

    report = _known_report(Thresholds(max_drop=3.0, min_agreement=0.96, min_sqnr=None, min_accuracy=0.88))
    report.model, report.reference = {"file": "m.tflite", "sha256": "cd" * 32}, None
    report.interpreters["litert"] = InterpreterInfo("litert", False, "not installed", 0, "")
    report.checks = evaluate_checks(report)
    by_status = {(c.interpreter, c.metric): (c.status, c.reason) for c in report.checks}
    assert by_status[("tflm", "accuracy_drop_pp")] == ("skipped", "no float reference model (--reference)")
    assert by_status[("tflm", "top1_agreement")] == ("skipped", "no float reference model (--reference)")
    assert by_status[("tflm", "top1_accuracy")] == ("failed", "")
    root = ET.fromstring(junit_xml(report))
    for element in (root, root.find("testsuite")):
        assert (element.get("tests"), element.get("failures"), element.get("skipped")) == ("6", "1", "5")
    props = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}
    assert "reference" not in props and props["model_sha256"] == "cd" * 32
