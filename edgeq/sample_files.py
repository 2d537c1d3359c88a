""".npy/.npz sample files read with work bounded by the file: every array's header is read (never its data)
and its claimed size checked against what the file holds and against a limit, before anything is loaded.

A 4 MB .npz of zeros can decompress to 4 GB, and a forged header can claim 10^9 samples: without these checks
the claim, not the file, decides how much memory and time a run takes. Rows are then read lazily (a memory map
for .npy, a zip stream for .npz members), so --calib-samples / --val-samples bound what is read.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgeq.errors import CalibrationError, UsageError
from edgeq.files import file_kind

DEFAULT_MAX_SAMPLE_BYTES = 2 << 30  # 2 GiB per array: far beyond any calibration or validation set for a MCU
LIMIT_VARIABLE = "EDGEQ_MAX_SAMPLE_BYTES"
BLOCK_BYTES = 16 << 20  # largest read from a zip stream at once

Header = tuple[tuple[int, ...], np.dtype, bool]  # shape, dtype, Fortran order


def max_sample_bytes() -> int:
    """The per-array limit: EDGEQ_MAX_SAMPLE_BYTES when set, else 2 GiB."""
    raw = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_SAMPLE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{LIMIT_VARIABLE}={raw!r}: give a positive number of bytes")
    return value


HEADER_ERRORS = (ValueError, EOFError, OSError)  # what numpy.lib.format raises for a header it cannot read


def parse_header(stream: IO[bytes]) -> Header:
    """An .npy header (numpy.lib.format), leaving `stream` at the first byte of data; HEADER_ERRORS if it is
    not one (a pickle, a truncated file). Never reads the data."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    return tuple(int(d) for d in shape), np.dtype(dtype), bool(fortran)


def read_header(stream: IO[bytes], where: str) -> Header:
    """parse_header, its failure one CalibrationError line naming `where`."""
    try:
        return parse_header(stream)
    except HEADER_ERRORS as exc:
        raise CalibrationError(f"{where}: not a readable .npy array ({' '.join(str(exc).split())[:160]})") from None


def _check_claim(header: Header, available: int, where: str, key: str) -> None:
    shape, dtype, _ = header
    count = 1
    for dim in shape:
        count *= dim
    claimed = count * dtype.itemsize  # Python integers: a forged shape cannot overflow
    described = f"array {key!r} claims shape {shape} {dtype} ({claimed:,} bytes)"
    if claimed > available:
        raise CalibrationError(f"{where}: {described} but the file holds only {available:,} bytes of it; the file "
                               "is truncated or its header is forged")
    limit = max_sample_bytes()
    if claimed > limit:
        raise CalibrationError(f"{where}: {described}, over edgeq's limit of {limit:,} bytes per array "
                               f"({LIMIT_VARIABLE} raises it); save fewer samples")


def check_sample_file(path: Path, where: str) -> dict[str, Header]:
    """Headers of a .npy file ('x') or of every .npy member of a .npz (key -> header), each checked against
    the bytes the file holds and the per-array limit; reads no array data. Other files: {}."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return {}  # the caller says "no such file" in its own words
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # reading /dev/zero or a FIFO never ends
        raise CalibrationError(f"{where}: {file_kind(mode)}, not a data file; give a .npy/.npz file or a folder "
                               "of images")
    suffix = path.suffix.lower()
    if suffix == ".npy" and path.is_file():
        try:
            with path.open("rb") as handle:
                header = read_header(handle, where)
                offset = handle.tell()
        except OSError as exc:
            raise CalibrationError(f"{where}: cannot read it ({exc.strerror})") from None
        _check_claim(header, path.stat().st_size - offset, where, "x")
        return {"x": header}
    if suffix != ".npz" or not path.is_file():
        return {}
    headers: dict[str, Header] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with archive.open(info) as stream:
                    header = _member_header(stream, where, key)
                    offset = stream.tell()
                # the zip directory's unpacked size: reading stops there even if the stream holds more
                _check_claim(header, info.file_size - offset, where, key)
                headers[key] = header
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CalibrationError(f"{where}: not a readable .npz archive ({' '.join(str(exc).split())[:160]})") from None
    return headers


def _member_header(stream: IO[bytes], where: str, key: str) -> Header:
    """An .npz member's header; a member that is not a plain .npy array (a pickle) is refused, never read."""
    detail: str | None = None
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(stream)
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            detail = " (an array of Python objects)"
    except (ValueError, EOFError) as exc:
        detail = "" if "magic string" in str(exc) else f" ({' '.join(str(exc).split())[:120]})"
    if detail is not None:
        raise CalibrationError(f"{where}: member {key!r} is not a .npy array{detail} (edgeq never unpickles data); "
                               "save the arrays with numpy.savez")
    return tuple(int(d) for d in shape), dtype, bool(fortran)


class LazyMember:
    """One .npz member as load_samples uses an array (shape, dtype, reshape, rows by index), whose rows are
    read only when indexed, streamed from the zip member one block at a time."""

    def __init__(self, path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype, fortran: bool) -> None:
        self.path, self.key, self.shape, self.dtype, self.fortran = path, key, tuple(shape), dtype, fortran

    def reshape(self, shape: tuple[int, ...]) -> LazyMember:
        """Only to add a batch axis of 1 (the element count stays)."""
        return LazyMember(self.path, self.key, tuple(shape), self.dtype, self.fortran)

    def _open(self) -> tuple[zipfile.ZipFile, IO[bytes]]:
        archive = zipfile.ZipFile(self.path)
        stream = archive.open(f"{self.key}.npy")
        read_header(stream, f"{self.path}[{self.key}]")
        return archive, stream

    def whole(self) -> np.ndarray:
        """The whole array (its size was checked against the limit)."""
        return self[np.arange(self.shape[0] if self.shape else 0)] if self.shape else self._all()

    def _all(self) -> np.ndarray:
        archive, stream = self._open()
        with archive, stream:
            count = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
            raw = stream.read(count * self.dtype.itemsize)
        if len(raw) != count * self.dtype.itemsize:
            raise CalibrationError(f"{self.path}: array {self.key!r} is truncated")
        return np.frombuffer(raw, self.dtype).reshape(self.shape, order="F" if self.fortran else "C").copy()

    def __getitem__(self, selection: Any) -> np.ndarray:
        selection = np.asarray(selection, dtype=np.int64)
        if self.fortran or selection.ndim != 1 or not self.shape:  # rare layouts: read whole, then select
            return self._all()[selection]
        row_shape = self.shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        out = np.empty((len(selection), *row_shape), dtype=self.dtype)
        if not len(selection):
            return out
        order = np.argsort(selection, kind="stable")
        wanted = selection[order]
        block_rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
        archive, stream = self._open()
        with archive, stream:
            start, last = 0, int(wanted[-1])
            while start <= last:  # stops at the last row drawn: the rest of the member is never decompressed
                stop = min(self.shape[0], start + block_rows)
                raw = stream.read((stop - start) * row_bytes)
                if len(raw) != (stop - start) * row_bytes:
                    raise CalibrationError(f"{self.path}: array {self.key!r} is truncated")
                lo, hi = np.searchsorted(wanted, [start, stop])
                if hi > lo:
                    block = np.frombuffer(raw, self.dtype).reshape(stop - start, *row_shape)
                    out[order[lo:hi]] = block[wanted[lo:hi] - start]
                start = stop
        return out
