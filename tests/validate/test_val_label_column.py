"""Labels given as a column [N, 1] are refused in one line, never read as one-hot of width 1 (argmax of one
column is class 0 for every sample, which would make every label 0 and the accuracy meaningless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import CalibrationError
from edgeq.samples import load_samples
from edgeq.tflite.signature import TensorSpec
from edgeq.validate.data import open_samples

IMAGE = [TensorSpec("image", (8, 8, 1))]
VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


@pytest.mark.parametrize("y", [np.array([[3], [1], [4], [1]]), np.ones((4, 1), np.float32)], ids=["ids", "float"])
@pytest.mark.parametrize("reader", [open_samples, load_samples], ids=["streamed", "in-memory"])
def test_a_label_column_is_an_error(tmp_path, reader, y) -> None:
    np.savez(tmp_path / "v.npz", x=np.zeros((4, 8, 8, 1), np.float32), y=y)
    with pytest.raises(CalibrationError) as info:
        reader(tmp_path / "v.npz", IMAGE)
    message = str(info.value)
    assert "labels 'y' must be integer class ids [N] or one-hot [N, C]" in message
    assert "shape (4, 1)" in message and "\n" not in message


def test_validate_refuses_a_label_column_in_one_line(tmp_path, digits_int8_path, run_cli) -> None:
    with np.load(VAL) as data:
        x, y = data["x"][:20], data["y"][:20]
    np.savez(tmp_path / "column.npz", x=x, y=np.asarray(y).reshape(-1, 1))
    code, _, err = run_cli(["validate", str(digits_int8_path), "--val", str(tmp_path / "column.npz")])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and "Traceback" not in err
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:]
    assert "labels 'y' must be integer class ids [N] or one-hot [N, C]" in lines[-1]
    # the same labels as a vector are accepted: the column is what is refused
    np.savez(tmp_path / "vector.npz", x=x, y=np.asarray(y).reshape(-1))
    code, _, err = run_cli(["-q", "validate", str(digits_int8_path), "--val", str(tmp_path / "vector.npz"),
                            "--tflm-samples", "5"])
    assert "labels 'y'" not in err and code == 0, err
