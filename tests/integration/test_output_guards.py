"""OUT's guards that only show in a run: a folder another process creates while edgeq works, OUT given as a
symbolic link, and the manifest after `edgeq verify` rewrote report.json (a later --force must still recognise
edgeq's own output)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeq import staging as output
from edgeq.errors import OutputError, OutputExistsError


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeq.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


@pytest.mark.parametrize("force", [False, True])
def test_out_created_by_someone_else_mid_run_is_left_alone(tmp_path, force) -> None:
    """While the block runs (TensorFlow converting, for minutes), another process makes OUT with its own file:
    the re-check before the move refuses, OUT keeps that file, and no staging folder stays behind."""
    out = tmp_path / "out"
    with pytest.raises(OutputExistsError) as caught, output.staged_output(out, force=force) as staging:
        (staging / "model.tflite").write_bytes(b"edgeq's")
        out.mkdir()
        (out / "theirs.txt").write_text("made while edgeq ran")
    message = str(caught.value)
    assert ("is not an edgeq output" if force else "exists and is not empty") in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert (out / "theirs.txt").read_text() == "made while edgeq ran"


def test_out_replaced_by_a_foreign_folder_mid_run_under_force(tmp_path) -> None:
    """An earlier edgeq output that someone replaces by a folder of their own during the run is not moved
    aside: --force applies to what OUT is at the end, not to what it was at the start."""
    out = tmp_path / "out"
    with output.staged_output(out, force=False) as staging:
        (staging / "report.json").write_text("{}\n")
    with pytest.raises(OutputExistsError, match="is not an edgeq output"), \
            output.staged_output(out, force=True) as staging:
        (staging / "report.json").write_text('{"new": 1}\n')
        for path in out.iterdir():
            path.unlink()
        (out / "data.csv").write_text("1,2\n")
    assert sorted(p.name for p in out.iterdir()) == ["data.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_out_a_symbolic_link_is_refused_with_force_too(tmp_path) -> None:
    from models import Op, T, build_tflite

    model = tmp_path / "relu.tflite"  # an int8 RELU: `edgeq emit` would write a project for it
    tensors = [T((1, 8), scale=[0.1], zero_point=[0]), T((1, 8), scale=[0.1], zero_point=[0])]
    model.write_bytes(build_tflite(tensors, [Op("RELU", [0], [1])], [0], [1]))
    real = tmp_path / "real"
    real.mkdir()
    (real / "keep.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere", target_is_directory=True)
    for out in (link, dangling):
        for force in ((), ("--force",)):
            done = _cli("emit", str(model), "-o", str(out), *force)
            assert done.returncode == 1, done.stderr
            assert _errors(done.stderr) == [f"error: {out} is a symbolic link; give the folder it points to, or "
                                            "a new folder"]
    assert [p.name for p in real.iterdir()] == ["keep.txt"] and (real / "keep.txt").read_text() == "mine"
    assert link.is_symlink() and dangling.is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.qemu
@pytest.mark.slow
def test_convert_verify_then_convert_force_replaces_edgeqs_own_output(tmp_path, digits_keras_path) -> None:
    out = tmp_path / "out"
    convert = ("convert", str(digits_keras_path), "--synthetic-calib", "--runtime", "c", "--name", "digits",
               "-o", str(out))
    first = _cli(*convert)
    assert first.returncode == 0, first.stderr
    before = (out / "report.json").read_bytes()
    done = _cli("verify", str(out), "--samples", "1")
    assert done.returncode == 0, done.stderr
    after = (out / "report.json").read_bytes()
    assert after != before and json.loads(after)["emulation"]["passed"]
    manifest = json.loads((out / output.MANIFEST).read_text())
    assert manifest["files"]["report.json"] == output.file_sha256(out / "report.json")
    again = _cli(*convert, "--force")
    assert again.returncode == 0, again.stderr
    assert "emulation" not in json.loads((out / "report.json").read_text())  # really replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # A report.json edited by hand after verify is still protected.
    (out / "report.json").write_text((out / "report.json").read_text() + " ")
    refused = _cli(*convert, "--force")
    assert refused.returncode == 1 and "report.json changed since edgeq wrote it" in refused.stderr


def test_update_output_file_keeps_the_manifest_true(tmp_path) -> None:
    """What verify does to report.json: the file is replaced and only its hash in MANIFEST changes, so the
    output stays replaceable with --force; without a manifest only the file is written."""
    out = tmp_path / "out"
    with output.staged_output(out, force=False) as staging:
        (staging / "report.json").write_text('{"edgeq_version": "0"}\n')
        (staging / "model.tflite").write_bytes(b"model")
    before = json.loads((out / output.MANIFEST).read_text())
    output.update_output_file(out, "report.json", '{"edgeq_version": "0", "emulation": {}}\n')
    assert (out / "report.json").read_text() == '{"edgeq_version": "0", "emulation": {}}\n'
    after = json.loads((out / output.MANIFEST).read_text())
    assert after["files"] == {**before["files"], "report.json": output.file_sha256(out / "report.json")}
    assert after["files"]["report.json"] != before["files"]["report.json"]
    output.check_output_dir(out, force=True)  # still edgeq's own output
    assert sorted(p.name for p in out.iterdir()) == sorted([output.MANIFEST, "model.tflite", "report.json"])

    bare = tmp_path / "bare"
    bare.mkdir()
    output.update_output_file(bare, "sub/report.json", "{}\n")  # parent folders are made
    assert (bare / "sub" / "report.json").read_text() == "{}\n" and not (bare / output.MANIFEST).exists()
    (bare / output.MANIFEST).write_text("not json")
    output.update_output_file(bare, "sub/report.json", "[]\n")
    assert (bare / output.MANIFEST).read_text() == "not json"  # a manifest edgeq cannot read is left alone


def test_write_text_atomic_and_json_text(tmp_path) -> None:
    path = tmp_path / "a" / "b" / "c.json"
    output.write_text_atomic(path, output.json_text({"b": 1, "a": "é", "c": {"z": 0, "y": [1, 2]}}))
    assert path.read_text(encoding="utf-8") == ('{\n  "a": "é",\n  "b": 1,\n  "c": {\n    "y": [\n      1,\n'
                                                '      2\n    ],\n    "z": 0\n  }\n}\n')
    output.write_text_atomic(path, "again\n")  # the folder exists now; the file is replaced
    assert path.read_text() == "again\n" and sorted(p.name for p in path.parent.iterdir()) == ["c.json"]
    with pytest.raises(OutputError, match=r"cannot write .*: Is a directory"):
        output.write_text_atomic(tmp_path / "a", "x")
    assert not list(tmp_path.glob("**/.*edgeq-tmp"))


def test_out_gets_the_mode_a_new_folder_would_get(tmp_path) -> None:
    previous = os.umask(0o022)
    try:
        with output.staged_output(tmp_path / "out", force=False) as staging:
            (staging / "x.txt").write_text("x")
    finally:
        os.umask(previous)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_inputs_inside_out_are_named_and_empty_inputs_ignored(tmp_path) -> None:
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "calib.npz").write_bytes(b"x")
    (out / "model.keras").write_bytes(b"m")
    elsewhere = tmp_path / "model.keras"
    with pytest.raises(OutputExistsError) as one:
        output.check_output_dir(out, force=True, inputs=[None, "", elsewhere, out / "data" / "calib.npz"])
    assert f"holds {out / 'data' / 'calib.npz'}, an input of this command" in str(one.value)
    with pytest.raises(OutputExistsError) as two:
        output.check_output_dir(out, force=True, inputs=[out / "model.keras", out / "data" / "calib.npz"])
    assert ", inputs of this command that writing there would replace" in str(two.value)
    fresh = tmp_path / "fresh"
    output.check_output_dir(fresh, force=False, inputs=[None, "", elsewhere])  # nothing to refuse
    report = tmp_path / "report.html"
    output.check_output_file(report, False, [None, "", elsewhere], output.HTML_SIGNATURE, "--report")


def test_a_legacy_report_without_a_project_is_recognised(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"x")
    (out / "report.json").write_text('{"edgeq_version": "0.1.0", "model": {}}')
    output.check_output_dir(out, force=True)  # report.json and model.tflite are edgeq's names
    (out / "main.cc").write_text("x")
    with pytest.raises(OutputExistsError, match=r"did not write \(main.cc\)"):
        output.check_output_dir(out, force=True)


def test_what_the_folder_would_be_made_in_is_checked(tmp_path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere", target_is_directory=True)
    for parent in (a_file, dangling):
        with pytest.raises(OutputError) as info:
            output.check_output_dir(parent / "sub" / "out", force=False)
        assert str(info.value) == (f"cannot write the output folder {parent / 'sub' / 'out'}: {parent} is a file, "
                                   "not a folder")
    with pytest.raises(OutputError, match=r"cannot write the output folder /proc/edgeq-out: /proc is not writable"):
        output.check_output_dir(Path("/proc/edgeq-out"), force=False)
    with pytest.raises(OutputError, match=r"cannot read .*gone: No such file or directory"):
        output.check_output_file(dangling, True, [], output.HTML_SIGNATURE, "--report")


def test_two_changed_files_are_them(tmp_path) -> None:
    out = tmp_path / "out"
    with output.staged_output(out, force=False) as staging:
        (staging / "a.txt").write_text("a")
        (staging / "b.txt").write_text("b")
    (out / "a.txt").write_text("edited")
    with pytest.raises(OutputExistsError, match=r"a.txt changed since edgeq wrote it;"):
        output.check_output_dir(out, force=True)
    (out / "b.txt").write_text("edited")
    with pytest.raises(OutputExistsError, match=r"a.txt, b.txt changed since edgeq wrote them;"):
        output.check_output_dir(out, force=True)


def test_the_backup_is_removed_in_two_attempts_at_most(tmp_path, monkeypatch) -> None:
    """One retry (a file briefly held open elsewhere), then the one-line error: exactly two attempts."""
    out = tmp_path / "out"
    with output.staged_output(out, force=False) as staging:
        (staging / "old.txt").write_text("old")
    attempts = []
    real = output.shutil.rmtree

    def refuse(path, *args, **kwargs):
        if ".old-" not in str(path):
            return real(path, *args, **kwargs)
        attempts.append(path)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(output.shutil, "rmtree", refuse)
    with pytest.raises(OutputError, match="could not be removed"), output.staged_output(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert (out / "new.txt").read_text() == "new"


def test_a_write_error_names_the_file(tmp_path) -> None:
    with pytest.raises(OutputError) as info, output.staged_output(tmp_path / "out", force=False) as staging:
        (staging / "missing" / "x.txt").write_text("x")
    assert str(info.value).endswith("missing/x.txt)") and "No such file or directory" in str(info.value)


@pytest.mark.parametrize("manifest", ['["a list"]', '{"generator": "edgeq"}', '{"files": "not a mapping"}'])
def test_update_output_file_leaves_a_manifest_it_cannot_use(tmp_path, manifest) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / output.MANIFEST).write_text(manifest)
    output.update_output_file(out, "report.json", "{}\n")
    assert (out / "report.json").read_text() == "{}\n" and (out / output.MANIFEST).read_text() == manifest


@pytest.mark.parametrize("report", ['{"model": {}}', '{"edgeq_version": "0.1.0"}',
                                    '{"edgeq_version": "0.1.0", "model": "x"}', '["edgeq_version", "model"]',
                                    '{"edgeq_version": "0.1.0", "model": {}, "project": "not a mapping"}'])
def test_a_report_that_is_not_edgeqs_is_not_a_legacy_output(tmp_path, report) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text(report)
    (out / "model.tflite").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="is not an edgeq output"):
        output.check_output_dir(out, force=True)
