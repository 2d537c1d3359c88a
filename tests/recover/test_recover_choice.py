"""Recovery's choice: never a candidate with less top-1 agreement, however much better its SQNR, and never the
labels (a candidate's labelled accuracy is not read; shuffled or absent labels give the same choice)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from recover_models import build

from edgeq.recover.outcome import Candidate
from edgeq.recover.score import Scores
from edgeq.recover.search import choose

N = 50  # held-out samples: one sample of agreement is 0.02


def _candidate(technique: str, agreement: float | None, sqnr: float, accuracy: float | None = None) -> Candidate:
    return Candidate(technique, status="scored",
                     selection=Scores(samples=N, agreement=agreement, sqnr_db=sqnr, relative_noise=0.0,
                                      accuracy=accuracy))


def test_less_agreement_is_never_chosen_for_more_sqnr() -> None:
    plain = _candidate("plain", 0.90, 20.0, accuracy=0.10)
    fewer = _candidate("mse", 0.88, 60.0, accuracy=1.00)  # one sample less agreement, +40 dB, perfect accuracy
    much_fewer = _candidate("percentile", 0.70, 90.0, accuracy=1.00)
    assert choose(plain, [fewer, much_fewer]).technique == "plain"
    # as much agreement: +1 dB is the margin, +0.9 dB is noise
    assert choose(plain, [_candidate("mse", 0.90, 20.9)]).technique == "plain"
    assert choose(plain, [fewer, _candidate("equalization", 0.90, 21.0)]).technique == "equalization"
    # one more agreeing sample is noise, two are a gain even at a lower SQNR
    assert choose(plain, [_candidate("mse", 0.92, 10.0)]).technique == "plain"
    assert choose(plain, [_candidate("mse", 0.94, 10.0)]).technique == "mse"
    # among winners, agreement first: the +3-sample candidate, not the one with the best SQNR
    winners = [_candidate("equalization", 0.90, 45.0), _candidate("bias_correction", 0.96, 21.0),
               _candidate("mse", 0.94, 50.0)]
    assert choose(plain, winners).technique == "bias_correction"
    # the int16x8 step: the best int8 model is the base, it is judged the same way
    best = choose(plain, winners)
    assert choose(best, [_candidate("int16x8", 0.94, 70.0)]).technique == "bias_correction"


def test_labelled_accuracy_is_never_read() -> None:
    plain = _candidate("plain", 0.90, 20.0, accuracy=0.0)
    for accuracy in (None, 0.0, 1.0):
        assert choose(plain, [_candidate("mse", 0.88, 40.0, accuracy=accuracy)]).technique == "plain"
        assert choose(plain, [_candidate("mse", 0.90, 25.0, accuracy=accuracy)]).technique == "mse"
    regression = _candidate("plain", None, 20.0)
    assert choose(regression, [_candidate("mse", None, 21.5)]).technique == "mse"
    assert choose(regression, [_candidate("mse", None, 20.5)]).technique == "plain"
    assert choose(plain, [Candidate("equalization", status="not applicable")]).technique == "plain"


@pytest.mark.slow
def test_shuffled_or_absent_labels_give_the_same_recovery(tmp_path) -> None:
    """rare_outliers (where percentile clipping wins) recovered with the true labels, shuffled labels and none:
    the same candidates, the same selection scores, the same choice."""
    from edgeq.check.targets import get_target
    from edgeq.load.loader import load_model
    from edgeq.pipeline import ConvertOptions
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.recover.search import recover_accuracy
    from edgeq.samples import load_samples

    case = build("rare_outliers", tmp_path / "case")
    source = load_model(case.model)
    samples = load_samples(case.calib, source.inputs)
    plain = quantize(source, QuantizeOptions(), samples, integer_only=True)
    labels = np.asarray(source.predict(samples.arrays)[0]).argmax(axis=-1)
    shuffled = np.random.default_rng(5).permutation(labels)
    assert (shuffled != labels).mean() > 0.5
    outcomes = {}
    for name, y in (("absent", None), ("true", labels), ("shuffled", shuffled)):
        _, report = recover_accuracy(source, plain, dataclasses.replace(samples, labels=y),
                                     ConvertOptions(recover=True), get_target("cortex-m4"), lambda _: None)
        assert report is not None
        outcomes[name] = (report.chosen, [(c.technique, c.status, None if c.selection is None else
                                           (c.selection.agreement, c.selection.sqnr_db)) for c in report.candidates])
        accuracies = [c.selection.accuracy for c in report.candidates if c.selection is not None]
        assert all(a is None for a in accuracies) if y is None else all(a is not None for a in accuracies)
    assert outcomes["absent"] == outcomes["true"] == outcomes["shuffled"]
    assert outcomes["absent"][0] == "percentile"
