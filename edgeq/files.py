"""Input files read with work bounded by the file, never by what it claims: a model path must be a regular file
(or a folder of them) under a size limit before edgeq reads a byte of it.

Why a limit at all: /dev/zero, a FIFO or a multi-gigabyte sparse file would otherwise be read whole (or block
forever) before any format check could say "not a model". 2 GiB is the most a TFLite flatbuffer can hold (its
offsets are 32-bit), and no model edgeq can bring to a microcontroller or a phone comes near it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgeq.errors import EdgeqError, ModelLoadError

MAX_MODEL_BYTES = 2 << 30  # 2 GiB: a flatbuffer's 32-bit offsets cannot address more


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ('a device', 'a FIFO (named pipe)')."""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def model_file_size(path: Path, error: type[EdgeqError] = ModelLoadError, what: str = "model") -> int:
    """The size of a model file (a SavedModel folder: of its files), refusing anything that is not a regular
    file or folder and anything over MAX_MODEL_BYTES, in one line. Never opens the file (a FIFO would block)."""
    try:
        info = path.stat()  # follows symbolic links: what matters is what would be read
    except FileNotFoundError:
        raise error(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        size = 0
        for root, _, files in os.walk(path):
            for name in files:
                item = Path(root) / name
                item_info = item.stat() if item.exists() else None
                if item_info is not None and not stat.S_ISREG(item_info.st_mode):
                    raise error(f"{item}: {file_kind(item_info.st_mode)} inside the {what} folder; a {what} holds "
                                "regular files only")
                size += item_info.st_size if item_info is not None else 0
    elif stat.S_ISREG(info.st_mode):
        size = info.st_size
    else:
        raise error(f"{path}: {file_kind(info.st_mode)}, not a {what} file; give the path of a saved {what}")
    if size > MAX_MODEL_BYTES:
        raise error(f"{path}: {size:,} bytes ({_gib(size)}) is over edgeq's limit of {_gib(MAX_MODEL_BYTES)} for a "
                    f"{what} (the most a TFLite flatbuffer can hold)")
    return size


def read_head(path: Path, count: int) -> bytes:
    """The first `count` bytes of a regular file (checked with model_file_size first)."""
    with path.open("rb") as handle:
        return handle.read(count)
