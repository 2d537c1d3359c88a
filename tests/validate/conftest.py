"""Fixtures for validation tests: a model converted from different weights, a multi-input/-output model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS_VAL = EXAMPLES / "digits_val.npz"


@pytest.fixture(scope="session")
def digits_int8_path(tmp_path_factory, digits_int8) -> Path:
    path = tmp_path_factory.mktemp("validate") / "digits_int8.tflite"
    path.write_bytes(digits_int8.data)
    return path


@pytest.fixture(scope="session")
def digits_report(digits_int8, digits_source):
    """edgeq.validate on the example's int8 model with default thresholds, once per session."""
    from edgeq.validate.session import validate_model

    return validate_model(digits_int8, DIGITS_VAL, digits_source)


@pytest.fixture(scope="session")
def mismatched_int8_path(tmp_path_factory, digits_source, digits_calib) -> Path:
    """The example's architecture with freshly initialised weights, converted the same way: the wrong model."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(7)
    clone = k.models.clone_model(digits_source.keras_model)
    root = tmp_path_factory.mktemp("mismatch")
    clone.save(root / "other.keras")
    tflite = quantize(load_model(root / "other.keras"), QuantizeOptions("int8", "int8"), digits_calib,
                      integer_only=True)
    path = root / "other_int8.tflite"
    path.write_bytes(tflite.data)
    return path


@pytest.fixture(scope="session")
def mimo(tmp_path_factory):
    """Two inputs (declared 'zeta', 'alpha'), three outputs (regression, 3 classes, 5-vector) that the
    converter reorders in the .tflite: (LoadedModel, TFLiteModel, data .npz with labels for 'cls')."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import SampleSet
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(3)
    a, b = k.Input((4,), name="zeta"), k.Input((6,), name="alpha")
    h = k.layers.Dense(16, activation="relu", name="hid")(k.layers.Concatenate(name="cat")([a, b]))
    model = k.Model([a, b], [k.layers.Dense(1, name="reg")(h),
                             k.layers.Dense(3, activation="softmax", name="cls")(h),
                             k.layers.Dense(5, name="emb")(h)])
    rng = np.random.default_rng(5)
    za, al = rng.normal(size=(300, 4)).astype(np.float32), rng.normal(size=(300, 6)).astype(np.float32)
    root = tmp_path_factory.mktemp("mimo")
    model.save(root / "mimo.keras")
    loaded = load_model(root / "mimo.keras")
    labels = np.argmax(model.predict([za, al], verbose=0)[1], axis=1)
    np.savez(root / "val.npz", zeta=za, alpha=al, y=labels)
    calib = SampleSet("calib", "", [za[:100], al[:100]])
    tflite = quantize(loaded, QuantizeOptions("int8", "int8"), calib, integer_only=True)
    return loaded, tflite, root / "val.npz"
