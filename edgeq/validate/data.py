"""Validation samples, streamed: .npy files are memory-mapped and .npz members are read chunk by chunk
from the zip stream, so a 50k-sample set never sits in memory as a whole (labels do: they are small).

Image folders and in-memory SampleSets are accepted too (they are already in memory).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgeq.errors import CalibrationError
from edgeq.sample_files import HEADER_ERRORS, check_sample_file, parse_header
from edgeq.samples import (
    Preprocess,
    SampleSet,
    check_counts,
    label_rows,
    load_samples,
    no_batch_note,
    npz_input_keys,
    one_array_only,
    sample_shape,
    select_indices,
)
from edgeq.staging import file_sha256
from edgeq.tflite.signature import TensorSpec

WHAT = "validation data"
BLOCK_BYTES = 16 << 20  # largest read from a zip stream at once


@dataclass
class _Member:
    """One array of the data file: its shape/dtype from the .npy header and a way to read rows in order."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    opener: Any  # () -> (file object positioned at the first row) or None for memory-mapped/in-memory
    array: np.ndarray | None = None


@dataclass
class SampleStream:
    """Samples per model input, read in batches; `count` samples (after the optional limit) and labels."""

    source: str
    sha256: str
    count: int
    labels: np.ndarray | None  # as in the file until class_labels() checks them against the labelled output
    preprocess: Preprocess
    _members: list[_Member] = field(repr=False)
    _selection: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)  # warnings about how the file was read

    def batches(self, size: int) -> Iterator[tuple[int, list[np.ndarray]]]:
        """(position of the first sample, one float32 array [n, *shape] per input), in order."""
        readers = [_RowReader(m) for m in self._members]
        try:
            position = 0
            for start in range(0, self._selection.size, size):
                wanted = self._selection[start:start + size]
                arrays = [r.rows(wanted) for r in readers]
                arrays = [self.preprocess.apply(np.asarray(a, np.float32)) for a in arrays]
                for a, m in zip(arrays, self._members, strict=True):
                    if not np.isfinite(a).all():
                        bad = position + int(np.argwhere(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))[0, 0])
                        raise CalibrationError(f"{WHAT} {self.source}: input {m.key!r} has NaN or infinite values "
                                               f"(sample {bad})")
                yield position, arrays
                position += len(wanted)
        finally:
            for r in readers:
                r.close()

    @property
    def sample_bytes(self) -> int:
        """Bytes of one sample over every input, as the float32 arrays `batches` yields."""
        return sum(int(np.prod(m.shape[1:], dtype=np.int64)) * 4 for m in self._members)

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"source": self.source, "sha256": self.sha256, "samples": self.count,
                                "labels": self.labels is not None}
        if not self.preprocess.is_identity:
            info["preprocess"] = self.preprocess.to_dict()
        return info


class _RowReader:
    """Reads selected rows (increasing indices) of one member, sequentially for zip streams."""

    def __init__(self, member: _Member) -> None:
        self.member = member
        self.file: IO[bytes] | None = member.opener() if member.opener else None
        self.next_row = 0
        self.row_bytes = int(np.prod(member.shape[1:], dtype=np.int64)) * member.dtype.itemsize

    def rows(self, wanted: np.ndarray) -> np.ndarray:
        if self.file is None:
            assert self.member.array is not None
            return np.asarray(self.member.array[wanted])
        out = np.empty((len(wanted), *self.member.shape[1:]), dtype=self.member.dtype)
        block_rows = max(1, BLOCK_BYTES // max(self.row_bytes, 1))
        i = 0
        while i < len(wanted):  # read at most BLOCK_BYTES at a time, even when the wanted rows are spread out
            first = int(wanted[i])
            self._skip(first - self.next_row)
            j = int(np.searchsorted(wanted, first + block_rows, side="left"))
            count = int(wanted[j - 1]) - first + 1
            raw = self.file.read(count * self.row_bytes)
            if len(raw) != count * self.row_bytes:
                raise CalibrationError(f"{WHAT}: array {self.member.key!r} is truncated")
            block = np.frombuffer(raw, dtype=self.member.dtype).reshape(count, *self.member.shape[1:])
            out[i:j] = block[wanted[i:j] - first]
            self.next_row = first + count
            i = j
        return out

    def _skip(self, rows: int) -> None:
        assert self.file is not None
        remaining = rows * self.row_bytes
        while remaining > 0:
            chunk = self.file.read(min(remaining, 1 << 20))
            if not chunk:
                raise CalibrationError(f"{WHAT}: array {self.member.key!r} is truncated")
            remaining -= len(chunk)
        self.next_row += rows

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def open_samples(data: str | Path | SampleSet, inputs: list[TensorSpec], *, limit: int | None = None,
                 preprocess: Preprocess | None = None) -> SampleStream:
    """Open validation data (.npy, .npz with `x` or one key per input and optional `y`, an image folder,
    or a SampleSet) and check it against the model inputs without reading the samples."""
    preprocess = preprocess or Preprocess()
    if isinstance(data, SampleSet):  # load_samples already applied its preprocessing
        stream = _from_arrays(data.source, data.sha256, data.arrays, data.labels, inputs, limit, Preprocess())
        stream.notes[:0] = data.notes
        return stream
    path = Path(data)
    if not path.exists():
        raise CalibrationError(f"{WHAT} {path}: no such file or directory")
    if path.is_dir():
        loaded = load_samples(path, inputs, limit=limit, preprocess=preprocess, what="validation")
        return _from_arrays(loaded.source, loaded.sha256, loaded.arrays, None, inputs, None, Preprocess())
    suffix = path.suffix.lower()
    notes: list[str] = []
    check_sample_file(path, f"{WHAT} {path}")  # claimed sizes against the file and the limit, before any read
    if suffix == ".npy":
        one_array_only(inputs, f"{WHAT} {path}")
        members, labels = [_npy_member(path)], None
    elif suffix == ".npz":
        members, labels = _npz_members(path, inputs, notes)
    else:
        raise CalibrationError(f"{WHAT} {path}: expected a .npz file (key x, optional y), a .npy file or an "
                               "image folder")
    stream = _stream(path.name, file_sha256(path), members, labels, inputs, limit, preprocess, path)
    stream.notes[:0] = notes
    return stream


def _from_arrays(source: str, sha256: str, arrays: list[np.ndarray], labels: np.ndarray | None,
                 inputs: list[TensorSpec], limit: int | None, preprocess: Preprocess) -> SampleStream:
    if len(arrays) != len(inputs):
        raise CalibrationError(f"{WHAT} {source}: {len(arrays)} input arrays for a model with {len(inputs)} inputs")
    members = [_Member(spec.name, tuple(a.shape), a.dtype, None, a) for spec, a in zip(inputs, arrays, strict=True)]
    return _stream(source, sha256, members, labels, inputs, limit, preprocess, Path(source))


def _stream(source: str, sha256: str, members: list[_Member], labels: np.ndarray | None,
            inputs: list[TensorSpec], limit: int | None, preprocess: Preprocess, path: Path) -> SampleStream:
    notes = [note for member, spec in zip(members, inputs, strict=True) if (note := _check_member(member, spec, path))]
    counts = {spec.name: m.shape[0] for m, spec in zip(members, inputs, strict=True)}
    if labels is not None:
        counts["labels 'y'"] = label_rows(labels, f"{WHAT} {path}")
    check_counts(counts, f"{WHAT} {path}")
    selection = select_indices(members[0].shape[0], limit)
    if labels is not None:
        labels = labels[selection]
    return SampleStream(source=source, sha256=sha256, count=int(selection.size), labels=labels,
                        preprocess=preprocess, _members=members, _selection=selection, notes=notes)


def _check_member(member: _Member, spec: TensorSpec, path: Path) -> str:
    """Check one array against its input ('' or the warning to show)."""
    shape = sample_shape(member.shape, member.dtype, spec, f"{WHAT} {path}")
    if shape == member.shape:
        return ""
    note = no_batch_note(f"{WHAT} {path}", spec, member.shape)  # one sample without a batch dimension
    member.shape = shape
    if member.array is not None:
        member.array = member.array.reshape(shape)
    return note


def class_labels(labels: np.ndarray, classes: int, output: str, where: str) -> np.ndarray:
    """The one rule for labels 'y' against the labelled output (`classes` scores): int64 class ids [N].

    Accepted: class ids [N], or a column of ids [N, 1] (whole numbers, as `y.reshape(-1, 1)` gives; never
    read as one-hot since a class-score output has at least 2 classes), and one-hot or per-class scores
    [N, classes] (arg-max taken). Anything else is an error: a one-hot array 5 wide for 10 classes would
    otherwise become ids 0..4 and validation would pass on wrong labels."""
    labels = np.asarray(labels)
    expected = f"give class ids [N] (0..{classes - 1}) or one-hot [N, {classes}]"
    if labels.dtype.kind not in "iuf":
        raise CalibrationError(f"{where}: labels 'y' have dtype {labels.dtype}, not numbers: {expected}")
    if labels.ndim == 2 and labels.shape[1] == classes:
        labels = labels.argmax(axis=1)
    elif labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif labels.ndim != 1:
        raise CalibrationError(f"{where}: labels 'y' have shape {labels.shape}, which fits neither class ids [N] "
                               f"nor one-hot for the {classes} classes of output {output!r}: {expected}")
    whole = labels.dtype.kind != "f" or bool(np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)))
    if not whole:
        raise CalibrationError(f"{where}: labels 'y' hold values that are not whole numbers (class ids): {expected}")
    if labels.size and labels.min() < 0:
        raise CalibrationError(f"{where}: label {int(labels.min())} is negative: {expected}")
    if labels.size and labels.max() >= classes:
        raise CalibrationError(f"{where}: label {int(labels.max())} is outside the classes 0..{classes - 1} of "
                               f"output {output!r}")
    return labels.astype(np.int64)


def _header(stream: IO[bytes], path: Path, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    try:
        return parse_header(stream)
    except HEADER_ERRORS as exc:
        detail = "" if "magic string" in str(exc) else f" ({' '.join(str(exc).split())[:120]})"
        raise CalibrationError(f"{WHAT} {path}: member {key!r} is not a .npy array{detail} (edgeq never unpickles "
                               "data); save the arrays with numpy.savez") from None


def _npy_member(path: Path) -> _Member:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CalibrationError(f"{WHAT} {path}: not a readable .npy array ({exc})") from None
    return _Member("x", tuple(array.shape), array.dtype, None, array)


def _npz_members(path: Path, inputs: list[TensorSpec],
                 notes: list[str]) -> tuple[list[_Member], np.ndarray | None]:
    try:
        archive = zipfile.ZipFile(path)
        names = {n.removesuffix(".npy"): n for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise CalibrationError(f"{WHAT} {path}: not a readable .npz archive ({exc})") from None
    with archive:
        keys, found = npz_input_keys(names, inputs, f"{WHAT} {path}")
        notes.extend(found)
        members = []
        for key in keys:
            with archive.open(names[key]) as stream:
                shape, dtype, fortran = _header(stream, path, key)
            if fortran or dtype.hasobject:  # rare: read it whole rather than reimplement numpy's reader
                array = _whole(path, key)
                members.append(_Member(key, tuple(array.shape), array.dtype, None, array))
            else:
                members.append(_Member(key, shape, dtype, _member_opener(path, names[key])))
    labels = _whole(path, "y") if "y" in names else None
    return members, labels


def _whole(path: Path, key: str) -> np.ndarray:
    """One member of the archive, read whole."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            array = npz[key]
    except ValueError as exc:
        raise CalibrationError(f"{WHAT} {path}: array {key!r} is not numeric ({exc})") from None
    if not isinstance(array, np.ndarray):  # numpy hands back a member that is not .npy (a pickle) as bytes
        raise CalibrationError(f"{WHAT} {path}: member {key!r} is not a .npy array (edgeq never unpickles data); "
                               "save the arrays with numpy.savez")
    return array


def _member_opener(path: Path, member: str) -> Any:
    def open_at_first_row() -> IO[bytes]:
        archive = zipfile.ZipFile(path)
        stream = archive.open(member)
        _header(stream, path, member.removesuffix(".npy"))
        archive.close()  # the member stream keeps its own handle on the file
        return stream

    return open_at_first_row

