"""Writing results safely: every problem with OUT is found before any work, files go to a staging directory that
replaces OUT only on success, and --force replaces only what edgeq itself wrote.

edgeq recognises its own output by MANIFEST, a file it writes into every OUT listing each file with its sha256:
--force may replace an empty folder or one whose files are all listed there, unchanged. Anything else (a file
edgeq did not write, one edited since, and above all one of the command's own inputs) is refused.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from edgeq.errors import OutputError, OutputExistsError, UsageError, listing
from edgeq.version import __version__

MANIFEST = ".edgeq-manifest.json"
STAGING_MARKER = ".edgeq-staging.json"  # inside a staging folder while edgeq writes it: {generator, pid, host}
GENERATOR = "edgeq"
# Single files edgeq writes (validate --junit/--report) are recognised by a signature near their start.
HTML_SIGNATURE = '<meta name="generator" content="edgeq'
JUNIT_SIGNATURE = '<testsuites name="edgeq.validate"'


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


NAME_MAX, PATH_MAX = 255, 4096  # Linux's limits, used where pathconf cannot tell


def check_path_length(path: Path, option: str) -> None:
    """A path the file system cannot hold (a component over NAME_MAX bytes, the whole over PATH_MAX) is refused
    in one short line, without echoing a path thousands of characters long."""
    name_max = NAME_MAX  # asking the file system (pathconf) needs an existing path: a stat of this one would fail
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise OutputError(f"{option}: the name {_abbreviated(part)!r} is {size:,} bytes, over the file system's "
                              f"limit of {name_max} for one path component; choose a shorter name")
    size = len(os.fsencode(os.path.abspath(path)))
    if size > PATH_MAX:
        raise OutputError(f"{option}: the path is {size:,} bytes, over the limit of {PATH_MAX}; choose a shorter "
                          "path")


def _abbreviated(text: str, keep: int = 24) -> str:
    return text if len(text) <= 2 * keep else f"{text[:keep]}…{text[-8:]}"


def _existing_ancestor(path: Path) -> Path:
    """The nearest part of `path` (itself or a parent) that exists."""
    absolute = Path(os.path.abspath(path))
    for candidate in (absolute, *absolute.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path("/")  # pragma: no cover - the root always exists


def _check_writable_parent(path: Path, what: str) -> None:
    """The folder `path` will be created in can be written: its nearest existing ancestor is a writable folder."""
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {what} {path}: {ancestor} is a file, not a folder")
    try:  # os.access says yes for root even on /proc: only creating something proves it
        Path(tempfile.mkdtemp(prefix=".edgeq-probe-", dir=ancestor)).rmdir()
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {ancestor} is not writable ({exc.strerror})") from None


def _inputs_inside(out_dir: Path, inputs: Iterable[Path | str | None]) -> list[str]:
    """The command's inputs that are OUT itself or lie inside it."""
    out = _resolved(out_dir)
    found = []
    for item in inputs:
        if item is None or str(item) == "":
            continue
        path = _resolved(Path(item))
        if path == out or out in path.parents:
            found.append(str(item))
    return found


def output_files(out_dir: Path) -> list[str]:
    """Every file and symbolic link under `out_dir` (relative POSIX paths, sorted; links are not followed)."""
    found = []
    for root, dirs, files in os.walk(out_dir):
        base = Path(root)
        links = [d for d in dirs if (base / d).is_symlink()]
        for name in (*files, *links):
            found.append((base / name).relative_to(out_dir).as_posix())
    return sorted(found)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (model files and data sets can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _owned(out_dir: Path) -> dict[str, str | None] | None:
    """Files edgeq wrote into `out_dir` (relative path -> sha256, None when unknown), or None if it did not."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return _owned_by_report(out_dir)
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    return {MANIFEST: None, **{str(k): str(v) for k, v in files.items()}}


def _owned_by_report(out_dir: Path) -> dict[str, str | None] | None:
    """An `edgeq convert` output written before MANIFEST existed: its report.json lists what it wrote."""
    from edgeq.record import RecordError, read_report

    try:
        report = read_report(out_dir)
    except RecordError:
        return None
    if report.model is None:
        return None
    owned: dict[str, str | None] = dict.fromkeys(
        ("report.json", "model.tflite", "validation.html", "validation.junit.xml"))
    project = report.project
    if project is not None:
        owned.update(dict.fromkeys(f if project.dir in ("", ".") else f"{project.dir}/{f}" for f in project.files))
    return owned


def _check_replaceable(out_dir: Path) -> None:
    """--force: OUT must be empty or hold only edgeq's own, unchanged output."""
    present = output_files(out_dir)
    if not present:
        return
    owned = _owned(out_dir)
    if owned is None:
        raise OutputExistsError(f"{out_dir} is not an edgeq output (it holds {listing(present)}); --force replaces "
                                "only an empty folder or an earlier edgeq output: choose another -o")
    foreign = [f for f in present if f not in owned]
    if foreign:
        raise OutputExistsError(f"{out_dir} holds files edgeq did not write ({listing(foreign)}); --force replaces "
                                "only edgeq's own output: move them or choose another -o")
    changed = [f for f in present if owned.get(f) and file_sha256(out_dir / f) != owned[f]]
    if changed:
        raise OutputExistsError(f"{out_dir}: {listing(changed)} changed since edgeq wrote "
                                f"{'them' if len(changed) > 1 else 'it'}; --force would lose the edits: "
                                "copy them elsewhere or choose another -o")


def check_output_dir(out_dir: Path | str, force: bool, inputs: Iterable[Path | str | None] = ()) -> None:
    """Every reason OUT cannot be written, found before any work: a one-line OutputError/UsageError."""
    out_dir = Path(out_dir)
    if str(out_dir) in ("", "."):
        raise UsageError("the output folder is the current folder; name a new folder, e.g. -o edgeq-out")
    check_path_length(out_dir, "the output folder")
    resolved = _resolved(out_dir)
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UsageError(f"the output folder {out_dir} is the current folder or holds it; name a new folder")
    inside = _inputs_inside(out_dir, inputs)
    if inside:
        raise OutputExistsError(f"{out_dir} holds {listing(inside)}, {'an input' if len(inside) == 1 else 'inputs'} "
                                "of this command that writing there would replace: choose another -o")
    if out_dir.is_symlink():
        raise OutputError(f"{out_dir} is a symbolic link; give the folder it points to, or a new folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            raise OutputExistsError(f"{out_dir} exists and is not empty; use --force to replace an earlier edgeq "
                                    "output")
        _check_replaceable(out_dir)
    _check_writable_parent(out_dir, "the output folder")


def check_output_file(path: Path | str | None, force: bool, inputs: Iterable[Path | str | None] = (),
                      signature: str = "", option: str = "the output file") -> None:
    """The same rules for one file (validate --junit/--report): --force replaces only a file edgeq wrote."""
    if path is None:
        return
    if str(path) == "":
        raise UsageError(f"{option} is empty; name a file")
    path = Path(path)
    check_path_length(path, option)
    if path.is_dir():
        raise OutputExistsError(f"{option} {path} is a folder; name a file")
    if any(_resolved(Path(i)) == _resolved(path) for i in inputs if i is not None and str(i) != ""):
        raise OutputExistsError(f"{option} {path} is an input of this command; writing it would replace it")
    if path.exists() or path.is_symlink():
        if not force:
            raise OutputExistsError(f"{path} exists; use --force to overwrite it")
        try:
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise OutputError(f"cannot read {path}: {exc.strerror}") from None
        if signature and signature not in head:
            raise OutputExistsError(f"{path} was not written by edgeq; --force overwrites only edgeq's own "
                                    f"report: choose another name for {option}")
    _check_writable_parent(path, option)


def _created_parents(out_dir: Path) -> list[Path]:
    """The missing ancestors of OUT, outermost first (to remove again if writing fails)."""
    missing = []
    for parent in Path(os.path.abspath(out_dir)).parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing[::-1]


def write_manifest(directory: Path) -> None:
    """MANIFEST: every file in `directory` with its sha256, so a later --force knows what edgeq wrote."""
    files = {f: file_sha256(directory / f) for f in output_files(directory) if f != MANIFEST}
    (directory / MANIFEST).write_text(json_text({"generator": GENERATOR, "edgeq_version": __version__,
                                                 "files": files}), encoding="utf-8")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # another user's process, or a pid we cannot probe
        return pid > 0
    return True


def stale_staging(out_dir: Path) -> list[Path]:
    """Staging folders an interrupted edgeq run (SIGKILL, power loss) left beside `out_dir`: named like ours,
    holding STAGING_MARKER written by edgeq on this host, whose process is gone. Anything else is left alone."""
    found = []
    try:
        candidates = sorted(out_dir.parent.glob(f".{glob.escape(out_dir.name)}.edgeq-*"))
    except OSError:
        return []
    for candidate in candidates:
        try:
            if candidate.is_symlink() or not candidate.is_dir():
                continue
            marker = json.loads((candidate / STAGING_MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if (isinstance(marker, dict) and marker.get("generator") == GENERATOR
                and marker.get("host") == socket.gethostname() and isinstance(marker.get("pid"), int)
                and not _process_alive(marker["pid"])):
            found.append(candidate)
    return found


def remove_stale_staging(out_dir: Path, warn: Callable[[str], None] | None = None) -> list[Path]:
    """Remove stale_staging(out_dir) and say so through `warn`."""
    removed = []
    for folder in stale_staging(out_dir):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    if removed and warn is not None:
        warn(f"removed {len(removed)} staging folder{'s' if len(removed) > 1 else ''} an interrupted edgeq run left "
             f"beside {out_dir}: {listing(p.name for p in removed)}")
    return removed


class _Terminated(SystemExit):
    """SIGTERM while OUT is staged: unwinds through staged_output's cleanup, then exits 128 + 15."""


@contextlib.contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception for the duration (main thread only: signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def staged_output(out_dir: Path | str, force: bool, inputs: Iterable[Path | str | None] = (),
                  warn: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Yield an empty staging directory next to `out_dir`; move it into place when the block succeeds.

    OUT is checked again (the block may run for minutes); on any failure (SIGTERM included) the staging
    directory, any backup of the old OUT and any parent folder created for it are removed, and the old OUT is
    left as it was. Staging folders a killed earlier run left are removed first (`warn` says which).
    """
    out_dir = Path(out_dir)
    inputs = list(inputs)
    check_output_dir(out_dir, force, inputs)
    created = _created_parents(out_dir)
    staging: Path | None = None
    remove_stale_staging(out_dir, warn)
    try:
        with _cleanup_on_sigterm():
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.edgeq-", dir=out_dir.parent))
            staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; OUT should look like any new directory
            # who made it: a later run removes it if this process dies without cleaning up (SIGKILL)
            (staging / STAGING_MARKER).write_text(json.dumps({"generator": GENERATOR, "pid": os.getpid(),
                                                              "host": socket.gethostname()}), encoding="utf-8")
            yield staging
            (staging / STAGING_MARKER).unlink(missing_ok=True)
            write_manifest(staging)
            check_output_dir(out_dir, force, inputs)
            _replace(staging, out_dir)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for parent in reversed(created):
            with contextlib.suppress(OSError):
                parent.rmdir()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc} ({exc.filename or out_dir})") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(staging: Path, out_dir: Path) -> None:
    """Move `staging` to `out_dir`; an existing OUT is moved aside first and put back if the move fails."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    backup = trash / "old"
    try:
        out_dir.rename(backup)
    except BaseException:
        trash.rmdir()
        raise
    try:
        staging.rename(out_dir)
    except BaseException:
        backup.rename(out_dir)
        trash.rmdir()
        raise
    _remove_backup(trash, out_dir)


def _remove_backup(trash: Path, out_dir: Path) -> None:
    """Delete the previous OUT; one retry (a file briefly held open elsewhere), then a one-line error naming it."""
    error: OSError | None = None
    for _ in range(2):
        try:
            shutil.rmtree(trash)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            error = exc
    raise OutputError(f"{out_dir} is written, but its previous content, moved to {trash}, could not be removed "
                      f"({error.strerror if error else 'unknown error'}); delete that folder")


def update_output_file(out_dir: Path | str, relative: str, text: str) -> None:
    """Rewrite one file of an edgeq output (verify's report.json) and keep MANIFEST's hash of it true."""
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / relative, text)
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        return
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if isinstance(data, dict) and isinstance(data.get("files"), dict):
        data["files"][relative] = file_sha256(out_dir / relative)
        write_text_atomic(manifest, json_text(data))


def json_text(data: Any) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file in one step (temp file + rename), so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.edgeq-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
