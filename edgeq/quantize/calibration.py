"""Calibration data that cannot be right: per-input statistics and the warnings a user needs before trusting
the ranges TFLite's calibrator derives from them.

The converter accepts anything numeric; all-zero data gives an input scale of ~1e-8, three images give ranges
that real inputs overrun, and an image folder fed as 0-255 to a model trained on [0, 1] saturates every
activation. None of these is an error (the user may know better), all of them deserve a warning.
"""

from __future__ import annotations

import numpy as np

from edgeq.load.loader import LoadedModel
from edgeq.samples import SampleSet

MIN_SAMPLES = 50  # below this the calibrated ranges rarely cover real inputs (a few hundred is usual)
MAX_PREDICT_SAMPLES = 256  # the float-output checks need a picture, not every sample
RELATIVE_SPREAD = 1e-3  # values varying by less than this share of their magnitude count as (nearly) constant
ABSOLUTE_SPREAD = 1e-6
SATURATION = 1e-6  # within this of a probability/tanh bound, a float32 output is saturated
SATURATED_SHARE = 0.9


def _nearly_constant(spread: float, magnitude: float) -> bool:
    return spread <= max(ABSOLUTE_SPREAD, RELATIVE_SPREAD * magnitude)


def input_warnings(samples: SampleSet) -> list[str]:
    """Too few samples; inputs that are constant, nearly constant or the same in every sample."""
    warnings = []
    if samples.count < MIN_SAMPLES and not samples.synthetic:
        warnings.append(f"only {samples.count} calibration sample(s), fewer than the {MIN_SAMPLES} edgeq considers "
                        "a minimum: activation ranges from so few samples rarely cover real inputs; give a few "
                        "hundred representative samples")
    for stat, array in zip(samples.stats(), samples.arrays, strict=True):
        magnitude = max(abs(stat.minimum), abs(stat.maximum))
        if stat.maximum == stat.minimum:
            warnings.append(f"calibration input {stat.name!r} is constant ({stat.minimum:.4g} everywhere): its "
                            "quantization range is degenerate; check the data file and the preprocessing")
        elif _nearly_constant(stat.maximum - stat.minimum, magnitude):
            warnings.append(f"calibration input {stat.name!r} is nearly constant ({stat.describe()}): its "
                            "quantization range is degenerate; check the data file and the preprocessing")
        elif samples.count > 1 and np.all(array == array[:1]):
            warnings.append(f"all {samples.count} calibration samples of input {stat.name!r} are identical: the "
                            "calibrated ranges describe one input only")
    return warnings


def output_warnings(model: LoadedModel, samples: SampleSet) -> list[str]:
    """The float model's outputs on the calibration set: constant or saturated outputs mean the samples are
    not what the model was trained on (most often: preprocessing, e.g. 0-255 pixels for a [0, 1] model)."""
    count = min(samples.count, MAX_PREDICT_SAMPLES)
    if count < 2:
        return []
    outputs = model.predict([a[:count] for a in samples.arrays])
    hint = "the calibration data is probably not preprocessed like the training data (see --scale/--mean/--std)"
    warnings = []
    for spec, values in zip(model.outputs, outputs, strict=True):
        values = np.asarray(values, np.float64).reshape(count, -1)
        spread = float((values.max(axis=0) - values.min(axis=0)).max())
        magnitude = float(np.abs(values).max())
        if _nearly_constant(spread, magnitude):
            kind = "constant" if spread == 0 else "nearly constant"
            warnings.append(f"the float model's output {spec.name!r} is {kind} over {count} calibration samples "
                            f"(spread {spread:.3g}): {hint}")
            continue
        saturated = _saturated_share(values)
        if saturated >= SATURATED_SHARE:
            warnings.append(f"the float model's output {spec.name!r} is saturated on {saturated:.0%} of {count} "
                            f"calibration samples (values at the bounds of its range): {hint}")
        elif values.shape[1] >= 2 and np.all(values.argmax(axis=1) == values[0].argmax()):
            warnings.append(f"the float model's output {spec.name!r} picks class {int(values[0].argmax())} for "
                            f"every one of {count} calibration samples: {hint}, or the samples are all of one class")
    return warnings


def _saturated_share(values: np.ndarray) -> float:
    """Share of samples whose output sits at a bound: a probability of exactly 0/1 somewhere in a [0, 1] output
    (softmax/sigmoid; a trained model's confident answers stay below 1 - 1e-6), every value at ±1 for tanh."""
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        at_bound = (values >= 1.0 - SATURATION).any(axis=1)
    elif low >= -1.0 and high <= 1.0:
        at_bound = (np.abs(values) >= 1.0 - SATURATION).all(axis=1)
    else:
        return 0.0
    return float(np.mean(at_bound))


def calibration_warnings(model: LoadedModel, samples: SampleSet | None) -> list[str]:
    """Every warning about a calibration set (none without one)."""
    if samples is None:
        return []
    return [*input_warnings(samples), *output_warnings(model, samples)]
