"""Calibration/validation data: formats, shape and value checks, deterministic selection, preprocessing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgeq.errors import CalibrationError, UsageError
from edgeq.samples import SELECTION_SEED, Preprocess, load_samples, select_indices, synthetic_samples
from edgeq.tflite.signature import TensorSpec

IMAGE = [TensorSpec("image", (8, 8, 1))]
TWO_INPUTS = [TensorSpec("a", (4,)), TensorSpec("b", (2, 3))]


def test_npy_roundtrip_and_digest(tmp_path, rng):
    x = rng.random((10, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "c.npy", x)
    samples = load_samples(tmp_path / "c.npy", IMAGE)
    assert samples.count == 10
    np.testing.assert_array_equal(samples.arrays[0], x)
    again = load_samples(tmp_path / "c.npy", IMAGE)
    assert samples.sha256 == again.sha256
    np.save(tmp_path / "d.npy", x + 1)
    assert load_samples(tmp_path / "d.npy", IMAGE).sha256 != samples.sha256


def test_npz_multi_input_by_name_and_labels(tmp_path, rng):
    a, b = rng.random((5, 4)), rng.random((5, 2, 3))
    np.savez(tmp_path / "m.npz", a=a, b=b, y=np.arange(5))
    samples = load_samples(tmp_path / "m.npz", TWO_INPUTS)
    assert [arr.shape for arr in samples.arrays] == [(5, 4), (5, 2, 3)]
    np.testing.assert_array_equal(samples.labels, np.arange(5))
    assert samples.arrays[0].dtype == np.float32


def test_one_hot_labels_become_class_ids_when_their_width_is_the_outputs(tmp_path, rng):
    """Labels stay as stored in the SampleSet; the one label rule (validate.data.class_labels) reads them
    against the labelled output: one-hot of the output's width gives ids, another width is refused."""
    from edgeq.validate.data import class_labels

    y = np.eye(10)[[3, 1, 4]]
    np.savez(tmp_path / "v.npz", x=rng.random((3, 8, 8, 1)), y=y)
    labels = load_samples(tmp_path / "v.npz", IMAGE).labels
    np.testing.assert_array_equal(class_labels(labels, 10, "probs", "v.npz"), [3, 1, 4])
    with pytest.raises(CalibrationError, match=re.escape("shape (3, 10), which fits neither class ids [N] nor "
                                                         "one-hot for the 12 classes")):
        class_labels(labels, 12, "probs", "v.npz")


def test_single_sample_without_batch_dimension_is_accepted(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((8, 8, 1), np.float32))
    assert load_samples(tmp_path / "one.npy", IMAGE).count == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: np.save(d / "f.npy", np.zeros((4, 8, 8, 3))), "samples of shape (8, 8, 3)"),
        (lambda d: np.save(d / "f.npy", np.zeros((0, 8, 8, 1))), "has no samples"),
        (lambda d: np.save(d / "f.npy", np.full((2, 8, 8, 1), np.nan)), "NaN or infinite"),
        (lambda d: np.save(d / "f.npy", np.array(["a", "b"])), "expected numbers"),
        (lambda d: (d / "f.npy").write_bytes(b"not numpy"), "not a readable .npy"),
    ],
)
def test_bad_arrays_are_one_line_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(CalibrationError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_samples(tmp_path / "f.npy", IMAGE)
    assert "\n" not in str(info.value)


def test_npz_missing_key_names_what_is_needed(tmp_path):
    np.savez(tmp_path / "m.npz", images=np.zeros((2, 8, 8, 1)))
    with pytest.raises(CalibrationError, match="needs key\\(s\\) 'x' .*; found images"):
        load_samples(tmp_path / "m.npz", IMAGE)


def test_count_mismatch_between_inputs(tmp_path):
    np.savez(tmp_path / "m.npz", a=np.zeros((5, 4)), b=np.zeros((4, 2, 3)))
    with pytest.raises(CalibrationError, match="different sample counts"):
        load_samples(tmp_path / "m.npz", TWO_INPUTS)


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "c.csv").write_text("1,2")
    with pytest.raises(CalibrationError, match="expected a .npy file"):
        load_samples(tmp_path / "c.csv", IMAGE)
    with pytest.raises(CalibrationError, match="no such file"):
        load_samples(tmp_path / "absent.npz", IMAGE)


def test_selection_is_deterministic_sorted_and_bounded():
    first = select_indices(1000, 50)
    assert np.array_equal(first, select_indices(1000, 50))
    assert len(set(first.tolist())) == 50 and np.all(np.diff(first) > 0) and first.max() < 1000
    assert np.array_equal(select_indices(10, 50), np.arange(10))
    with pytest.raises(CalibrationError):
        select_indices(10, 0)


@pytest.mark.parametrize(("total", "limit", "indices"), [
    (20, 5, [5, 6, 9, 10, 13]),
    (1000, 10, [16, 40, 75, 175, 268, 306, 507, 631, 813, 842]),
])
def test_selection_is_pinned(total, limit, indices):
    """The seeded draw (SELECTION_SEED 0) is part of the output's identity: the same calibration/validation
    subset on every machine and release. Changing it is a visible, deliberate change of this table."""
    assert SELECTION_SEED == 0
    assert select_indices(total, limit).tolist() == indices


def test_selection_covers_the_whole_file():
    # A draw over the file, not its head or tail: every tenth of 10,000 samples gets 200/10 = 20 +- 10 picks.
    chosen = select_indices(10_000, 200)
    per_tenth = np.bincount(chosen // 1000, minlength=10)
    assert per_tenth.min() >= 10 and per_tenth.max() <= 30, per_tenth.tolist()
    assert chosen.min() < 100 and chosen.max() >= 9900


def test_limited_load_returns_the_drawn_rows(tmp_path):
    x = np.arange(1000, dtype=np.float32).reshape(1000, 1, 1, 1) * np.ones((1, 8, 8, 1), np.float32)
    np.save(tmp_path / "c.npy", x)
    samples = load_samples(tmp_path / "c.npy", IMAGE, limit=10)
    assert samples.arrays[0][:, 0, 0, 0].tolist() == [16, 40, 75, 175, 268, 306, 507, 631, 813, 842]


def test_limit_applies_to_inputs_and_labels_together(tmp_path):
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1) * np.ones((1, 8, 8, 1), np.float32)
    np.savez(tmp_path / "v.npz", x=x, y=np.arange(100))
    samples = load_samples(tmp_path / "v.npz", IMAGE, limit=7)
    assert samples.count == 7
    np.testing.assert_array_equal(samples.arrays[0][:, 0, 0, 0], samples.labels)


def test_preprocess_scale_mean_std_and_bgr():
    x = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)
    pre = Preprocess(scale=0.5, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 6.0), channel_order="bgr")
    np.testing.assert_allclose(pre.apply(x), [[[[(15 - 1) / 2, (10 - 2) / 4, (5 - 3) / 6]]]])
    assert Preprocess().is_identity and not pre.is_identity


def test_preprocess_values_must_be_one_or_one_per_channel(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((3, 8, 8, 1), np.float32))
    # numpy alone would broadcast three means over one channel into a [3, 8, 8, 3] calibration set
    with pytest.raises(UsageError, match=r"--mean has 3 values but the samples have 1 channel \(last axis\): give 1"):
        load_samples(tmp_path / "c.npy", IMAGE, preprocess=Preprocess(mean=(1.0, 2.0, 3.0)))
    with pytest.raises(UsageError, match="--std must not be 0"):
        Preprocess(std=(1.0, 0.0, 1.0))
    with pytest.raises(UsageError, match="--channel-order"):
        Preprocess(channel_order="grb")


def test_synthetic_samples_are_seeded_and_marked():
    a, b = synthetic_samples(IMAGE, 5), synthetic_samples(IMAGE, 5)
    assert a.synthetic and a.sha256 == b.sha256 and a.count == 5
    assert a.to_dict()["synthetic"] is True


def test_image_folder_is_resized_to_the_input(tmp_path):
    from edgeq.tfenv import tensorflow

    tf = tensorflow()
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, value in enumerate((0, 128, 255)):
        image = np.full((16, 12, 3), value, np.uint8)
        (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    (folder / "notes.txt").write_text("ignored")
    samples = load_samples(folder, IMAGE, preprocess=Preprocess(scale=1 / 255))
    assert samples.arrays[0].shape == (3, 8, 8, 1)
    np.testing.assert_allclose(samples.arrays[0][:, 0, 0, 0], [0.0, 128 / 255, 1.0], atol=1e-5)


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="no images"):
        load_samples(tmp_path / "empty", IMAGE)
    with pytest.raises(CalibrationError, match="not an image"):
        load_samples(tmp_path / "empty", [TensorSpec("v", (10,))])
