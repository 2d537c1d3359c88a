"""Loading .keras (safe mode), legacy Keras 2 .h5 and SavedModel files, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import ModelLoadError
from edgeq.load.loader import load_model


@pytest.fixture(scope="session")
def keras2_files(tmp_path_factory) -> dict[str, Path]:
    """Files written by TensorFlow 2.x + Keras 2 (tf_keras), as most published models are."""
    import tf_keras  # a test dependency: genuine Keras 2 files, as TF 2.x wrote them

    root = tmp_path_factory.mktemp("keras2")
    tf_keras.utils.set_random_seed(7)
    model = tf_keras.Sequential([
        tf_keras.layers.InputLayer((8, 8, 2)),
        tf_keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        tf_keras.layers.DepthwiseConv2D(3, name="dw"),  # Keras 2 stores `groups`, which Keras 3 rejects
        tf_keras.layers.BatchNormalization(name="bn"),
        tf_keras.layers.Flatten(name="flat"),
        tf_keras.layers.Dense(3, activation="softmax", name="probs"),
    ])
    model.save(root / "legacy.h5")
    model.save(root / "legacy_savedmodel", save_format="tf")
    x = np.random.default_rng(0).random((4, 8, 8, 2), dtype=np.float32)
    np.save(root / "x.npy", x)
    np.save(root / "expected.npy", model.predict(x, verbose=0))
    return {"h5": root / "legacy.h5", "savedmodel": root / "legacy_savedmodel", "x": root / "x.npy",
            "expected": root / "expected.npy"}


@pytest.fixture(scope="session")
def lambda_keras(tmp_path_factory) -> Path:
    from edgeq.tfenv import keras

    k = keras()
    inputs = k.Input((4,), name="v")
    outputs = k.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    k.Model(inputs, outputs).save(path)
    return path


def test_keras_file_loads_with_its_io(digits_source):
    assert digits_source.format == "keras"
    assert [(s.name, s.shape) for s in digits_source.inputs] == [("image", (8, 8, 1))]
    assert [(s.name, s.shape) for s in digits_source.outputs] == [("probs", (10,))]
    assert digits_source.layer_names[:2] == ["conv1", "dwconv"]
    probs = digits_source.predict([np.zeros((3, 8, 8, 1), np.float32)])[0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", ["h5", "savedmodel"])
def test_keras2_files_load_and_predict_like_the_original(keras2_files, kind):
    model = load_model(keras2_files[kind])
    x, expected = np.load(keras2_files["x"]), np.load(keras2_files["expected"])
    np.testing.assert_allclose(model.predict([x])[0], expected, atol=1e-6)
    assert model.inputs[0].shape == (8, 8, 2)
    assert model.outputs[0].name == "probs"
    if kind == "h5":
        assert model.compat_fixes == ["DepthwiseConv2D: ignored Keras 2 config key(s) groups"]


def test_keras2_savedmodel_converts_to_integer_only(keras2_files):
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples

    model = load_model(keras2_files["savedmodel"])
    tflite = quantize(model, QuantizeOptions(), load_samples(keras2_files["x"], model.inputs), integer_only=True)
    assert tflite.op_counts() == {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "RESHAPE": 1,
                                  "SOFTMAX": 1}
    assert [t.shape for t in tflite.main.input_tensors()] == [(1, 8, 8, 2)]  # batch fixed to 1


def test_lambda_layer_is_refused_in_safe_mode(lambda_keras):
    with pytest.raises(ModelLoadError, match="--unsafe-load") as info:
        load_model(lambda_keras)
    assert "\n" not in str(info.value)


def test_lambda_layer_loads_when_unsafe_is_asked_for(lambda_keras):
    model = load_model(lambda_keras, unsafe=True)
    np.testing.assert_allclose(model.predict([np.ones((1, 4), np.float32)])[0], 2.0)


def test_unknown_layer_class_is_named(keras2_files, tmp_path):
    import h5py

    broken = tmp_path / "custom.h5"
    broken.write_bytes(keras2_files["h5"].read_bytes())
    with h5py.File(broken, "r+") as fh:
        config = json.loads(fh.attrs["model_config"])
        config["config"]["layers"][2]["class_name"] = "MyFancyLayer"
        fh.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ModelLoadError, match="MyFancyLayer"):
        load_model(broken)


def test_dynamic_spatial_input_is_refused(tmp_path):
    from edgeq.tfenv import keras

    k = keras()
    inputs = k.Input((None, 3))
    path = tmp_path / "dyn.keras"
    k.Model(inputs, k.layers.Dense(2)(inputs)).save(path)
    with pytest.raises(ModelLoadError, match="fixed input shape"):
        load_model(path)


@pytest.mark.parametrize(
    ("name", "setup", "message"),
    [
        ("absent.keras", None, "no such file"),
        ("model.onnx", b"onnx", "unknown model format '.onnx'"),
        ("model.tflite", b"TFL3", "already a .tflite"),
        ("garbage.keras", b"\x00" * 64, "not a valid Keras .keras file"),
        ("emptydir", "dir", "no saved_model.pb"),
    ],
)
def test_bad_model_paths(tmp_path, name, setup, message):
    path = tmp_path / name
    if setup == "dir":
        path.mkdir()
    elif setup is not None:
        path.write_bytes(setup)
    with pytest.raises(ModelLoadError, match=message):
        load_model(path)
