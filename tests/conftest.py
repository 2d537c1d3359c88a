"""Shared fixtures. Conversions are slow (~1 s each after a ~5 s TensorFlow import): session scope only."""

from __future__ import annotations

import os
from pathlib import Path

import models
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def built_dir(tmp_path_factory) -> Path:
    """Where the session's built stand-ins for TFLM's example models are written (tests/models.py)."""
    return tmp_path_factory.mktemp("built-models")


@pytest.fixture(scope="session")
def sine_keras():
    """hello_world's sine regressor (Dense 1 -> 16 -> 16 -> 1), trained once per session."""
    return models.sine_keras()


@pytest.fixture(scope="session")
def sine_int8_path(sine_keras, built_dir) -> Path:
    """The sine regressor as int8 with int8 I/O, through edgeq's quantizer."""
    path = built_dir / "sine_int8.tflite"
    path.write_bytes(models.sine_int8(sine_keras, built_dir))
    return path


@pytest.fixture(scope="session")
def sine_float_path(sine_keras, built_dir) -> Path:
    """The sine regressor as a float .tflite (TFLiteConverter without optimizations)."""
    path = built_dir / "sine_float.tflite"
    path.write_bytes(models.sine_float(sine_keras, built_dir))
    return path


@pytest.fixture(scope="session")
def person_clean_path(built_dir) -> Path:
    """person_detect's geometry as an int8 model as the converter writes it (LiteRT loads it)."""
    path = built_dir / "person_int8_clean.tflite"
    path.write_bytes(models.person_int8(models.person_keras(), built_dir))
    return path


@pytest.fixture(scope="session")
def person_path(person_clean_path, built_dir) -> Path:
    """The person model with person_detect's quirk (depthwise biases' quantized_dimension 3): TFLM runs it,
    LiteRT refuses it."""
    path = built_dir / "person_int8.tflite"
    path.write_bytes(models.with_person_detect_quirk(person_clean_path.read_bytes()))
    return path


@pytest.fixture(scope="session")
def person_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two held-out images for the person model, float in [-1, 1]: (no person, person), labels (0, 1)."""
    return models.person_images(2, seed=9)


@pytest.fixture(scope="session")
def lstm_path(built_dir) -> Path:
    """An int8 UNIDIRECTIONAL_SEQUENCE_LSTM classifier shaped like TFLM's trained_lstm (schema-built)."""
    path = built_dir / "lstm_int8.tflite"
    path.write_bytes(models.lstm_int8())
    return path


@pytest.fixture(scope="session")
def digits_keras_path() -> Path:
    return EXAMPLES / "digits.keras"


@pytest.fixture(scope="session")
def digits_source(digits_keras_path):
    """The example Keras model, loaded once."""
    from edgeq.load.loader import load_model

    return load_model(digits_keras_path)


@pytest.fixture(scope="session")
def digits_calib(digits_source):
    from edgeq.samples import load_samples

    return load_samples(EXAMPLES / "digits_calib.npz", digits_source.inputs)


@pytest.fixture(scope="session")
def digits_val(digits_source):
    from edgeq.samples import load_samples

    return load_samples(EXAMPLES / "digits_val.npz", digits_source.inputs, what="validation")


@pytest.fixture(scope="session")
def digits_int8(digits_source, digits_calib):
    """The example converted to int8 (int8 I/O) as a parsed TFLiteModel."""
    from edgeq.quantize.converter import QuantizeOptions, quantize

    return quantize(digits_source, QuantizeOptions("int8", "int8"), digits_calib, integer_only=True)


@pytest.fixture(scope="session")
def digits_int16x8(digits_source, digits_calib):
    from edgeq.quantize.converter import QuantizeOptions, quantize

    return quantize(digits_source, QuantizeOptions("int16x8", "int8"), digits_calib, integer_only=True)


@pytest.fixture(scope="session")
def digits_convert_dir(tmp_path_factory, digits_keras_path):
    """`edgeq.convert` run once on the example through the public API: (out_dir, ConvertResult)."""
    from edgeq.pipeline import ConvertOptions, convert

    out = tmp_path_factory.mktemp("convert") / "out"
    result = convert(digits_keras_path, out, ConvertOptions(target="cortex-m4", calib=EXAMPLES / "digits_calib.npz"))
    return out, result


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def run_cli(capfd):
    """Run edgeq's console entry point in-process: args -> (exit code, stdout, stderr).

    capfd captures at the file-descriptor level, so TensorFlow's C++ logs would show up in stderr.
    """
    from edgeq.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capfd.readouterr()
        return code, out, err

    return run
