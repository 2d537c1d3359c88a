"""`--val` and `validate --reference` on a model from each loader: Keras 3 (.keras), tf-keras (a Keras 2 .h5 with
TF-op layers) and tf.saved_model. The per-layer probe model must be built with the model's own Keras."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def loader_models(tmp_path_factory) -> dict[str, Path]:
    """One small classifier per loader, a validation .npz (x, y = the float model's own argmax) and calibration."""
    import keras
    import tensorflow as tf
    import tf_keras

    root = tmp_path_factory.mktemp("loaders")
    rng = np.random.default_rng(5)
    x = rng.random((48, 8, 8, 3), dtype=np.float32)
    np.save(root / "calib.npy", x[:32])

    tf_keras.utils.set_random_seed(7)
    inputs = tf_keras.Input((8, 8, 3), name="image")
    h = tf_keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    h = tf.nn.relu6(h)                      # TFOpLambda: only tf-keras can load it
    h = h * 0.5 + 0.25                      # TFOpLambda (multiply, add)
    h = tf_keras.layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = tf_keras.layers.Dense(4, activation="softmax", name="probs")(h)
    legacy = tf_keras.Model(inputs, outputs)
    legacy.save(root / "legacy.h5")
    legacy.save(root / "legacy_savedmodel", save_format="tf")

    keras.utils.set_random_seed(7)
    k_in = keras.Input((8, 8, 3), name="image")
    k = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(k_in)
    k = keras.layers.GlobalAveragePooling2D(name="gap")(k)
    modern = keras.Model(k_in, keras.layers.Dense(4, activation="softmax", name="probs")(k))
    modern.save(root / "modern.keras")

    for name, model in (("legacy", legacy), ("modern", modern)):
        labels = np.asarray(model(x, training=False)).argmax(axis=1)
        np.savez(root / f"val_{name}.npz", x=x, y=labels)
    return {"h5": root / "legacy.h5", "savedmodel": root / "legacy_savedmodel", "keras": root / "modern.keras",
            "calib": root / "calib.npy", "val_legacy": root / "val_legacy.npz", "val_modern": root / "val_modern.npz"}


def _val(files: dict[str, Path], kind: str) -> Path:
    return files["val_modern" if kind == "keras" else "val_legacy"]


@pytest.mark.parametrize(("kind", "loader"), [("h5", "tf-keras"), ("keras", "keras"),
                                              ("savedmodel", "tf.saved_model")])
def test_convert_with_val_and_validate_reference_on_each_loader(loader_models, tmp_path, kind, loader):
    from edgeq.pipeline import ConvertOptions, convert
    from edgeq.validate.session import validate_model

    source, val = loader_models[kind], _val(loader_models, kind)
    result = convert(source, tmp_path / "out", ConvertOptions(calib=loader_models["calib"], val=val))
    assert result.source.loader == loader
    assert result.source.parameter_count() == 3 * 3 * 3 * 8 + 8 * 4  # the fit gate's kernels: conv + dense
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["validation"]["passed"] is True
    # the labels are the float model's own argmax: int8 on TFLM must agree on nearly all 48 samples
    assert result.validation.metric("tflm", "top1_accuracy") >= 0.9
    again = validate_model(tmp_path / "out" / "model.tflite", val, source)
    assert again.metric("tflm", "top1_accuracy") == result.validation.metric("tflm", "top1_accuracy")
    if kind == "savedmodel":  # a SavedModel has no Keras layers: no per-layer table, and no crash
        assert not again.layers.get("rows")
        return
    rows = {row["layer"]: row for row in again.layers["rows"]}
    assert {"gap", "probs"} <= set(rows) and any(
        name.startswith("tf.nn.relu6" if kind == "h5" else "conv") for name in rows)
    # the probe's float output of the last layer is the model's output: int8 softmax within a few LSB
    assert rows["probs"]["max_error_lsb"] <= 4 and rows["probs"]["sqnr_db"] > 20


def test_the_issue_command_on_a_tf_keras_h5_ends_without_internal_error(loader_models, tmp_path):
    out = tmp_path / "cli-out"
    run = subprocess.run([sys.executable, "-m", "edgeq.cli", "convert", str(loader_models["h5"]), "--target",
                          "cortex-m4", "--calib", str(loader_models["calib"]), "--val",
                          str(loader_models["val_legacy"]), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "internal error" not in run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["loader"] == "tf-keras"
    # tf-keras numbers TF-op layers per process (tf.nn.relu6_1 when another model was built first)
    assert any(row["layer"].startswith("tf.nn.relu6") for row in report["validation"]["layers"]["rows"])
    run = subprocess.run([sys.executable, "-m", "edgeq.cli", "validate", str(out / "model.tflite"), "--val",
                          str(loader_models["val_legacy"]), "--reference", str(loader_models["h5"]), "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    validated = json.loads(run.stdout)
    assert validated["layers"]["rows"] == report["validation"]["layers"]["rows"]
