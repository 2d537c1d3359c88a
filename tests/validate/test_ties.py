"""A float model whose scores barely differ: int8 ties in the arg-max are explained, not a bare agreement of 0."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tie_case(tmp_path_factory):
    """Dense(4) with near-zero weights: class 1 wins in float by 1e-4, far below one int8 step, so the int8
    scores of classes 0 and 1 tie and arg-max picks class 0 on every sample."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples
    from edgeq.tfenv import keras

    k = keras()
    root = tmp_path_factory.mktemp("ties")
    inputs = k.Input((6,), name="x")
    dense = k.layers.Dense(4, name="scores")
    model = k.Model(inputs, dense(inputs))
    rng = np.random.default_rng(5)
    dense.set_weights([rng.normal(0, 1e-6, (6, 4)).astype(np.float32),
                       np.array([0.5, 0.5001, 0.2, 0.45], np.float32)])
    model.save(root / "ties.keras")
    x = rng.random((60, 6), dtype=np.float32)
    np.savez(root / "data.npz", x=x)
    source = load_model(root / "ties.keras")
    tflite = quantize(source, QuantizeOptions(), load_samples(root / "data.npz", source.inputs), integer_only=True)
    return source, tflite, root / "data.npz"


@pytest.fixture(scope="session")
def tie_report(tie_case):
    from edgeq.validate.session import validate_model

    source, tflite, data = tie_case
    return validate_model(tflite, data, source)


def test_ties_fail_agreement_with_the_reason(tie_report):
    assert tie_report.metric("tflm", "top1_agreement") == 0.0
    assert tie_report.metric("tflm", "sqnr_db") > 40  # the values are right
    failed = {c.interpreter: c for c in tie_report.failures if c.metric == "top1_agreement"}
    assert set(failed) == {"litert", "tflm"}
    for check in failed.values():
        assert "not an accuracy loss" in check.reason and "60 of 60 disagreements are arg-max ties" in check.reason
        assert "barely vary" in check.reason and "preprocessed" in check.reason
        assert check.reason in check.describe()


def test_ties_are_explained_in_json_and_html(tie_report):
    from edgeq.validate.html import render_html

    data = json.loads(json.dumps(tie_report.to_dict()))
    assert any("not an accuracy loss" in e for e in data["explanations"])
    agreement = [c for c in data["checks"] if c["metric"] == "top1_agreement"]
    assert all("ties" in c["reason"] for c in agreement)
    html = render_html(tie_report)
    assert 'id="explanations"' in html and "broken by class order" in html


def test_ties_are_explained_on_the_command_line(tie_case, tmp_path, run_cli):
    source, tflite, data = tie_case
    model = tmp_path / "ties.tflite"
    model.write_bytes(tflite.data)
    code, out, err = run_cli(["-q", "validate", str(model), "--reference", str(source.path), "--data", str(data)])
    assert code == 1
    assert "not an accuracy loss" in " ".join(out.split()) and "not an accuracy loss" in err


def test_real_disagreements_get_no_tie_explanation(digits_report):
    assert digits_report.to_dict()["explanations"] == []
    assert all(not c.reason for c in digits_report.checks if c.status != "skipped")
