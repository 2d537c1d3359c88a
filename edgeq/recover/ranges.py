"""Activation ranges beyond min/max: percentile and MSE-optimal clipping, per tensor.

TFLite's calibrator records each activation's min and max; one rare outlier then spreads 256 int8 levels over a
range the typical values use a sliver of. The converter's calibrate-only step gives a float .tflite carrying those
min/max values; edgeq histograms every such tensor on the calibration samples, picks a narrower range per tensor
and writes it back before the converter's own quantizer produces the integer model. The model's outputs keep their
calibrated range: they are the user's numbers, and clipping them would change what the model answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.samples import SampleSet
from edgeq.tflite import read_model
from edgeq.tflite.golden import sample_order
from edgeq.tflite.runners import LiteRTRunner
from edgeq.tflite.schema import schema
from edgeq.tflite.signature import tflite_input_specs

BINS = 4096
PERCENTILE = 99.99
LEVELS = 255  # int8 steps across a range
_GRID = np.linspace(1.0, 0.02, 50)  # shares of the calibrated bound tried as a clipped bound


@dataclass
class TensorHistogram:
    """Values of one activation tensor on the calibration samples, binned over its calibrated [low, high]."""

    index: int
    name: str
    low: float
    high: float
    counts: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        edges = np.linspace(self.low, self.high, BINS + 1)
        return (edges[:-1] + edges[1:]) / 2

    def add(self, values: np.ndarray) -> None:
        width = (self.high - self.low) / BINS
        position = np.floor((np.asarray(values, np.float64).ravel() - self.low) / width)
        self.counts += np.bincount(np.clip(position, 0, BINS - 1).astype(np.int64), minlength=BINS)


def _ranged_tensors(model_t) -> list[tuple[int, str, float, float]]:
    """(index, name, min, max) of every calibrated, non-output tensor with a real range."""
    subgraph = model_t.subgraphs[0]
    outputs = set(subgraph.outputs)
    found = []
    for index, tensor in enumerate(subgraph.tensors):
        quant = tensor.quantization
        if index in outputs or quant is None or quant.min is None or quant.max is None:
            continue
        if len(quant.min) != 1 or len(quant.max) != 1:
            continue
        low, high = float(quant.min[0]), float(quant.max[0])
        if np.isfinite(low) and np.isfinite(high) and high > low:
            name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
            found.append((index, name, low, high))
    return found


def histograms(calibrated: bytes, samples: SampleSet) -> list[TensorHistogram]:
    """Run the calibrated float model (LiteRT reference kernels, every tensor kept) on `samples`."""
    model_t = schema().ModelT.InitFromPackedBuf(bytearray(calibrated), 0)
    found = [TensorHistogram(i, name, low, high, np.zeros(BINS, np.int64))
             for i, name, low, high in _ranged_tensors(model_t)]
    if not found:
        return []
    parsed = read_model(calibrated)
    runner = LiteRTRunner(parsed, preserve_all_tensors=True)
    tensors = parsed.main.input_tensors()
    order = sample_order(tensors, samples, [spec.name for spec in tflite_input_specs(parsed)])
    for i in range(samples.count):
        runner.run([samples.arrays[k][i:i + 1] for k in order])
        for hist in found:
            hist.add(runner.tensor(hist.index))
    return found


def percentile_range(hist: TensorHistogram, percentile: float = PERCENTILE) -> tuple[float, float]:
    """The range between the (100 - p)th and the pth percentile of the tensor's values."""
    cumulative = np.cumsum(hist.counts) / max(int(hist.counts.sum()), 1)
    tail = 1.0 - percentile / 100.0
    edges = np.linspace(hist.low, hist.high, BINS + 1)
    low, high = hist.low, hist.high
    if hist.low < 0:  # the left edge of the first bin past the lower tail
        low = min(float(edges[int(np.searchsorted(cumulative, tail, side="right"))]), 0.0)
    if hist.high > 0:  # the right edge of the bin where the upper tail begins
        high = max(float(edges[min(int(np.searchsorted(cumulative, 1.0 - tail, side="left")) + 1, BINS)]), 0.0)
    return low, high


def mse_range(hist: TensorHistogram) -> tuple[float, float]:
    """The clipped range with the least expected int8 error: rounding noise (step²/12) inside the range plus
    the squared clipping error outside, over the histogram; bounds are searched as shares of the calibrated ones."""
    used = hist.counts > 0
    counts, centers = hist.counts[used].astype(np.float64), hist.centers[used]
    lows = hist.low * _GRID if hist.low < 0 else np.array([hist.low])
    highs = hist.high * _GRID if hist.high > 0 else np.array([hist.high])
    best, best_error = (hist.low, hist.high), np.inf
    for low in lows:  # at most 50 x 50 pairs over the non-empty bins, vectorized over the highs
        span = np.maximum(highs, 0.0)[:, None] - min(low, 0.0)
        clipped = np.clip(centers[None, :], low, highs[:, None])
        error = (((clipped - centers[None, :]) ** 2 + (span / LEVELS) ** 2 / 12) * counts[None, :]).sum(axis=1)
        k = int(np.argmin(error))
        if error[k] < best_error:  # ties keep the wider range, tried first
            best, best_error = (float(low), float(highs[k])), float(error[k])
    return best


def with_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]]) -> bytes:
    """The calibrated model with new min/max on the given tensors (index -> (min, max))."""
    import flatbuffers

    module = schema()
    model_t = module.ModelT.InitFromPackedBuf(bytearray(calibrated), 0)
    tensors = model_t.subgraphs[0].tensors
    for index, (low, high) in ranges.items():
        tensors[index].quantization.min = np.array([low], np.float32)
        tensors[index].quantization.max = np.array([high], np.float32)
    builder = flatbuffers.Builder(len(calibrated) + 4096)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def clipped_models(calibrated: bytes, samples: SampleSet) -> dict[str, tuple[bytes, int]]:
    """'percentile' and 'mse' -> (calibrated model with clipped ranges, number of tensors whose range shrank)."""
    found = histograms(calibrated, samples)
    results = {}
    for method, choose in (("percentile", percentile_range), ("mse", mse_range)):
        ranges = {}
        for hist in found:
            low, high = choose(hist)
            if (low, high) != (hist.low, hist.high):
                ranges[hist.index] = (low, high)
        results[method] = (with_ranges(calibrated, ranges), len(ranges))
    return results
