"""Streaming validation data: same samples as numpy reads, bounded memory, one-line errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from edgeq.errors import CalibrationError, UsageError
from edgeq.samples import Preprocess, load_samples, select_indices
from edgeq.tflite.signature import TensorSpec
from edgeq.validate.data import class_labels, open_samples

IMAGE = [TensorSpec("image", (8, 8, 1))]
TWO = [TensorSpec("a", (4,)), TensorSpec("b", (2, 3))]


def _collect(stream, size):
    starts, chunks = [], []
    for start, arrays in stream.batches(size):
        starts.append(start)
        chunks.append(arrays)
    return starts, [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_npz_streams_the_same_samples(tmp_path, rng, save):
    x = rng.random((1000, 8, 8, 1)).astype(np.float64)  # any numeric dtype; arrives as float32
    y = rng.integers(0, 10, 1000)
    save(tmp_path / "v.npz", x=x, y=y)
    stream = open_samples(tmp_path / "v.npz", IMAGE)
    assert stream.count == 1000
    np.testing.assert_array_equal(stream.labels, y)
    starts, (got,) = _collect(stream, 96)
    assert starts == list(range(0, 1000, 96))
    np.testing.assert_array_equal(got, x.astype(np.float32))


def test_limit_selects_the_seeded_subset_and_preprocesses(tmp_path, rng):
    x = rng.random((500, 8, 8, 1)).astype(np.float32)
    np.savez_compressed(tmp_path / "v.npz", x=x, y=np.arange(500))
    stream = open_samples(tmp_path / "v.npz", IMAGE, limit=37, preprocess=Preprocess(scale=2.0, mean=(1.0,)))
    chosen = select_indices(500, 37)
    np.testing.assert_array_equal(stream.labels, chosen)
    _, (got,) = _collect(stream, 10)
    np.testing.assert_allclose(got, x[chosen] * 2 - 1, rtol=1e-6)


def test_multi_input_npz_by_name_and_npy(tmp_path, rng):
    a, b = rng.random((6, 4)), rng.random((6, 2, 3))
    np.savez(tmp_path / "m.npz", b=b, a=a)
    _, (got_a, got_b) = _collect(open_samples(tmp_path / "m.npz", TWO), 4)
    np.testing.assert_allclose(got_a, a, rtol=1e-6)
    np.testing.assert_allclose(got_b, b, rtol=1e-6)
    np.save(tmp_path / "x.npy", a)
    _, (got,) = _collect(open_samples(tmp_path / "x.npy", TWO[:1]), 4)
    np.testing.assert_allclose(got, a, rtol=1e-6)


def test_streaming_memory_stays_flat(tmp_path, rng):
    # 40k samples, 10 MB of float32 in the file: reading it in batches of 256 must never hold it all.
    np.savez_compressed(tmp_path / "big.npz", x=rng.random((40_000, 8, 8, 1)).astype(np.float32))
    stream = open_samples(tmp_path / "big.npz", IMAGE)
    tracemalloc.start()
    total = 0
    for _, arrays in stream.batches(256):
        total += len(arrays[0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 40_000
    assert peak < 2_000_000, f"peak {peak} bytes while streaming 10 MB"


@pytest.mark.parametrize(("arrays", "fragment"), [
    ({"x": np.zeros((0, 8, 8, 1))}, "has no samples"),
    ({"x": np.zeros((4, 8, 8, 3))}, "samples of shape (8, 8, 3), the model expects (8, 8, 1)"),
    ({"x": np.array([["a"] * 64] * 2).reshape(2, 8, 8, 1)}, "expected numbers"),
    ({"images": np.zeros((4, 8, 8, 1))}, "needs key(s) 'x'"),
    ({"x": np.zeros((4, 8, 8, 1)), "y": np.arange(3)}, "different sample counts (input 'image' 4, labels 'y' 3)"),
], ids=["empty", "shape", "dtype", "key", "label count"])
@pytest.mark.parametrize("reader", [open_samples, load_samples], ids=["streamed", "in-memory"])
def test_bad_data_is_one_line_error(tmp_path, arrays, fragment, reader):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CalibrationError) as info:
        reader(tmp_path / "bad.npz", IMAGE)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("labels", "fragment"), [
    (np.array([0.5, 1, 2, 3]), "labels 'y' hold values that are not whole numbers (class ids): give class ids [N] "
                               "(0..9) or one-hot [N, 10]"),
    (np.array([0, -1, 2, 3]), "label -1 is negative"),
    (np.array([0, 1, 2, 10]), "label 10 is outside the classes 0..9 of output 'probs'"),
    (np.array([True, False, True, True]), "labels 'y' have dtype bool, not numbers"),
    (np.zeros((4, 2, 5)), "labels 'y' have shape (4, 2, 5), which fits neither"),
], ids=["fractional", "negative", "too large", "bool", "3-d"])
def test_labels_that_are_not_class_ids_of_the_output_are_refused(labels, fragment):
    with pytest.raises(CalibrationError) as info:
        class_labels(labels, 10, "probs", "validation data v.npz")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_label_forms_that_fit_the_output_give_the_same_ids():
    ids = np.array([3, 1, 4, 0])
    for form in (ids, ids.reshape(-1, 1), ids.astype(np.float32), np.eye(10)[ids], np.eye(10, dtype=np.uint8)[ids]):
        np.testing.assert_array_equal(class_labels(form, 10, "probs", "v.npz"), ids)


def test_image_folder_errors_name_the_validation_data(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(CalibrationError) as info:
        open_samples(tmp_path / "imgs", IMAGE)
    assert str(info.value).startswith(f"validation data {tmp_path / 'imgs'}: no images")


def test_preprocessing_that_does_not_fit_the_channels_is_refused(tmp_path):
    np.savez(tmp_path / "v.npz", x=np.ones((4, 8, 8, 1), np.float32))
    stream = open_samples(tmp_path / "v.npz", IMAGE, preprocess=Preprocess(std=(1.0, 2.0)))
    with pytest.raises(UsageError, match="--std has 2 values but the samples have 1 channel"):
        _collect(stream, 2)


def test_nan_is_reported_with_its_sample(tmp_path):
    x = np.zeros((300, 8, 8, 1), np.float32)
    x[263, 3, 3, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x)
    with pytest.raises(CalibrationError, match=r"NaN or infinite values \(sample 263\)"):
        _collect(open_samples(tmp_path / "nan.npz", IMAGE), 100)


def test_not_an_archive(tmp_path):
    (tmp_path / "v.npz").write_bytes(b"not a zip")
    with pytest.raises(CalibrationError, match="not a readable .npz archive"):
        open_samples(tmp_path / "v.npz", IMAGE)
