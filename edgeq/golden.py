"""Golden test vectors: deterministic inputs and the outputs the TFLM interpreter (the MCU's truth) gives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.calibration import SampleSet
from edgeq.runners import TFLMRunner, quantize_input
from edgeq.tflite import TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES

GOLDEN_SEED = 20261128


@dataclass(frozen=True)
class GoldenVector:
    """One sample: raw input arrays (the model's input dtypes, batch 1) and TFLM's raw outputs."""

    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]


def golden_inputs(model: TFLiteModel, count: int, samples: SampleSet | None = None,
                  seed: int = GOLDEN_SEED) -> list[list[np.ndarray]]:
    """`count` raw inputs: the first samples of `samples` quantized with the model's input parameters,
    or seeded uniform random values over each input dtype's range when no samples are given."""
    tensors = model.main.input_tensors()
    if samples is not None:
        count = min(count, samples.count)
        return [[quantize_input(x, t) for x, t in zip(samples.sample(i), tensors, strict=True)]
                for i in range(count)]
    rng = np.random.default_rng(seed)
    vectors = []
    for _ in range(count):
        sample = []
        for t in tensors:
            dtype = NUMPY_DTYPES[t.dtype]
            shape = tuple(max(d, 1) for d in t.shape)
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                sample.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dtype))
            else:
                sample.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        vectors.append(sample)
    return vectors


def golden_vectors(model: TFLiteModel, count: int = 1, samples: SampleSet | None = None,
                   seed: int = GOLDEN_SEED) -> list[GoldenVector]:
    """Golden inputs and the outputs the host TFLM interpreter computes for them."""
    runner = TFLMRunner(model)
    return [GoldenVector(tuple(x), tuple(runner.run(x))) for x in golden_inputs(model, count, samples, seed)]
