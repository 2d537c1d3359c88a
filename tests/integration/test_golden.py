"""Golden vectors pair each .tflite input with the samples of the same model input, even when the converter
reorders inputs of the same shape."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.load.loader import load_model
from edgeq.quantize.converter import QuantizeOptions, quantize
from edgeq.samples import load_samples
from edgeq.tflite.golden import golden_inputs
from edgeq.tflite.runners import quantize_input


@pytest.fixture(scope="module")
def same_shaped_inputs(tmp_path_factory):
    from edgeq.tfenv import keras

    k = keras()
    root = tmp_path_factory.mktemp("ab")
    a, b = k.Input((6,), name="a"), k.Input((6,), name="b")
    model = k.Model([a, b], k.layers.Dense(3, name="fc")(k.layers.Concatenate()([a * 2.0, b])))
    model.save(root / "ab.keras")
    rng = np.random.default_rng(3)
    np.savez(root / "ab.npz", a=rng.uniform(0, 5, (20, 6)).astype(np.float32),
             b=rng.uniform(-1, 0, (20, 6)).astype(np.float32))
    source = load_model(root / "ab.keras")
    samples = load_samples(root / "ab.npz", source.inputs)
    return quantize(source, QuantizeOptions(), samples, integer_only=True), samples


def test_golden_inputs_follow_the_input_names_not_the_positions(same_shaped_inputs):
    tflite, samples = same_shaped_inputs
    tensors = tflite.main.input_tensors()
    assert [t.name for t in tensors] == ["serving_default_b:0", "serving_default_a:0"]  # the converter reorders
    (first,) = golden_inputs(tflite, 1, samples)
    by_name = dict(zip(samples.names, samples.arrays, strict=True))
    for tensor, value in zip(tensors, first, strict=True):
        name = tensor.name.removeprefix("serving_default_").removesuffix(":0")
        np.testing.assert_array_equal(value, quantize_input(by_name[name][:1], tensor))
