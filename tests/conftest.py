"""Shared fixtures. Conversions are slow (~1 s each after a ~5 s TensorFlow import): session scope only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models" / "tflm-examples"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """TFLM's example models (../shared/models/tflm-examples); never copied into the project."""
    if not (SHARED_MODELS / "hello_world_int8.tflite").exists():
        pytest.skip(f"TFLM example models not found at {SHARED_MODELS} (they live outside the repository)")
    return SHARED_MODELS


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
