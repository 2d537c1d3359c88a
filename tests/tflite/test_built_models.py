"""The stand-ins for TFLM's example models (tests/models.py) have the properties other tests rely on, checked
with the interpreters' own Python APIs (tflite-micro, LiteRT), not through edgeq."""

from __future__ import annotations

import numpy as np
import pytest
from models import LSTM_CLASSES, LSTM_INPUTS, LSTM_STEPS, person_images, tflm_outputs, tflm_quantize


def test_litert_refuses_the_person_quirk_and_tflm_ignores_it(person_path, person_clean_path, person_pair):
    from ai_edge_litert.interpreter import Interpreter

    Interpreter(model_path=str(person_clean_path)).allocate_tensors()  # the converter's own file loads
    with pytest.raises((RuntimeError, ValueError), match=r"quantized_dimension must be in range \[0, 1\)"):
        Interpreter(model_path=str(person_path)).allocate_tensors()
    images, labels = person_pair
    inputs = tflm_quantize(person_path, images)
    quirky, clean = tflm_outputs(person_path, inputs), tflm_outputs(person_clean_path, inputs)
    assert [q.tolist() for q in quirky] == [c.tolist() for c in clean]
    assert [int(np.argmax(q)) for q in quirky] == labels.tolist()


def test_person_model_tells_the_classes_apart(person_path):
    """On 40 fresh images TFLM's int8 scores pick the right class for all but at most 2."""
    images, labels = person_images(40, seed=21)
    outputs = tflm_outputs(person_path, tflm_quantize(person_path, images))
    assert sum(int(np.argmax(o)) == label for o, label in zip(outputs, labels, strict=True)) >= 38


def test_lstm_runs_in_tflm_and_gives_a_distribution(lstm_path):
    from tflite_micro import runtime

    params = runtime.Interpreter.from_file(str(lstm_path)).get_output_details(0)["quantization_parameters"]
    scale, zero_point = params["scales"][0], params["zero_points"][0]
    rng = np.random.default_rng(4)
    inputs = [rng.integers(-128, 128, (1, LSTM_STEPS, LSTM_INPUTS), dtype=np.int8) for _ in range(3)]
    outputs = tflm_outputs(lstm_path, inputs)
    for out in outputs:
        assert out.shape == (1, LSTM_CLASSES) and out.dtype == np.int8
        assert (out.astype(np.float64) - zero_point).sum() * scale == pytest.approx(1.0, abs=0.05)
    assert len({o.tobytes() for o in outputs}) == 3  # the input reaches the output


def test_sine_models_follow_the_keras_model(sine_keras, sine_int8_path, sine_float_path):
    from ai_edge_litert.interpreter import Interpreter

    x = np.linspace(0, 2 * np.pi, 64, dtype=np.float32)[:, None]
    expected = np.asarray(sine_keras(x)).reshape(-1)
    assert np.abs(expected - np.sin(x[:, 0])).mean() < 0.05  # trained, not just initialised
    litert = Interpreter(model_path=str(sine_float_path))
    litert.allocate_tensors()
    (inp,), (out,) = litert.get_input_details(), litert.get_output_details()
    floats = []
    for value in x:
        litert.set_tensor(inp["index"], value[None])
        litert.invoke()
        floats.append(float(litert.get_tensor(out["index"])[0, 0]))
    assert np.allclose(floats, expected, atol=1e-5)
    out_scale, out_zero = Interpreter(model_path=str(sine_int8_path)).get_output_details()[0]["quantization"]
    raw = tflm_outputs(sine_int8_path, tflm_quantize(sine_int8_path, x))
    int8 = np.array([(float(r[0, 0]) - out_zero) * out_scale for r in raw])
    assert np.abs(int8 - expected).max() < 0.1  # upstream's hello_world test allows 0.05 against sin(x)
