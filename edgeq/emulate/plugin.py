"""edgeq's QEMU instruction-counting plugin: built from data/icount_plugin.c with the host compiler on first
use and cached, keyed by the source, the compiler and the QEMU binary.

The plugin runs on the host, not in the guest, so one build serves every emulated machine.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from edgeq.emit.boards import data_dir
from edgeq.emulate.tools import Toolchain, run_tool
from edgeq.errors import VerifyError

PLUGIN_SOURCE = "icount_plugin.c"


def cache_dir() -> Path:
    """$EDGEQ_CACHE_DIR, else $XDG_CACHE_HOME/edgeq, else ~/.cache/edgeq."""
    explicit = os.environ.get("EDGEQ_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeq"


def _fingerprint(toolchain: Toolchain, source: bytes) -> str:
    digest = hashlib.sha256(source)
    for program in (toolchain.host_cc, toolchain.qemu):
        stat = Path(program).resolve().stat()
        digest.update(f"{Path(program).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def counting_plugin(toolchain: Toolchain) -> Path:
    """Path of the built plugin (a shared library QEMU loads with -plugin), building it if needed."""
    source_path = data_dir() / PLUGIN_SOURCE
    source = source_path.read_bytes()
    target_dir = cache_dir() / "qemu-plugins"
    library = target_dir / f"edgeq-icount-{_fingerprint(toolchain, source)}.so"
    if library.is_file():
        return library
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VerifyError(f"cannot create the plugin cache {target_dir}: {exc.strerror}; "
                          "set EDGEQ_CACHE_DIR to a writable directory") from None
    # Build under a temporary name and rename: concurrent runs never load a half-written library.
    handle, partial = tempfile.mkstemp(prefix=".edgeq-icount-", suffix=".so", dir=target_dir)
    os.close(handle)
    try:
        run_tool([toolchain.host_cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", partial, str(source_path)],
                 "building edgeq's QEMU instruction-counting plugin")
        os.replace(partial, library)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return library
