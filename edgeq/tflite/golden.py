"""Golden test vectors: deterministic inputs and the outputs the TFLM interpreter (the MCU's truth) gives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.errors import CalibrationError
from edgeq.samples import SampleSet
from edgeq.tflite import Tensor, TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES
from edgeq.tflite.runners import TFLMRunner, quantize_input
from edgeq.tflite.signature import tflite_input_specs

GOLDEN_SEED = 20261128


@dataclass(frozen=True)
class GoldenVector:
    """One sample: raw input arrays (the model's input dtypes, batch 1) and TFLM's raw outputs."""

    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]


def sample_order(tensors: tuple[Tensor, ...] | list[Tensor], samples: SampleSet,
                 input_names: list[str] | None = None) -> list[int]:
    """Which of `samples`' arrays feeds each .tflite input, in .tflite order.

    Samples come in the Keras model's input order, but the converter may order the .tflite inputs
    differently (a model with inputs a (10,) and b (4, 4, 2) converts with b first). A .tflite input takes
    the array of the same input name (its signature name, or 'serving_default_<name>:0'), else the next
    unused array of its own per-sample shape."""
    if len(samples.arrays) != len(tensors):
        raise CalibrationError(f"{len(samples.arrays)} sample arrays for a model with {len(tensors)} inputs; "
                               "give one array per model input")
    unused = list(range(len(samples.arrays)))
    order = []
    for t, name in zip(tensors, input_names or [""] * len(tensors), strict=True):
        shape = tuple(t.shape[1:])
        fits = [k for k in unused if tuple(samples.arrays[k].shape[1:]) == shape]
        named = [k for k in fits if k < len(samples.names) and samples.names[k] == name]
        match = (named or fits or [None])[0]
        if match is None:
            have = ", ".join(str(tuple(a.shape[1:])) for a in samples.arrays)
            raise CalibrationError(f"no sample array of shape {shape} for model input '{t.name}' (samples have "
                                   f"{have}); give samples shaped like the model's inputs")
        unused.remove(match)
        order.append(match)
    return order


def golden_inputs(model: TFLiteModel, count: int, samples: SampleSet | None = None,
                  seed: int = GOLDEN_SEED) -> list[list[np.ndarray]]:
    """`count` raw inputs: the first samples of `samples` quantized with the model's input parameters,
    or seeded uniform random values over each input dtype's range when no samples are given."""
    tensors = model.main.input_tensors()
    if samples is not None:
        count = min(count, samples.count)
        order = sample_order(tensors, samples, [spec.name for spec in tflite_input_specs(model)])
        return [[quantize_input(samples.arrays[k][i:i + 1], t) for k, t in zip(order, tensors, strict=True)]
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
