"""The TFLM library cache after a stopped run: `verify --tflm-tree` killed while compiling TFLM leaves its staging
folder (~/.cache/edgeq/tflm/.<key>-XXXX); the next run removes what a dead run left, says so, and keeps what a
live run (or one it cannot judge) is building."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_tflm import write_fake_tflm

from edgeq.check.targets import get_target
from edgeq.emit import emit_project
from edgeq.emulate.tflm import OWNER_FILE, STALE_AGE, remove_stale_staging, tflm_library

HOST = socket.gethostname()


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _staging(cache: Path, name: str, owner: str | None, age: float = 0.0) -> Path:
    folder = cache / "tflm" / name
    (folder / "obj").mkdir(parents=True)
    (folder / "obj" / "conv.cc.o").write_bytes(b"\0" * 64)  # a half-built library
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner + "\n")
    if age:
        stamp = time.time() - age
        os.utime(folder, (stamp, stamp))
    return folder


def _leftovers(cache: Path) -> dict[str, Path]:
    dead = _dead_pid()
    return {
        "dead": _staging(cache, ".0123456789abcdef0123-k3x_9q", f"{dead} {HOST}"),
        "live": _staging(cache, ".fedcba98765432100123-a1b2c3", f"{os.getpid()} {HOST}"),
        "other host": _staging(cache, ".00000000000000000000-zz11yy", f"{dead} {HOST}-elsewhere"),
        "old, no owner": _staging(cache, ".11111111111111111111-oldone", None, age=STALE_AGE + 3600),
        "new, no owner": _staging(cache, ".22222222222222222222-newone", None, age=60),
        "not edgeq's": _staging(cache, ".notes-abcdef", f"{dead} {HOST}", age=STALE_AGE + 3600),
    }


def test_what_cannot_be_judged_is_kept(tmp_path) -> None:
    """A garbled owner file, one naming no host, a symlink or a file shaped like a staging folder, and an
    unreadable owner: never removed."""
    dead = _dead_pid()
    kept = [_staging(tmp_path, ".33333333333333333333-garble", "not a pid"),
            _staging(tmp_path, ".44444444444444444444-nohost", f"{dead}"),
            _staging(tmp_path, ".55555555555555555555-extra", f"{dead} {HOST} more"),
            _staging(tmp_path, ".66666666666666666666-binary", None, age=STALE_AGE + 3600)]
    (kept[-1] / OWNER_FILE).write_bytes(b"\xff\xfe not text")  # unreadable as UTF-8
    target = _staging(tmp_path, "real-folder", f"{dead} {HOST}")
    link = tmp_path / "tflm" / ".77777777777777777777-link"
    link.symlink_to(target, target_is_directory=True)
    plain = tmp_path / "tflm" / ".88888888888888888888-file"
    plain.write_text("a file, not a folder")
    stamp = time.time() - STALE_AGE - 3600
    os.utime(plain, (stamp, stamp))
    assert remove_stale_staging(tmp_path / "tflm") == []
    assert all(p.is_dir() for p in kept) and link.is_symlink() and plain.is_file() and target.is_dir()


def test_the_whole_cache_is_scanned(tmp_path) -> None:
    """Entries that are not staging folders, or cannot be judged, sort first: the scan goes on past them."""
    dead = _dead_pid()
    _staging(tmp_path, ".000-not-a-key", f"{dead} {HOST}")
    _staging(tmp_path, ".00000000000000000000-binary", None)
    (tmp_path / "tflm" / ".00000000000000000000-binary" / OWNER_FILE).write_bytes(b"\xff\xfe")
    stale = _staging(tmp_path, ".ffffffffffffffffffff-stale", f"{dead} {HOST}")
    assert remove_stale_staging(tmp_path / "tflm") == [stale]


def test_the_age_rule_without_an_owner_file(tmp_path) -> None:
    young = _staging(tmp_path, ".99999999999999999999-young", None, age=STALE_AGE - 120)
    old = _staging(tmp_path, ".aaaaaaaaaaaaaaaaaaaa-old", None, age=STALE_AGE + 120)
    assert remove_stale_staging(tmp_path / "tflm") == [old]
    assert young.is_dir() and not old.exists()


def test_only_what_a_dead_run_left_is_removed(tmp_path) -> None:
    folders = _leftovers(tmp_path)
    removed = remove_stale_staging(tmp_path / "tflm")
    assert removed == sorted([folders["dead"], folders["old, no owner"]])
    assert {k for k, v in folders.items() if v.exists()} == {"live", "other host", "new, no owner", "not edgeq's"}
    assert remove_stale_staging(tmp_path / "tflm") == []  # nothing left to remove
    assert remove_stale_staging(tmp_path / "absent") == []


@pytest.mark.arm
def test_a_library_build_cleans_up_first_and_leaves_no_owner_file(tmp_path, monkeypatch, toolchain) -> None:
    monkeypatch.setenv("EDGEQ_CACHE_DIR", str(tmp_path / "cache"))
    folders = _leftovers(tmp_path / "cache")
    tree = write_fake_tflm(tmp_path / "tree", [16], [4])
    cleaned: list[Path] = []
    library = tflm_library(tree, get_target("cortex-m4"), toolchain, on_clean=cleaned.append)
    assert cleaned == sorted([folders["dead"], folders["old, no owner"]])
    assert library.built_now and library.path.is_file() and folders["live"].is_dir()
    assert not (library.path.parent / OWNER_FILE).exists()
    assert sorted(p.name for p in (tmp_path / "cache" / "tflm").iterdir() if p.name.startswith(".")) == sorted(
        folders[k].name for k in ("live", "other host", "new, no owner", "not edgeq's"))


@pytest.mark.qemu
@pytest.mark.slow
def test_verify_says_what_it_removed(tmp_path, digits_int8) -> None:
    out = tmp_path / "out"
    emit_project(digits_int8, out, target="cortex-m4", name="digits")
    cache = tmp_path / "cache"
    folders = _leftovers(cache)
    tree = write_fake_tflm(tmp_path / "tree", [64], [10])  # runs, but is not TFLM: its outputs differ
    env = {**os.environ, "EDGEQ_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-m", "edgeq.cli", "verify", str(out), "--tflm-tree", str(tree),
                           "--samples", "1"], capture_output=True, text=True, env=env, check=False)
    text = " ".join(done.stderr.split())
    for kind in ("dead", "old, no owner"):
        assert f"Removed {folders[kind]}: a TFLM library a stopped run left half-built" in text, done.stderr
    assert text.count("Removed ") == 2 and folders["live"].is_dir()
    assert done.returncode == 1 and "outputs differ from the host TFLM result" in text
    assert json.loads((out / "report.json").read_text())["emulation"]["status"] == "mismatch"
