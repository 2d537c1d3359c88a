"""Validation metrics as pure numpy: one-shot functions and streaming accumulators that agree with them.

The accumulators keep sums, never samples, so validating 50k samples costs the same memory as 50.
Sums are kept in float64/int64: float32 sums of squares lose digits long before 50k samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Error histogram buckets in output LSBs (quantization steps): 0, 1, 2, 3, 4, 5-8, 9-16, 17-32, >32.
HISTOGRAM_EDGES = (0.5, 1.5, 2.5, 3.5, 4.5, 8.5, 16.5, 32.5)
HISTOGRAM_LABELS = ("0", "1", "2", "3", "4", "5-8", "9-16", "17-32", ">32")


def _f64(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio: 10·log10(Σref² / Σ(ref−test)²); +inf when equal."""
    return _sqnr(float(np.sum(_f64(reference) ** 2)), float(np.sum((_f64(reference) - _f64(test)) ** 2)))


def _sqnr(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def max_abs_error(reference: np.ndarray, test: np.ndarray) -> float:
    """Largest |reference − test| over all values."""
    diff = np.abs(_f64(reference) - _f64(test))
    return float(diff.max()) if diff.size else 0.0


def mean_abs_error(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean |reference − test| over all values."""
    diff = np.abs(_f64(reference) - _f64(test))
    return float(diff.mean()) if diff.size else 0.0


def top1(scores: np.ndarray) -> np.ndarray:
    """The predicted class at every position: argmax over the last axis."""
    return np.argmax(np.asarray(scores), axis=-1)


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose top-1 class equals the label (scores [N, C], labels [N])."""
    predicted = top1(scores).reshape(len(labels), -1)[:, 0]
    return float(np.mean(predicted == np.asarray(labels))) if len(labels) else math.nan


def top1_agreement(reference: np.ndarray, test: np.ndarray) -> float:
    """Share of positions where both models pick the same top-1 class."""
    a, b = top1(reference), top1(test)
    return float(np.mean(a == b)) if a.size else math.nan


def lsb_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Raw integer outputs of two interpreters: (number of values that differ, largest difference in LSB)."""
    diff = np.abs(np.asarray(a, np.int64) - np.asarray(b, np.int64))
    return int(np.count_nonzero(diff)), int(diff.max()) if diff.size else 0


@dataclass
class ErrorStats:
    """Streaming max/mean abs error and SQNR of `test` against `reference`."""

    values: int = 0
    signal: float = 0.0
    noise: float = 0.0
    abs_sum: float = 0.0
    max_abs: float = 0.0

    def update(self, reference: np.ndarray, test: np.ndarray) -> None:
        ref = _f64(reference)
        err = ref - _f64(test)
        self.values += err.size
        self.signal += float(np.sum(ref * ref))
        self.noise += float(np.sum(err * err))
        if err.size:
            abs_err = np.abs(err)
            self.abs_sum += float(abs_err.sum())
            self.max_abs = max(self.max_abs, float(abs_err.max()))

    @property
    def sqnr_db(self) -> float:
        return _sqnr(self.signal, self.noise)

    @property
    def mean_abs_error(self) -> float:
        return self.abs_sum / self.values if self.values else 0.0

    @property
    def max_abs_error(self) -> float:
        return self.max_abs


@dataclass
class Top1Stats:
    """Streaming top-1 agreement between a reference and a test output, and why they disagree.

    `unit`: the test output's quantization step. A disagreement is `tied` when the test output's top value is
    shared by several classes (arg-max then picks the first), `unresolvable` when it is tied or the reference's
    top-2 margin is below one step (no integer output can keep such an order). The reference's per-class range
    tells whether the float model's outputs vary at all.
    """

    positions: int = 0
    agree: int = 0
    unit: float = 0.0
    tied: int = 0
    unresolvable: int = 0
    reference_min: np.ndarray | None = field(default=None, repr=False)
    reference_max: np.ndarray | None = field(default=None, repr=False)

    def update(self, reference: np.ndarray, test: np.ndarray) -> None:
        a, b = top1(reference), top1(test)
        self.positions += a.size
        self.agree += int(np.count_nonzero(a == b))
        ref, out = _f64(reference), _f64(test)
        flat = ref.reshape(-1, ref.shape[-1])
        low, high = flat.min(axis=0), flat.max(axis=0)
        self.reference_min = low if self.reference_min is None else np.minimum(self.reference_min, low)
        self.reference_max = high if self.reference_max is None else np.maximum(self.reference_max, high)
        disagree = a != b
        if not disagree.any() or ref.shape[-1] < 2:
            return
        tied = np.count_nonzero(out == out.max(axis=-1, keepdims=True), axis=-1) > 1
        top2 = np.sort(ref, axis=-1)[..., -2:]
        close = (top2[..., 1] - top2[..., 0]) < self.unit
        self.tied += int(np.count_nonzero(disagree & tied))
        self.unresolvable += int(np.count_nonzero(disagree & (tied | close)))

    @property
    def disagreements(self) -> int:
        return self.positions - self.agree

    @property
    def reference_spread(self) -> float:
        """The largest range of one class's float score over every sample seen (0 when constant)."""
        if self.reference_min is None or self.reference_max is None:
            return math.nan
        return float((self.reference_max - self.reference_min).max())

    @property
    def agreement(self) -> float:
        return self.agree / self.positions if self.positions else math.nan


@dataclass
class AccuracyStats:
    """Streaming top-1 accuracy against integer labels."""

    samples: int = 0
    correct: int = 0

    def update(self, scores: np.ndarray, labels: np.ndarray) -> None:
        predicted = top1(scores).reshape(len(labels), -1)[:, 0]
        self.samples += len(labels)
        self.correct += int(np.count_nonzero(predicted == labels))

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else math.nan


@dataclass
class ConfusionMatrix:
    """counts[label, predicted], accumulated over batches."""

    classes: int
    counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros((self.classes, self.classes), dtype=np.int64)

    def update(self, scores: np.ndarray, labels: np.ndarray) -> None:
        predicted = top1(scores).reshape(len(labels), -1)[:, 0]
        np.add.at(self.counts, (np.asarray(labels, np.int64), predicted), 1)


@dataclass
class ErrorHistogram:
    """How many output values are off by 0, 1, 2, ... LSB (|error| / unit, rounded into buckets)."""

    unit: float
    counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(HISTOGRAM_LABELS), dtype=np.int64)

    def update(self, reference: np.ndarray, test: np.ndarray) -> None:
        lsb = np.abs(_f64(reference) - _f64(test)).ravel() / self.unit
        self.counts += np.bincount(np.searchsorted(HISTOGRAM_EDGES, lsb, side="right"),
                                   minlength=len(HISTOGRAM_LABELS))
