"""How close an integer model is to the float model on a set of samples: the numbers recovery ranks by.

Ranking uses no labels: top-1 agreement with the float model (outputs with >= 2 classes), then SQNR (the lowest
over outputs). Labels, where the validation data has them, only add top-1 accuracy to what is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.load.loader import LoadedModel
from edgeq.samples import SampleSet
from edgeq.tflite import TFLiteModel
from edgeq.tflite.runners import LiteRTRunner, dequantize_output, quantize_input
from edgeq.validate.layers import match_io
from edgeq.validate.metrics import sqnr_db, top1_accuracy, top1_agreement
from edgeq.validate.results import json_number

SQNR_MARGIN_DB = 1.0  # a candidate must beat the plain model by this much SQNR (when agreement is not lower) ...
AGREEMENT_MARGIN = 2  # ... or agree with float on this many more held-out samples


@dataclass(frozen=True)
class Scores:
    """One model against the float model on one sample set."""

    samples: int
    agreement: float | None  # mean top-1 agreement over classification outputs; None without one
    sqnr_db: float  # the lowest SQNR over outputs
    relative_noise: float  # mean over outputs of Σ(ref - out)² / Σref²: what "the gap to float" is made of
    accuracy: float | None = None  # top-1 accuracy against labels (validation data with labels)

    def key(self) -> tuple[float, float]:
        return (1.0 if self.agreement is None else self.agreement, self.sqnr_db)

    def beats(self, other: Scores) -> bool:
        """Clearly better on the same samples: top-1 agreement on at least AGREEMENT_MARGIN more samples, or no
        less agreement and at least SQNR_MARGIN_DB more SQNR (one sample more is within the noise)."""
        mine, theirs = self.key(), other.key()
        gained = (mine[0] - theirs[0]) * self.samples
        if gained >= AGREEMENT_MARGIN - 1e-9:
            return True
        return gained > -1e-9 and mine[1] >= theirs[1] + SQNR_MARGIN_DB

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"samples": self.samples, "sqnr_db": json_number(self.sqnr_db)}
        if self.agreement is not None:
            data["top1_agreement"] = json_number(self.agreement)
        if self.accuracy is not None:
            data["top1_accuracy"] = json_number(self.accuracy)
        return data


def float_outputs(source: LoadedModel, samples: SampleSet) -> list[np.ndarray]:
    """The float model's outputs on every sample, in the source model's output order."""
    return source.predict(samples.arrays)


def score(tflite: TFLiteModel, source: LoadedModel, samples: SampleSet, expected: list[np.ndarray]) -> Scores:
    """Run `tflite` (LiteRT reference kernels, one sample per invoke) and compare with `expected`."""
    iomap = match_io(tflite, source)
    runner = LiteRTRunner(tflite)
    in_tensors, out_tensors = tflite.main.input_tensors(), tflite.main.output_tensors()
    results: list[list[np.ndarray]] = [[] for _ in out_tensors]
    for i in range(samples.count):
        raw = runner.run([quantize_input(samples.arrays[iomap.inputs[k]][i:i + 1], t)
                          for k, t in enumerate(in_tensors)])
        for position, (values, tensor) in enumerate(zip(raw, out_tensors, strict=True)):
            results[position].append(dequantize_output(values, tensor))
    agreements, sqnrs, noises = [], [], []
    accuracy = None
    for position, chunks in enumerate(results):
        actual = np.concatenate(chunks)
        reference = np.asarray(expected[iomap.outputs[position]])
        sqnrs.append(sqnr_db(reference, actual))
        signal = float(np.sum(np.asarray(reference, np.float64) ** 2))
        noise = float(np.sum((np.asarray(reference, np.float64) - actual) ** 2))
        noises.append(noise / signal if signal > 0 else (0.0 if noise == 0 else math.inf))
        if actual.shape[-1] >= 2 and len(actual.shape) >= 2:
            agreements.append(top1_agreement(reference, actual))
            if accuracy is None and samples.labels is not None:
                accuracy = top1_accuracy(actual, samples.labels)
    return Scores(samples=samples.count, agreement=float(np.mean(agreements)) if agreements else None,
                  sqnr_db=float(min(sqnrs)), relative_noise=float(np.mean(noises)), accuracy=accuracy)


def float_accuracy(expected: list[np.ndarray], samples: SampleSet) -> float | None:
    """The float model's top-1 accuracy on labelled samples (its first classification output)."""
    if samples.labels is None:
        return None
    for values in expected:
        if values.ndim >= 2 and values.shape[-1] >= 2:
            return top1_accuracy(values, samples.labels)
    return None


@dataclass(frozen=True)
class GapClosed:
    """The share of plain int8's distance to the float model that a candidate removes, and in what terms."""

    metric: str
    value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": json_number(self.value)}

    def describe(self) -> str:
        if self.value is None:
            return f"no gap to close ({self.metric})"
        return f"{self.value:.0%} of the gap to float closed ({self.metric})"


def gap_closed(plain: Scores, chosen: Scores, reference_accuracy: float | None = None) -> GapClosed:
    """Accuracy with labels when plain int8 loses some; else top-1 agreement; else output noise (SQNR)."""
    if reference_accuracy is not None and plain.accuracy is not None and chosen.accuracy is not None \
            and reference_accuracy > plain.accuracy:
        return GapClosed("top-1 accuracy", (chosen.accuracy - plain.accuracy) / (reference_accuracy - plain.accuracy))
    if plain.agreement is not None and chosen.agreement is not None and plain.agreement < 1.0:
        return GapClosed("top-1 agreement", (chosen.agreement - plain.agreement) / (1.0 - plain.agreement))
    if plain.relative_noise > 0 and math.isfinite(plain.relative_noise):
        return GapClosed("output noise power", 1.0 - chosen.relative_noise / plain.relative_noise)
    return GapClosed("output noise power", None)
