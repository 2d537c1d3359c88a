"""Fuzz the .tflite reader and `inspect`: thousands of random mutations of valid models only ever produce
edgeq's own one-line errors (a longer run: benchmarks/fuzz_reader.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import EdgeqError, ModelFormatError
from edgeq.inspect_model import inspect_model
from edgeq.tflite import read_model

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_reader.py"


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("edgeq_fuzz_reader", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeds(shared_models, digits_int8) -> list[bytes]:
    return [(shared_models / "hello_world_int8.tflite").read_bytes(),
            (shared_models / "trained_lstm_int8.tflite").read_bytes(),
            digits_int8.data]


def test_random_mutations_raise_only_edgeq_errors(seeds):
    fuzz = _fuzz_module()
    outcomes, unexpected = fuzz.run(seeds, cases=3000, seed=20241)
    assert not unexpected, "\n".join(unexpected[:3])
    assert outcomes["UNEXPECTED"] == 0
    # both paths are exercised: most mutations are refused, some still parse and are inspected
    assert outcomes["ModelFormatError"] > 1000
    assert outcomes["parsed and inspected"] > 100
    assert set(outcomes) <= {"ModelFormatError", "parsed and inspected"}


def test_every_truncation_is_a_model_format_error(seeds):
    data = seeds[0]
    for length in range(0, len(data) - 1, 7):
        with pytest.raises(ModelFormatError) as info:
            read_model(data[:length])
        assert "\n" not in str(info.value)


def test_random_bytes_behind_a_valid_header(seeds):
    rng = np.random.default_rng(7)
    for _ in range(300):
        data = seeds[0][:8] + rng.integers(0, 256, int(rng.integers(8, 4096)), dtype=np.uint8).tobytes()
        try:
            inspect_model(read_model(data), measure=False)
        except EdgeqError as exc:
            assert isinstance(exc, ModelFormatError) and "\n" not in str(exc)
