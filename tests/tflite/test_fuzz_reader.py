"""Fuzz the .tflite reader and `inspect`: thousands of random mutations of valid models only ever produce
edgeq's own one-line errors (a longer run: benchmarks/fuzz_reader.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgeq.check.inspection import inspect_model
from edgeq.errors import EdgeqError, ModelFormatError
from edgeq.tflite import read_model

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_reader.py"


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("edgeq_fuzz_reader", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeds(sine_int8_path, lstm_path, digits_int8) -> list[bytes]:
    return [sine_int8_path.read_bytes(), lstm_path.read_bytes(), digits_int8.data]


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


def test_mutations_that_parse_get_a_verdict_or_an_edgeq_error_from_check(seeds):
    """The full check runs TFLM on the mutated model (arena measurement in a child process): TFLM's
    failures and crashes must come back as a verdict or an edgeq error, never anything else."""
    fuzz = _fuzz_module()
    outcomes, unexpected = fuzz.run(seeds, cases=60, seed=5, tflm=4)
    assert not unexpected, "\n".join(unexpected[:3])
    checked = sum(count for outcome, count in outcomes.items() if outcome.startswith("checked"))
    assert checked >= 2, outcomes
