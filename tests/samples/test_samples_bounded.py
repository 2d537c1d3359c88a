"""Sample files read lazily: the rows drawn from a streamed .npz member or a memory-mapped .npy are exactly the
rows numpy reads whole, and only the drawn images of a folder are decoded."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.errors import CalibrationError
from edgeq.sample_files import LazyMember, check_sample_file
from edgeq.samples import load_samples, select_indices
from edgeq.tflite.signature import TensorSpec

SPEC = [TensorSpec("image", (5, 3, 2))]


@pytest.mark.parametrize("kind", ["npz", "npz-compressed", "npy"])
@pytest.mark.parametrize("limit", [None, 1, 7, 300])
def test_drawn_rows_equal_numpy_whole_reads(tmp_path, kind, limit):
    x = np.random.default_rng(4).standard_normal((300, 5, 3, 2)).astype(np.float32)
    y = np.arange(300) % 7
    path = tmp_path / f"d.{kind[:3]}"
    if kind == "npy":
        np.save(path, x)
    else:
        (np.savez_compressed if kind.endswith("compressed") else np.savez)(path, x=x, y=y)
    got = load_samples(path, SPEC, limit=limit)
    rows = select_indices(300, limit)
    np.testing.assert_array_equal(got.arrays[0], x[rows])
    if kind != "npy":
        np.testing.assert_array_equal(got.labels, y[rows])


def test_lazy_member_reads_any_order_and_fortran_layout(tmp_path):
    x = np.asfortranarray(np.random.default_rng(1).integers(0, 255, (40, 6, 4), dtype=np.uint8))
    c = np.ascontiguousarray(x)
    np.savez(tmp_path / "d.npz", f=x, c=c)
    headers = check_sample_file(tmp_path / "d.npz", "data")
    assert headers["f"][2] is True and headers["c"][2] is False
    wanted = np.array([39, 0, 17, 17, 3])
    for key in ("f", "c"):
        member = LazyMember(tmp_path / "d.npz", key, *headers[key])
        np.testing.assert_array_equal(member[wanted], c[wanted])
        np.testing.assert_array_equal(member.whole(), c)


def test_a_truncated_member_is_an_error_not_garbage(tmp_path):
    import zipfile

    np.save(tmp_path / "x.npy", np.zeros((10, 4), np.float32))
    raw = (tmp_path / "x.npy").read_bytes()
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as archive:
        archive.writestr("x.npy", raw[:-40])  # the last 10 values are missing
    with pytest.raises(CalibrationError, match="holds only 120 bytes of it; the file is truncated"):
        load_samples(tmp_path / "t.npz", [TensorSpec("v", (4,))])


def test_only_the_drawn_images_are_decoded(tmp_path):
    import tensorflow as tf

    folder = tmp_path / "images"
    folder.mkdir()
    drawn = select_indices(13, 4)
    broken = next(i for i in range(13) if i not in drawn)
    for i in range(13):
        data = b"not an image" if i == broken else tf.io.encode_png(np.full((8, 8, 1), 20 * i, np.uint8)).numpy()
        (folder / f"{i:02d}.png").write_bytes(data)
    got = load_samples(folder, [TensorSpec("image", (8, 8, 1))], limit=4)
    assert [float(a.mean()) for a in got.arrays[0]] == pytest.approx([20.0 * i for i in drawn])
    with pytest.raises(CalibrationError, match="not a readable image"):  # drawn in full, it is decoded
        load_samples(folder, [TensorSpec("image", (8, 8, 1))])
