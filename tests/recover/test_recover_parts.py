"""The recovery techniques one by one: range clipping on known distributions, the calibrated model's ranges
rewritten and quantized, equalization keeps the function, bias correction removes the weights' mean error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from recover_models import build

from edgeq.recover import ranges


def _histogram(values: np.ndarray) -> ranges.TensorHistogram:
    hist = ranges.TensorHistogram(0, "t", float(values.min()), float(values.max()), np.zeros(ranges.BINS, np.int64))
    hist.add(values)
    return hist


def test_percentile_cuts_a_rare_outlier_and_keeps_a_uniform_range():
    rng = np.random.default_rng(0)
    spiky = np.concatenate([np.abs(rng.normal(0, 1, 200_000)), [0.0, 400.0, 380.0]])  # a ReLU output
    low, high = ranges.percentile_range(_histogram(spiky))
    assert low == 0.0 and 3.0 < high < 5.0  # the 99.99th percentile of |N(0,1)| is ~3.9
    uniform = np.concatenate([rng.uniform(-2, 2, 100_000), [-2.0, 2.0]])
    assert ranges.percentile_range(_histogram(uniform)) == pytest.approx((-2.0, 2.0), abs=0.01)


def test_mse_clips_a_heavy_tail_but_not_a_uniform_distribution():
    rng = np.random.default_rng(1)
    heavy = rng.laplace(0, 1, 200_000)
    low, high = ranges.mse_range(_histogram(heavy))
    # Banner et al. (ACIQ, 2019) derive ~9.9 b as the MSE-optimal 8-bit clip of a Laplace(0, b) tensor
    assert -10.5 < low < -8.5 and 8.5 < high < 10.5
    assert heavy.min() < low and high < heavy.max()
    uniform = np.concatenate([rng.uniform(0, 1, 100_000), [0.0, 1.0]])
    assert ranges.mse_range(_histogram(uniform)) == (0.0, 1.0)


def test_clipped_ranges_reach_the_integer_model(tmp_path):
    """A range written into the calibrated model becomes that tensor's int8 scale after quantizing."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, calibrated_model, quantize, quantize_calibrated
    from edgeq.samples import load_samples
    from edgeq.tflite import read_model

    case = build("rare_outliers", tmp_path)
    source = load_model(case.model)
    samples = load_samples(case.calib, source.inputs)
    calibrated = calibrated_model(source, QuantizeOptions(), samples)
    found = {h.name: h for h in ranges.histograms(calibrated, samples)}
    hidden = next(h for name, h in found.items() if "hidden" in name and "MatMul" in name)
    assert hidden.high > 150  # the outlier unit, min/max as calibrated
    plain = read_model(quantize_calibrated(calibrated, QuantizeOptions()))
    direct = quantize(source, QuantizeOptions(), samples, integer_only=True)
    assert [(t.name, t.quantization) for t in plain.main.tensors if t.quantization is not None and not t.is_constant] \
        == [(t.name, t.quantization) for t in direct.main.tensors if t.quantization is not None and not t.is_constant]
    clipped = read_model(quantize_calibrated(ranges.with_ranges(calibrated, {hidden.index: (0.0, 5.1)}),
                                             QuantizeOptions()))
    scale = next(float(t.quantization.scale[0]) for t in clipped.main.tensors if t.name == hidden.name)
    assert scale == pytest.approx(5.1 / 255, rel=1e-3)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    from edgeq.load.loader import load_model

    case = build("scaled_channels", tmp_path_factory.mktemp("scaled"))
    return case, load_model(case.model)


def test_equalization_keeps_the_function_and_balances_the_channels(scaled):
    from edgeq.recover.equalize import equalizable_pairs, equalize

    case, source = scaled
    model = source.keras_model
    assert [(p.name, c.name) for p, c in equalizable_pairs(model)] == [("expand", "dw"), ("dw", "project")]
    equalized, pairs = equalize(model)
    assert pairs == ["expand -> dw", "dw -> project"]
    x = np.load(case.calib)["x"][:16]
    np.testing.assert_allclose(np.asarray(equalized(x)), np.asarray(model(x)), rtol=1e-4, atol=1e-4)
    before = np.abs(model.get_layer("expand").get_weights()[0]).max(axis=(0, 1, 2))
    after = np.abs(equalized.get_layer("expand").get_weights()[0]).max(axis=(0, 1, 2))
    assert before.max() / before.min() > 1000 and after.max() / after.min() < 10
    assert np.array_equal(model.get_layer("expand").get_weights()[0],  # the source model is left alone
                          source.keras_model.get_layer("expand").get_weights()[0])


def test_equalization_skips_a_clipping_activation(tmp_path):
    from edgeq.recover.equalize import equalizable_pairs
    from edgeq.tfenv import keras

    k = keras()
    inputs = k.Input((6, 6, 2))
    x = k.layers.Conv2D(4, 1, name="a")(inputs)
    x = k.layers.ReLU(max_value=6.0, name="relu6")(x)  # relu6(x / s) != relu6(x) / s
    x = k.layers.DepthwiseConv2D(3, name="b")(x)
    y = k.layers.Conv2D(4, 1, activation="relu", name="c")(x)
    y = k.layers.ReLU(name="relu")(y)
    model = k.Model(inputs, k.layers.DepthwiseConv2D(3, name="d")(y))
    assert [(p.name, c.name) for p, c in equalizable_pairs(model)] == [("b", "c"), ("c", "d")]


def test_bias_correction_removes_the_mean_error_of_int8_weights(tmp_path):
    from edgeq.recover.bias import correct_biases, fake_quantize
    from edgeq.samples import SampleSet
    from edgeq.tfenv import keras

    k = keras()
    rng = np.random.default_rng(9)
    inputs = k.Input((5,))
    dense = k.layers.Dense(3, name="fc")
    model = k.Model(inputs, dense(inputs))
    kernel = rng.normal(0, 1, (5, 3)).astype(np.float32)
    dense.set_weights([kernel, np.zeros(3, np.float32)])
    x = (10 + rng.normal(0, 1, (64, 5))).astype(np.float32)
    corrected, layers = correct_biases(model, SampleSet("x", "", [x], names=("x",)))
    assert layers == ["fc"]
    quantized = fake_quantize(kernel.astype(np.float64), (0,))
    float_out, corrected_weights = x @ kernel, corrected.get_layer("fc").get_weights()
    int8_out = x @ quantized + corrected_weights[1]  # int8 weights with the corrected bias
    plain_error = np.abs((x @ quantized - float_out).mean(axis=0))
    assert np.all(np.abs((int8_out - float_out).mean(axis=0)) < 1e-4)
    assert plain_error.max() > 1e-3


def test_recover_models_build_what_they_claim(tmp_path):
    """The hard models' data files: classifiers carry the float model's own classes as labels."""
    case = build("rare_outliers", Path(tmp_path))
    data = np.load(case.val)
    assert set(data.files) == {"x", "y"} and data["x"].shape == (400, 16)
    assert (np.load(case.calib)["x"][:, 0] == 7.0).sum() == 4
