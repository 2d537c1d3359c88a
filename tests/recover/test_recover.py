"""`edgeq convert --recover` on models built to be hard for min/max int8, and on one where nothing helps.

The gap to float is measured here independently of recovery's own scores: edgeq.validate with the TFLM
interpreter (the microcontroller's truth) on the validation data, for the plain int8 model and the one shipped.
"""

from __future__ import annotations

import json
import math

import pytest
from recover_models import HARD_CASES, build

EXPECTED = {"rare_outliers": "percentile", "scaled_channels": "equalization", "wide_regression": "int16x8"}
TECHNIQUES = ["plain", "percentile", "mse", "bias_correction", "equalization", "int16x8"]


@pytest.fixture(scope="session")
def recovered(tmp_path_factory):
    """Every case converted plain and with --recover --val: name -> (case, source, plain TFLiteModel, result, OUT)."""
    from edgeq.errors import ValidationFailed
    from edgeq.load.loader import load_model
    from edgeq.pipeline import ConvertOptions, convert
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples

    root = tmp_path_factory.mktemp("recover")
    results = {}
    for name in [*HARD_CASES, "already_fine"]:
        case = build(name, root / name)
        source = load_model(case.model)
        plain = quantize(source, QuantizeOptions(), load_samples(case.calib, source.inputs), integer_only=True)
        out = root / name / "out"
        try:
            result = convert(case.model, out, ConvertOptions(calib=case.calib, val=case.val, recover=True))
        except ValidationFailed:  # OUT is written; the gates are the user's, the gap is what is tested
            result = None
        results[name] = case, source, plain, result, out
    return results


def _report(recovered, name) -> dict:
    return json.loads((recovered[name][4] / "report.json").read_text())


def _tflm_gap(case, source, model) -> float:
    """What the model loses against float on the validation data, with TFLM: accuracy points (classifiers, the
    labels are the float model's classes) or relative noise power 10^(-SQNR/10) (regression)."""
    from edgeq.validate.session import ValidationOptions, validate_model

    report = validate_model(model, case.val, source, ValidationOptions(tflm_samples=400, per_layer=False))
    if case.classifier:
        return 1.0 - report.metric("tflm", "top1_accuracy")
    return 10 ** (-report.metric("tflm", "sqnr_db") / 10)


@pytest.mark.parametrize("name", list(HARD_CASES))
def test_recovery_closes_at_least_half_the_gap_and_names_the_technique(recovered, name):
    from edgeq.tflite import read_model

    case, source, plain, _, out = recovered[name]
    before = _tflm_gap(case, source, plain)
    after = _tflm_gap(case, source, read_model(out / "model.tflite"))
    if case.classifier:
        assert before >= 0.05, f"plain int8 should miss float clearly, lost only {before:.3f}"
    else:
        assert before >= 0.1, f"plain int8 should miss float clearly, relative noise {before:.3g}"
    assert after <= before / 2, f"{name}: gap {before:.4g} -> {after:.4g}"
    recovery = _report(recovered, name)["recovery"]
    assert recovery["chosen"] == EXPECTED[name] and recovery["kept_plain_int8"] is False
    chosen = next(c for c in recovery["candidates"] if c["technique"] == EXPECTED[name])
    assert recovery["summary"].startswith(f"{chosen['title']} won")
    assert recovery["gap_closed"]["validation"]["value"] >= 0.5


def test_nothing_helps_keeps_the_plain_int8_model_and_says_so(recovered):
    case, source, plain, result, out = recovered["already_fine"]
    recovery = _report(recovered, "already_fine")["recovery"]
    assert recovery["chosen"] == "plain" and recovery["kept_plain_int8"] is True
    assert recovery["summary"].startswith("plain int8 kept: no technique beat it on 50 held-out calibration samples")
    assert (out / "model.tflite").read_bytes() == plain.data  # byte for byte what a plain convert writes
    assert result is not None and result.tflite.data == plain.data


@pytest.mark.parametrize("name", [*HARD_CASES, "already_fine"])
def test_every_candidate_is_reported_and_the_choice_is_never_worse_on_selection(recovered, name):
    recovery = _report(recovered, name)["recovery"]
    assert [c["technique"] for c in recovery["candidates"]] == TECHNIQUES
    assert recovery["selection"] == {**recovery["selection"], "held_out_samples": 50, "calibration_samples": 150}
    by_name = {c["technique"]: c for c in recovery["candidates"]}
    for candidate in recovery["candidates"]:
        assert candidate["status"] in ("scored", "not applicable", "not tried", "failed")
        if candidate["status"] == "scored":
            assert candidate["selection"]["samples"] == 50 and candidate["validation"]["samples"] == 400
        else:
            assert candidate["detail"] and "selection" not in candidate

    def key(entry: dict) -> tuple[float, float]:
        selection = entry["selection"]
        sqnr = selection["sqnr_db"]
        return (selection.get("top1_agreement", 1.0), math.inf if sqnr == "inf" else float(sqnr))

    chosen, plain = key(by_name[recovery["chosen"]]), key(by_name["plain"])
    assert chosen >= plain
    if recovery["chosen"] != "plain":  # clearly better: 2 more agreeing samples, or as many and +1 dB
        assert (chosen[0] - plain[0]) * 50 >= 2 - 1e-9 or (chosen[0] >= plain[0] and chosen[1] >= plain[1] + 1)


def test_int16x8_states_its_cost(recovered):
    recovery = _report(recovered, "wide_regression")["recovery"]
    last = recovery["candidates"][-1]
    assert last["technique"] == "int16x8" and "on the bias_correction model" in last["detail"]
    assert "I/O becomes int16" in last["cost"] and "activation memory peak" in last["cost"]
    assert "cost: 16-bit activations" in recovery["summary"]
    report = _report(recovered, "wide_regression")
    assert report["model"]["inputs"][0]["dtype"] == "int16"
    assert report["quantization"]["mode"] == "int16x8" and report["quantization"]["io_type"] == "int16"
    assert _report(recovered, "rare_outliers")["quantization"]["mode"] == "int8"
    others = [_report(recovered, n)["recovery"]["candidates"][-1] for n in ("rare_outliers", "already_fine")]
    assert all(c["status"] == "not tried" and "meets the validation gate" in c["detail"] for c in others)


def test_recovery_is_in_the_html_report(recovered):
    html = (recovered["scaled_channels"][4] / "validation.html").read_text()
    assert 'id="recovery"' in html and "cross-layer equalization of conv/depthwise pairs won" in html
    assert "expand -&gt; dw" in html


def test_cli_recover_is_deterministic_and_summarized(recovered, tmp_path, run_cli):
    case, *_, out = recovered["rare_outliers"]
    code, stdout, err = run_cli(["convert", str(case.model), "--calib", str(case.calib), "--val", str(case.val),
                                 "--recover", "-o", str(tmp_path / "again")])
    assert code == 0, err
    assert "percentile clipping of activation ranges won" in " ".join(stdout.split())
    for file in ("model.tflite", "report.json"):
        assert (tmp_path / "again" / file).read_bytes() == (out / file).read_bytes()


def test_a_failed_gate_suggests_recover(recovered, tmp_path, run_cli):
    case = recovered["wide_regression"][0]
    code, _, err = run_cli(["-q", "convert", str(case.model), "--calib", str(case.calib), "--val", str(case.val),
                            "-o", str(tmp_path / "out")])
    assert code == 1 and "--min-sqnr" in err and "--recover tries techniques that win accuracy back" in err


def test_recover_needs_int8_and_enough_samples(recovered, tmp_path):
    from edgeq.errors import CalibrationError, UsageError
    from edgeq.pipeline import ConvertOptions, convert

    case = recovered["already_fine"][0]
    with pytest.raises(UsageError, match="--mode int8"):
        convert(case.model, tmp_path / "a", ConvertOptions(calib=case.calib, mode="int16x8", recover=True))
    with pytest.raises(CalibrationError, match="at least 20 calibration samples"):
        convert(case.model, tmp_path / "b", ConvertOptions(calib=case.calib, calib_samples=12, recover=True))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_technique_that_fails_is_reported_not_fatal(recovered, tmp_path, monkeypatch):
    from edgeq.pipeline import ConvertOptions, convert
    from edgeq.recover import search

    def refuse(model):
        raise ValueError("clone_model cannot rebuild a subclassed model")

    monkeypatch.setattr(search.equalize, "equalize", refuse)
    case, _, plain, _, _ = recovered["already_fine"]
    result = convert(case.model, tmp_path / "out", ConvertOptions(calib=case.calib, recover=True))
    failed = result.recovery.candidate("equalization")
    assert failed.status == "failed" and "subclassed" in failed.detail
    assert result.recovery.chosen == "plain" and result.tflite.data == plain.data
