"""edgeq.staging: a failure injected in each phase of writing OUT leaves the old OUT as it was and no staging
or backup folder behind; --force replaces only edgeq's own output."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgeq import staging as output
from edgeq.errors import OutputError, OutputExistsError, UsageError


class Injected(Exception):
    pass


def earlier(parent: Path) -> Path:
    """An edgeq output written through staged_output."""
    out = parent / "out"
    with output.staged_output(out, force=False) as staging:
        (staging / "report.json").write_text('{"edgeq_version": "0"}\n')
        (staging / "src").mkdir()
        (staging / "src" / "model.c").write_text("int x;\n")
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_new(out: Path) -> None:
    with output.staged_output(out, force=True) as staging:
        (staging / "new.txt").write_text("new")


def fail_nth(monkeypatch, target: object, name: str, n: int) -> None:
    """Make the n-th call (1-based) of target.name raise Injected."""
    real = getattr(target, name)
    calls = {"count": 0}

    def wrapper(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == n:
            raise Injected(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


@pytest.mark.parametrize("phase", ["block", "manifest", "move-old-aside", "move-new-in", "interrupt"])
def test_a_failure_in_any_phase_keeps_the_old_output_and_leaves_nothing(tmp_path, monkeypatch, phase):
    out = earlier(tmp_path)
    before = snapshot(out)
    if phase == "manifest":
        fail_nth(monkeypatch, output, "write_manifest", 1)
    elif phase == "move-old-aside":
        fail_nth(monkeypatch, Path, "rename", 1)
    elif phase == "move-new-in":
        fail_nth(monkeypatch, Path, "rename", 2)
    expected = KeyboardInterrupt if phase == "interrupt" else Injected
    with pytest.raises(expected), output.staged_output(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
        if phase == "block":
            raise Injected("block")
        if phase == "interrupt":
            raise KeyboardInterrupt
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_first_attempt_to_remove_the_backup_is_retried(tmp_path, monkeypatch):
    out = earlier(tmp_path)
    real, failed = shutil.rmtree, []

    def once(path, *args, **kwargs):
        if ".old-" in str(path) and not failed:
            failed.append(path)
            raise OSError(16, "Device or resource busy", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(output.shutil, "rmtree", once)
    write_new(out)
    assert failed
    assert set(snapshot(out)) == {"new.txt", output.MANIFEST}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_backup_that_cannot_be_removed_is_named(tmp_path, monkeypatch):
    out = earlier(tmp_path)

    real = shutil.rmtree

    def refuse(path, *args, **kwargs):
        if ".old-" not in str(path):
            return real(path, *args, **kwargs)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(output.shutil, "rmtree", refuse)
    with pytest.raises(OutputError, match=r"previous content, moved to .*\.out\.old-.*could not be removed "
                                          r"\(Permission denied\); delete that folder"):
        write_new(out)
    assert set(snapshot(out)) == {"new.txt", output.MANIFEST}


def test_parent_folders_created_for_out_are_removed_on_failure(tmp_path):
    with pytest.raises(Injected), output.staged_output(tmp_path / "a" / "b" / "out", force=False):
        raise Injected
    assert list(tmp_path.iterdir()) == []


def test_a_write_error_is_one_line(tmp_path):
    with pytest.raises(OutputError, match=r"cannot write .*out: No such file or directory"), \
            output.staged_output(tmp_path / "out", force=False) as staging:
        (staging / "missing" / "x.txt").write_text("x")
    assert list(tmp_path.iterdir()) == []


def test_force_rules(tmp_path, monkeypatch):
    out = earlier(tmp_path)
    write_new(out)  # an unchanged earlier output is replaced
    (out / "new.txt").write_text("edited")
    with pytest.raises(OutputExistsError, match="new.txt changed since edgeq wrote it"):
        write_new(out)
    (out / "new.txt").write_text("new")
    os.symlink("/etc", out / "link")
    with pytest.raises(OutputExistsError, match=r"holds files edgeq did not write \(link\)"):
        write_new(out)
    (out / "link").unlink()
    (out / output.MANIFEST).unlink()
    with pytest.raises(OutputExistsError, match="is not an edgeq output"):
        write_new(out)
    monkeypatch.chdir(out)
    with pytest.raises(UsageError, match="current folder"):
        output.check_output_dir(Path("."), force=True)
    with pytest.raises(UsageError, match="current folder or holds it"):
        output.check_output_dir(tmp_path, force=True)


def test_a_convert_output_from_before_the_manifest_is_recognised(tmp_path):
    out = tmp_path / "out"
    (out / "tflm-cmake" / "src").mkdir(parents=True)
    (out / "model.tflite").write_bytes(b"x")
    (out / "tflm-cmake" / "src" / "main.cc").write_text("x")
    (out / "report.json").write_text('{"edgeq_version": "0.1.0", "model": {}, '
                                     '"project": {"dir": "tflm-cmake", "files": ["src/main.cc"]}}')
    output.check_output_dir(out, force=True)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"did not write \(notes.txt\)"):
        output.check_output_dir(out, force=True)


@pytest.mark.parametrize("manifest", ['["a list"]', '"text"', '{"generator": "edgeq", "files": ["x"]}',
                                      '{"generator": "someone else", "files": {}}'])
def test_a_manifest_that_is_not_edgeqs_means_not_an_edgeq_output(tmp_path, manifest):
    out = tmp_path / "out"
    out.mkdir()
    (out / output.MANIFEST).write_text(manifest)
    (out / "model.keras").write_bytes(b"the user's model")
    with pytest.raises(OutputExistsError, match="is not an edgeq output"):
        output.check_output_dir(out, force=True)
    assert (out / "model.keras").read_bytes() == b"the user's model"


def test_single_files_are_replaced_only_when_edgeq_wrote_them(tmp_path):
    mine = tmp_path / "mine.html"
    mine.write_text("<p>mine</p>")
    with pytest.raises(OutputExistsError, match="was not written by edgeq"):
        output.check_output_file(mine, True, [], output.HTML_SIGNATURE, "--report")
    ours = tmp_path / "ours.html"
    ours.write_text(f"<html>{output.HTML_SIGNATURE} 0.1.0\">")
    output.check_output_file(ours, True, [], output.HTML_SIGNATURE, "--report")
    with pytest.raises(OutputExistsError, match="use --force"):
        output.check_output_file(ours, False, [], output.HTML_SIGNATURE, "--report")
    with pytest.raises(OutputExistsError, match="is an input of this command"):
        output.check_output_file(ours, True, [ours], output.HTML_SIGNATURE, "--report")
