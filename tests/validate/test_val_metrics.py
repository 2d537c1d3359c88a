"""Known-answer tests for every validation metric, and streaming accumulators that agree with them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeq.validate.metrics import (
    AccuracyStats,
    ConfusionMatrix,
    ErrorHistogram,
    ErrorStats,
    Top1Stats,
    lsb_difference,
    max_abs_error,
    mean_abs_error,
    sqnr_db,
    top1_accuracy,
    top1_agreement,
)
from edgeq.validate.results import OutputInfo, OutputStats, json_number

REF = np.array([1.0, -1.0, 1.0, -1.0])


def test_sqnr_known_answers():
    # signal power 4, noise 4 * 0.1^2 = 0.04 -> 10 log10(100) = 20 dB exactly
    assert sqnr_db(REF, REF + 0.1) == pytest.approx(20.0, abs=1e-9)
    # noise 4 * 0.01^2 -> 40 dB; halving the amplitude of the error adds 6.02 dB
    assert sqnr_db(REF, REF - 0.01) == pytest.approx(40.0, abs=1e-9)
    assert sqnr_db(REF, REF + 0.05) - sqnr_db(REF, REF + 0.1) == pytest.approx(20 * math.log10(2), abs=1e-9)
    assert sqnr_db(REF, REF) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf


def test_abs_errors_known_answers():
    test = REF + np.array([0.5, -0.25, 0.0, 0.125])
    assert max_abs_error(REF, test) == 0.5
    assert mean_abs_error(REF, test) == pytest.approx((0.5 + 0.25 + 0.0 + 0.125) / 4)


def test_top1_accuracy_and_agreement_known_answers():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1, 1, 0])  # sample 2 predicted 2, label 1: 3 of 4 right
    assert top1_accuracy(scores, labels) == 0.75
    other = scores.copy()
    other[3] = [0.1, 0.8, 0.1]  # flips one decision
    assert top1_agreement(scores, other) == 0.75
    assert top1_agreement(scores, scores) == 1.0


def test_top1_agreement_counts_every_position_of_a_dense_output():
    a = np.zeros((2, 3, 4))
    a[..., 1] = 1  # every position: class 1
    b = a.copy()
    b[0, 0] = [0, 0, 0, 1]  # one of 6 positions differs
    assert top1_agreement(a, b) == pytest.approx(5 / 6)


def test_lsb_difference_known_answers():
    a = np.array([[-128, 0, 5, 127]], np.int8)
    b = np.array([[-128, 1, 3, 127]], np.int8)
    assert lsb_difference(a, b) == (2, 2)
    assert lsb_difference(a, a) == (0, 0)
    # no int8 wrap-around: -128 vs 127 is 255 LSB
    assert lsb_difference(np.array([-128], np.int8), np.array([127], np.int8)) == (1, 255)


def test_streaming_stats_equal_one_shot_over_uneven_batches(rng):
    ref = rng.normal(size=(1000, 10)).astype(np.float32)
    test = ref + rng.normal(scale=0.05, size=ref.shape).astype(np.float32)
    labels = rng.integers(0, 10, size=1000)
    error, top, acc = ErrorStats(), Top1Stats(), AccuracyStats()
    for start, stop in ((0, 1), (1, 300), (300, 301), (301, 1000)):
        error.update(ref[start:stop], test[start:stop])
        top.update(ref[start:stop], test[start:stop])
        acc.update(test[start:stop], labels[start:stop])
    assert error.sqnr_db == pytest.approx(sqnr_db(ref, test), rel=1e-9)
    assert error.max_abs_error == pytest.approx(max_abs_error(ref, test))
    assert error.mean_abs_error == pytest.approx(mean_abs_error(ref, test), rel=1e-9)
    assert top.agreement == top1_agreement(ref, test)
    assert acc.accuracy == top1_accuracy(test, labels)


def test_confusion_matrix_known_answer():
    scores = np.eye(3)[[0, 1, 2, 2, 0]]  # predictions 0 1 2 2 0
    confusion = ConfusionMatrix(3)
    confusion.update(scores[:2], np.array([0, 1]))
    confusion.update(scores[2:], np.array([2, 1, 1]))
    np.testing.assert_array_equal(confusion.counts, [[1, 0, 0], [1, 1, 1], [0, 0, 1]])


def test_error_histogram_buckets_in_lsb():
    unit = 0.5
    errors_lsb = np.array([0, 0.4, 1, 2, 3, 4, 6, 10, 20, 40])
    histogram = ErrorHistogram(unit)
    histogram.update(np.zeros(10), errors_lsb * unit)
    #                      0  1  2  3  4 5-8 9-16 17-32 >32
    np.testing.assert_array_equal(histogram.counts, [2, 1, 1, 1, 1, 1, 1, 1, 1])


def _output(classes: int, labelled: bool) -> OutputInfo:
    return OutputInfo(position=0, name="out", reference=0, shape=(classes,), dtype="int8", quantized=True,
                      scale=1 / 256, zero_point=-128, classes=classes, unit=1 / 256, unit_name="LSB",
                      labelled=labelled)


def test_accuracy_drop_in_percentage_points():
    labels = np.arange(8) % 4
    expected = np.eye(4)[labels]  # the float model is always right: 100 %
    actual = expected.copy()
    actual[[1, 5]] = np.eye(4)[[0, 0]]  # the integer model misses 2 of 8: 75 %
    stats = OutputStats.create(_output(4, labelled=True), against_float=True)
    stats.update(expected, actual, labels)
    metrics = stats.metrics()
    assert metrics["float_top1_accuracy"] == 1.0
    assert metrics["top1_accuracy"] == 0.75
    assert metrics["accuracy_drop_pp"] == pytest.approx(25.0)
    assert metrics["top1_agreement"] == 0.75
    assert metrics["max_abs_error"] == 1.0


def test_regression_output_gets_error_metrics_but_no_top1():
    stats = OutputStats.create(_output(1, labelled=False), against_float=True)
    stats.update(np.array([[1.0], [-1.0]]), np.array([[1.1], [-0.9]]), None)
    metrics = stats.metrics()
    assert "top1_agreement" not in metrics and "top1_accuracy" not in metrics
    assert metrics["sqnr_db"] == pytest.approx(20.0)


def test_json_numbers_are_valid_json():
    assert json_number(math.inf) == "inf" and json_number(-math.inf) == "-inf"
    assert json_number(math.nan) is None
    assert json_number(0.123456789) == 0.123457
    assert json_number(np.int64(3)) == 3
