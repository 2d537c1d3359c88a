"""`edgeq emit`, `edgeq templates` and the emit options of `edgeq convert`, through the real entry point."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeq.emit.project import project_templates


def written(model_bytes: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "m.tflite"
    path.write_bytes(model_bytes)
    return path


def test_emit_writes_the_project(tmp_path, run_cli, tiny_int8) -> None:
    model = written(tiny_int8.data, tmp_path)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["emit", str(model), "--target", "cortex-m7", "--template", "zephyr",
                                  "--name", "Key Word Spotter", "-o", str(out)])
    assert code == 0
    assert "zephyr project" in stdout and "key_word_spotter" in stdout
    assert (out / "prj.conf").exists() and (out / "src" / "model_ops.h").exists()
    assert "key_word_spotter_model_data[]" in (out / "src" / "model_data.cc").read_text()


@pytest.mark.parametrize("args, code, message", [
    (["--template", "nope"], 2, "unknown template 'nope'"),
    (["--target", "android-arm64", "--template", "arduino"], 2, "use --template android"),
    (["--runtime", "c", "--template", "zephyr"], 2, "--template applies to --runtime tflm"),
    (["--target", "no-such-board"], 1, "unknown target"),
])
def test_emit_errors_are_one_line(tmp_path, run_cli, tiny_int8, args, code, message) -> None:
    model = written(tiny_int8.data, tmp_path)
    exit_code, _, stderr = run_cli(["emit", str(model), "-o", str(tmp_path / "out"), *args])
    assert exit_code == code
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0] and stderr.endswith(errors[0] + "\n")
    assert "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def test_runtime_c_refuses_an_int16x8_model_up_front(tmp_path, run_cli, digits_int16x8, monkeypatch) -> None:
    """One short line pointing to --runtime tflm, before the engine or the golden vectors run."""
    import edgeq.emit as emit

    def must_not_run(*args, **kwargs):
        raise AssertionError("the project was generated before the int16 model was refused")

    monkeypatch.setattr(emit, "write_project", must_not_run)
    model = written(digits_int16x8.data, tmp_path)
    code, _, stderr = run_cli(["emit", str(model), "--runtime", "c", "-o", str(tmp_path / "out")])
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and "--runtime tflm" in errors[0] and len(errors[0]) < 200, stderr
    assert not (tmp_path / "out").exists()


def test_emit_never_overwrites_without_force(tmp_path, run_cli, tiny_int8) -> None:
    model = written(tiny_int8.data, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.c").write_text("int mine;\n")
    code, _, stderr = run_cli(["emit", str(model), "-o", str(out)])
    assert code == 1 and "--force" in stderr
    assert (out / "mine.c").read_text() == "int mine;\n"


def test_emit_refuses_a_non_tflite_file(tmp_path, run_cli) -> None:
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"not a model at all, just text")
    code, _, stderr = run_cli(["emit", str(bogus), "-o", str(tmp_path / "out")])
    assert code == 1 and "TFLite" in stderr


def test_templates_lists_every_template(run_cli) -> None:
    code, stdout, _ = run_cli(["templates", "--json"])
    assert code == 0
    rows = {row["name"]: row for row in json.loads(stdout)}
    assert set(rows) == set(project_templates()) and {"tflm-cmake", "android"} <= set(rows)
    assert "cortex-m4" in rows["tflm-cmake"]["default_for"]
    assert "android-arm64" in rows["android"]["default_for"]
    assert rows["arduino"]["default_for"] == ["arduino-nano-33-ble-sense"]
    assert rows["esp-idf"]["default_for"] == ["esp32-s3"]


def test_runtime_c_writes_the_compiled_c_project_that_passes(tmp_path, run_cli, tiny_int8, tools) -> None:
    model = written(tiny_int8.data, tmp_path)
    out = tmp_path / "out"
    code, _, stderr = run_cli(["emit", str(model), "--runtime", "c", "--name", "tiny", "-o", str(out)])
    assert code == 0, stderr
    assert (out / "tiny_model.h").exists() and (out / "main.c").exists()
    build = subprocess.run(["make", "-C", str(out)], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    executable = next(p for p in out.iterdir() if p.is_file() and p.stat().st_mode & 0o111 and p.suffix == "")
    run = subprocess.run([str(executable)], capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr


def test_convert_with_template_and_name(tmp_path, run_cli, digits_keras_path, repo_root) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_cli(["-q", "convert", str(digits_keras_path), "--calib",
                                  str(repo_root / "examples" / "digits_calib.npz"), "--template", "arduino",
                                  "--name", "digits", "-o", str(out), "--json"])
    assert code == 0, stderr
    assert (out / "arduino" / "digits" / "digits.ino").exists()
    assert (out / "arduino" / "digits" / "model_data.cpp").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["project"]["template"] == "arduino" and report["project"]["name"] == "digits"


def test_convert_rejects_a_bad_template_before_converting(tmp_path, run_cli, digits_keras_path) -> None:
    code, _, stderr = run_cli(["convert", str(digits_keras_path), "--synthetic-calib",
                                  "--template", "android", "-t", "cortex-m4", "--runtime", "c",
                                  "-o", str(tmp_path / "out")])
    assert code == 2 and "--template applies to --runtime tflm" in stderr
    assert not (tmp_path / "out").exists()


def test_piped_output_keeps_whole_names(tmp_path, run_cli) -> None:
    """Output to a pipe or a CI log is not cut at 80 columns: names a user copies stay whole."""
    from emit_models import build_tiny_model

    name = "a_very_long_tensor_name_that_a_user_must_be_able_to_copy_from_the_ci_log_" + "x" * 40
    model = written(build_tiny_model(tensor_name=name), tmp_path)
    code, stdout, err = run_cli(["inspect", str(model)])
    assert code == 0, err
    assert name in stdout and "…" not in stdout
    code, stdout, _ = run_cli(["templates"])
    assert "arduino-nano-33-ble-sense" in stdout and "stm32l4r5-nucleo" in stdout
