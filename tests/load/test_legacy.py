"""Keras 2 models with TensorFlow-op layers (TFOpLambda / SlicingOpLambda), real Lambda layers, corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import ModelLoadError
from edgeq.load.loader import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="session")
def tf_op_files(tmp_path_factory) -> dict[str, Path]:
    """A functional Keras 2 model calling TensorFlow directly, saved by tf-keras as .h5, .keras and SavedModel,
    with calibration samples and the tf-keras model's own predictions."""
    import tensorflow as tf
    import tf_keras

    root = tmp_path_factory.mktemp("tfop")
    tf_keras.utils.set_random_seed(11)
    inputs = tf_keras.Input((8, 8, 3), name="image")
    x = tf_keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = tf.nn.relu6(x)                      # TFOpLambda
    x = x * 0.5 + 0.25                      # TFOpLambda (multiply, add)
    left, right = x[:, :, :, :4], x[:, :, :, 4:]  # SlicingOpLambda
    x = tf.concat([right, left], axis=-1)   # TFOpLambda
    x = tf_keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = tf_keras.layers.Dense(4, activation="softmax", name="probs")(x)
    model = tf_keras.Model(inputs, outputs)
    classes = {type(layer).__name__ for layer in model.layers}
    assert {"TFOpLambda", "SlicingOpLambda"} <= classes  # the test builds what it claims to
    model.save(root / "tfop.h5")
    model.save(root / "tfop.keras")
    model.save(root / "tfop_savedmodel", save_format="tf")

    lam_in = tf_keras.Input((4,), name="v")
    lam = tf_keras.Model(lam_in, tf_keras.layers.Lambda(lambda t: t * 2.0, name="double")(lam_in))
    lam.save(root / "lambda.h5")
    mixed = tf_keras.Model(lam_in, tf.nn.relu(tf_keras.layers.Lambda(lambda t: t - 1.0, name="shift")(lam_in)))
    mixed.save(root / "mixed.h5")

    x = np.random.default_rng(3).random((64, 8, 8, 3), dtype=np.float32)
    np.save(root / "calib.npy", x)
    np.save(root / "expected.npy", model.predict(x, verbose=0))
    return {"h5": root / "tfop.h5", "keras": root / "tfop.keras", "savedmodel": root / "tfop_savedmodel",
            "lambda": root / "lambda.h5", "mixed": root / "mixed.h5", "calib": root / "calib.npy",
            "expected": root / "expected.npy"}


@pytest.fixture(scope="session")
def tf_op_int8(tf_op_files):
    """Each TF-op file converted to int8: kind -> (LoadedModel, TFLiteModel)."""
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples

    converted = {}
    for kind in ("h5", "keras", "savedmodel"):
        model = load_model(tf_op_files[kind])
        samples = load_samples(tf_op_files["calib"], model.inputs)
        converted[kind] = model, quantize(model, QuantizeOptions(), samples, integer_only=True)
    return converted


@pytest.mark.parametrize(("kind", "loader"), [("h5", "tf-keras"), ("keras", "tf-keras"),
                                              ("savedmodel", "tf.saved_model")])
def test_tf_op_models_load_without_unsafe_and_predict_like_tf_keras(tf_op_files, tf_op_int8, kind, loader):
    model, _ = tf_op_int8[kind]
    assert model.loader == loader
    x, expected = np.load(tf_op_files["calib"]), np.load(tf_op_files["expected"])
    np.testing.assert_allclose(model.predict([x])[0], expected, atol=1e-6)
    if loader == "tf-keras":
        assert "tf.nn.relu6" in model.layer_names
        assert model.outputs[0].name == "probs"


@pytest.mark.parametrize("kind", ["h5", "keras", "savedmodel"])
def test_tf_op_models_convert_to_integer_only_within_int8_error(tf_op_files, tf_op_int8, kind):
    from edgeq.tflite.runners import LiteRTRunner, dequantize_output, quantize_input

    _, tflite = tf_op_int8[kind]
    assert {t.dtype for t in tflite.main.tensors if not t.is_constant} <= {"int8", "int32"}
    assert tflite.op_counts()["STRIDED_SLICE"] == 2 and tflite.op_counts()["CONCATENATION"] == 1
    runner = LiteRTRunner(tflite)
    x, expected = np.load(tf_op_files["calib"]), np.load(tf_op_files["expected"])
    inp, out = tflite.main.input_tensors()[0], tflite.main.output_tensors()[0]
    got = np.concatenate([dequantize_output(runner.run([quantize_input(x[i:i + 1], inp)])[0], out)
                          for i in range(len(x))])
    step = float(out.quantization.scale[0])  # 1/256 for a softmax output
    assert np.abs(got - expected).max() <= 2 * step
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9


def test_convert_records_the_loader_in_report_json(tf_op_files, tmp_path):
    from edgeq.pipeline import ConvertOptions, convert

    result = convert(tf_op_files["h5"], tmp_path / "out", ConvertOptions(calib=tf_op_files["calib"]))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["source"]["loader"] == "tf-keras" and report["source"]["format"] == "h5"
    assert result.tflite.op_counts()["CONV_2D"] == 1


@pytest.mark.parametrize("kind", ["lambda", "mixed"])
def test_a_real_lambda_is_still_refused_and_named(tf_op_files, kind):
    with pytest.raises(ModelLoadError, match="--unsafe-load") as info:
        load_model(tf_op_files[kind])
    assert ("'double'" if kind == "lambda" else "'shift'") in str(info.value)
    assert "TFOpLambda" not in str(info.value)


def test_a_real_lambda_loads_with_unsafe(tf_op_files):
    model = load_model(tf_op_files["mixed"], unsafe=True)
    assert model.loader == "tf-keras"
    np.testing.assert_allclose(model.predict([np.array([[0.0, 2.0, 3.0, -1.0]], np.float32)])[0],
                               [[0.0, 1.0, 2.0, 0.0]])


def test_tf_op_layers_never_hint_at_unsafe_load(tf_op_files, run_cli, tmp_path):
    code, _, err = run_cli(["convert", str(tf_op_files["h5"]), "--calib", str(tf_op_files["calib"]),
                            "-o", str(tmp_path / "out")])
    assert code == 0, err
    assert "unsafe" not in err


def _truncated(source: Path, keep: float) -> bytes:
    data = source.read_bytes()
    return data[:int(len(data) * keep)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("random.keras", lambda files: np.random.default_rng(0).bytes(4096)),
        ("truncated.keras", lambda files: _truncated(files["keras"], 0.5)),
        ("random.h5", lambda files: np.random.default_rng(1).bytes(4096)),
        ("truncated.h5", lambda files: _truncated(files["h5"], 0.3)),
        ("zeros.keras", lambda files: b"\x00" * 64),
    ],
)
def test_corrupt_keras_files_are_not_valid_keras_files(tf_op_files, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content(tf_op_files))
    with pytest.raises(ModelLoadError, match=r"not a valid Keras \.(keras|h5) file") as info:
        load_model(path)
    assert "File not found" not in str(info.value) and "\n" not in str(info.value)


def test_weights_only_h5_says_so(tmp_path):
    from edgeq.tfenv import keras

    k = keras()
    inputs = k.Input((3,))
    path = tmp_path / "only.weights.h5"
    k.Model(inputs, k.layers.Dense(2)(inputs)).save_weights(path)
    with pytest.raises(ModelLoadError, match="weights only"):
        load_model(path)


def test_corrupt_file_is_a_one_line_cli_error(run_cli, tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    code, out, err = run_cli(["-q", "convert", str(path), "--calib", str(EXAMPLES / "digits_calib.npz"),
                              "-o", str(tmp_path / "out")])
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "not a valid Keras .h5 file" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
