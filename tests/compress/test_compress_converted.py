"""Compression of a model as TensorFlow's converter writes it (the digits example): accuracy kept, 0 LSB to the
uncompressed equivalent on host TFLM, the LUT tensors where the converter put the filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeq.compress import compress_model
from edgeq.tflite import read_model
from edgeq.tflite.runners import TFLMRunner, quantize_input


def _accuracy(data: bytes, val: object) -> float:
    model = read_model(data)
    runner, tensor = TFLMRunner(model), model.main.input_tensors()[0]
    predictions = [int(np.argmax(runner.run([quantize_input(val.arrays[0][i:i + 1], tensor)])[0]))
                   for i in range(val.count)]
    return float(np.mean(np.asarray(predictions) == val.labels))


@pytest.fixture(scope="module")
def digits_file(digits_int8, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("digits") / "digits.tflite"
    path.write_bytes(digits_int8.data)
    return path


# Measured on the 397 labelled validation digits: plain int8 98.5 %, cluster=4 98.5 %, int4 96.7 %.
@pytest.mark.parametrize(("spec", "max_drop", "max_ratio"), [("cluster=4", 0.01, 0.75), ("int4", 0.03, 0.64)])
def test_converted_model_keeps_its_accuracy(digits_file: Path, digits_val, repo_root: Path, tmp_path: Path,
                                            spec: str, max_drop: float, max_ratio: float) -> None:
    result = compress_model(digits_file, tmp_path / "out.tflite", calib=repo_root / "examples/digits_calib.npz",
                            techniques=spec)
    assert result.agreement is not None and result.agreement.equivalent_max_lsb == 0
    assert result.agreement.samples == 100
    assert result.bytes_after <= max_ratio * result.bytes_before
    before, after = _accuracy(digits_file.read_bytes(), digits_val), _accuracy(result.model, digits_val)
    assert before > 0.95 and after >= before - max_drop
    assert _accuracy(result.equivalent, digits_val) == after
