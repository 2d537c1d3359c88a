"""Labels given as a column [N, 1] are class ids (the rule of edgeq.validate.data.class_labels), never one-hot of
width 1: argmax over one column is class 0 for every sample, which would make the accuracy meaningless."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import CalibrationError
from edgeq.validate.data import class_labels

VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


@pytest.mark.parametrize(("y", "want"), [
    (np.array([[3], [1], [4], [1]]), [3, 1, 4, 1]),
    (np.array([[3.0], [1.0], [4.0], [9.0]], np.float32), [3, 1, 4, 9]),
    (np.ones((4, 1), np.float32), [1, 1, 1, 1]),  # one-hot of width 1 would give 0, 0, 0, 0
])
def test_a_label_column_is_class_ids(y, want) -> None:
    assert class_labels(y, 10, "probs", "validation data v.npz").tolist() == want


@pytest.mark.parametrize(("y", "message"), [
    (np.array([[0.5], [1.0]]), "not whole numbers"),
    (np.array([[3], [12]]), "label 12 is outside the classes 0..9 of output 'probs'"),
])
def test_a_bad_label_column_is_a_one_line_error(y, message) -> None:
    with pytest.raises(CalibrationError) as info:
        class_labels(y, 10, "probs", "validation data v.npz")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_validate_reads_a_label_column_as_the_same_labels(tmp_path, digits_int8_path, run_cli) -> None:
    with np.load(VAL) as data:
        x, y = data["x"][:40], np.asarray(data["y"][:40])
    assert len(set(y.tolist())) > 3  # the labels are not all one class
    accuracy = {}
    for name, labels in (("vector", y.reshape(-1)), ("column", y.reshape(-1, 1)), ("zeros", np.zeros_like(y))):
        np.savez(tmp_path / f"{name}.npz", x=x, y=labels)
        code, out, err = run_cli(["-q", "validate", str(digits_int8_path), "--val", str(tmp_path / f"{name}.npz"),
                                  "--tflm-samples", "40", "--min-accuracy", "0", "--json"])
        assert "Traceback" not in err and "labels 'y'" not in err, err
        accuracy[name] = next(c["value"] for c in json.loads(out)["checks"]
                              if c["interpreter"] == "tflm" and c["metric"] == "top1_accuracy")
    assert accuracy["column"] == accuracy["vector"] != accuracy["zeros"]
