"""--jobs: the interpreters split across worker processes give the same reports, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeq.output import json_text
from edgeq.validate import workers
from edgeq.validate.html import render_html
from edgeq.validate.junit import junit_xml
from edgeq.validate.session import ValidationOptions, validate_model

DIGITS_VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


def _documents(report) -> tuple[str, str, str]:
    return json_text(report.to_dict()), junit_xml(report), render_html(report)


@pytest.fixture
def submitted(monkeypatch) -> list[int]:
    """Force workers even for a short run, and count the parts sent to them."""
    monkeypatch.setattr(workers, "PARALLEL_MIN_SECONDS", -1.0)
    sent: list[int] = []

    from concurrent.futures import ProcessPoolExecutor

    class Counting(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            sent.append(len(args[0].litert_rows) + len(args[0].subset_rows))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(workers, "_executor", lambda: Counting)
    return sent


@pytest.mark.parametrize("tflm_samples", [300, 0], ids=["tflm-layers", "litert-layers"])
def test_two_jobs_write_the_same_reports_as_one(digits_int8, digits_source, submitted, tflm_samples):
    # 500 labelled samples in batches of 64 (several batches in flight), TFLM on a seeded 300 with the per-layer
    # comparison; without TFLM the per-layer tensors come from LiteRT in the workers
    options = {"batch_size": 64, "tflm_samples": tflm_samples}
    one = validate_model(digits_int8, DIGITS_VAL, digits_source, ValidationOptions(jobs=1, **options))
    assert not submitted
    two = validate_model(digits_int8, DIGITS_VAL, digits_source, ValidationOptions(jobs=2, **options))
    assert len(submitted) > 8  # two parts per batch went to the workers (the first rows ran here, timed)
    assert sum(submitted) > 500
    assert one.layers["compared"] and one.layers["samples"] == two.layers["samples"]
    for mine, theirs in zip(_documents(one), _documents(two), strict=True):
        assert mine == theirs


def test_jobs_must_be_positive():
    from edgeq.errors import UsageError

    with pytest.raises(UsageError, match="--jobs must be 1 or more"):
        ValidationOptions(jobs=0)
