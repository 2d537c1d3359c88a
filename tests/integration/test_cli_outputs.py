"""Safe outputs and a CLI that fits CI logs (issue 11): --force replaces only edgeq's own output, bad -o values
and impossible option combinations are refused before TensorFlow runs, piped output keeps whole names."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = str(EXAMPLES / "digits.keras")
CALIB = str(EXAMPLES / "digits_calib.npz")
VAL = str(EXAMPLES / "digits_val.npz")


def one_line_error(code: int, err: str, expected_code: int, fragment: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert lines and lines[-1].startswith("error: ") and fragment in lines[-1], err
    assert "Traceback" not in err and sum(line.startswith("error: ") for line in lines) == 1, err
    return lines[-1]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def earlier_output(tmp_path_factory) -> Path:
    """One `edgeq convert` output, copied by the tests that change it."""
    from edgeq.pipeline import ConvertOptions, convert

    out = tmp_path_factory.mktemp("earlier") / "out"
    convert(MODEL, out, ConvertOptions(calib=Path(CALIB)))
    return out


@pytest.fixture
def no_conversion(monkeypatch):
    """Fail the test if the pipeline gets as far as loading the model (a refusal must come first)."""
    import edgeq.pipeline

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(edgeq.pipeline, "load_model", refuse)


# --- --force replaces only what edgeq wrote ------------------------------------------------------------------

def test_force_refuses_a_folder_holding_the_commands_inputs(tmp_path, run_cli, no_conversion):
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(MODEL, proj / "model.keras")
    shutil.copy(CALIB, proj / "calib.npz")
    (proj / "notes.txt").write_text("my notes")
    before = tree(proj)
    code, stdout, err = run_cli(["convert", str(proj / "model.keras"), "--calib", str(proj / "calib.npz"),
                                 "-o", str(proj), "--force"])
    line = one_line_error(code, err, 1, "inputs of this command")
    assert "model.keras" in line and "calib.npz" in line
    assert tree(proj) == before and sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_force_refuses_a_folder_with_files_edgeq_did_not_write(tmp_path, run_cli, no_conversion):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(out), "--force"])
    one_line_error(code, err, 1, "is not an edgeq output (it holds notes.txt)")
    assert (out / "notes.txt").read_text() == "my notes"


def test_force_refuses_an_earlier_output_with_an_added_or_edited_file(tmp_path, earlier_output, run_cli,
                                                                     no_conversion):
    added = tmp_path / "added"
    shutil.copytree(earlier_output, added)
    (added / "tflm-cmake" / "build.log").write_text("a build of mine")
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(added), "--force"])
    one_line_error(code, err, 1, "holds files edgeq did not write (tflm-cmake/build.log)")
    edited = tmp_path / "edited"
    shutil.copytree(earlier_output, edited)
    main_cc = edited / "tflm-cmake" / "src" / "main.cc"
    main_cc.write_text(main_cc.read_text() + "// my change\n")
    code, _, err = run_cli(["emit", str(earlier_output / "model.tflite"), "-o", str(edited), "--force"])
    one_line_error(code, err, 1, "tflm-cmake/src/main.cc changed since edgeq wrote it")
    assert main_cc.read_text().endswith("// my change\n")


def test_force_replaces_an_earlier_edgeq_output(tmp_path, earlier_output, run_cli):
    out = tmp_path / "out"
    shutil.copytree(earlier_output, out)
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(out), "--force", "--template", "zephyr"])
    assert code == 0, err
    assert (out / "zephyr" / "prj.conf").exists() and not (out / "tflm-cmake").exists()
    manifest = json.loads((out / ".edgeq-manifest.json").read_text())
    assert set(manifest["files"]) == set(tree(out)) - {".edgeq-manifest.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or backup folder left


def test_emit_refuses_to_replace_the_folder_its_model_is_in(tmp_path, earlier_output, run_cli):
    out = tmp_path / "out"
    shutil.copytree(earlier_output, out)
    code, _, err = run_cli(["emit", str(out / "model.tflite"), "-o", str(out), "--force"])
    one_line_error(code, err, 1, "model.tflite, an input of this command")
    assert tree(out) == tree(earlier_output)


def test_validate_force_overwrites_only_its_own_reports(tmp_path, earlier_output, run_cli):
    model = str(earlier_output / "model.tflite")
    notes = tmp_path / "notes.html"
    notes.write_text("<p>mine</p>")
    code, _, err = run_cli(["validate", model, "--val", VAL, "--report", str(notes), "--force"])
    one_line_error(code, err, 1, "was not written by edgeq")
    code, _, err = run_cli(["validate", model, "--val", VAL, "--junit", VAL, "--force"])
    one_line_error(code, err, 1, "is an input of this command")
    assert notes.read_text() == "<p>mine</p>"
    report = tmp_path / "report.html"
    args = ["validate", model, "-d", VAL, "--report", str(report), "--tflm-samples", "0", "--val-samples", "20"]
    code, _, err = run_cli(args)
    assert code == 0, err
    code, _, err = run_cli([*args, "-q"])
    one_line_error(code, err, 1, "exists; use --force")
    code, _, err = run_cli([*args, "--force", "-q"])  # the older spelling -d and the new --val-samples together
    assert code == 0 and err == "", err


def test_verify_rewrites_only_an_edgeq_report(tmp_path):
    from edgeq.emulate.verify import EmulationReport, store_emulation
    from edgeq.errors import VerifyError

    (tmp_path / "report.json").write_text('{"mine": true}\n')
    report = EmulationReport(target="cortex-m4", core="cortex-m4", machine="mps2-an386", qemu_version="7.2",
                             cpu_flags=[], samples=1, status="passed")
    with pytest.raises(VerifyError, match="not an edgeq report"):
        store_emulation(tmp_path, report)
    assert (tmp_path / "report.json").read_text() == '{"mine": true}\n'


# --- every bad -o is a one-line error before any work ----------------------------------------------------------

@pytest.mark.parametrize(("output", "code", "fragment"), [
    (".", 2, "is the current folder"),
    ("", 2, "is empty"),
    ("/proc/x", 1, "/proc is not writable"),
    ("afile/sub", 1, "afile is a file, not a folder"),
], ids=["dot", "empty", "proc", "under-a-file"])
def test_bad_output_paths(tmp_path, run_cli, monkeypatch, no_conversion, output, code, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file")
    (tmp_path / "mine.txt").write_text("mine")
    exit_code, stdout, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", output, "--force"])
    one_line_error(exit_code, err, code, fragment)
    assert stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mine.txt"]


# --- up-front refusals cost no conversion ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def float_tflite(tmp_path_factory) -> Path:
    """A float16 (float ops) .tflite, converted for Android."""
    from edgeq.pipeline import ConvertOptions, convert

    out = tmp_path_factory.mktemp("float") / "out"
    convert(MODEL, out, ConvertOptions(target="android-arm64", mode="float16"))
    return out / "model.tflite"


def test_refusals_come_before_the_conversion(tmp_path, run_cli, float_tflite, monkeypatch):
    from edgeq.recover.search import MIN_SAMPLES

    monkeypatch.delenv("EDGEQ_TFLM_TREE", raising=False)  # the emulation refusals must not depend on a tree
    few = tmp_path / "few.npz"
    with np.load(CALIB) as data:
        np.savez(few, x=data["x"][:15])
    start = time.perf_counter()
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(tmp_path / "ok"), "-q"])
    convert_seconds = time.perf_counter() - start
    assert code == 0, err
    cases = [
        (["convert", MODEL, "--calib", CALIB, "--target", "cortex-m0plus", "--runtime", "c", "--verify"], 1,
         "cortex-m0plus cannot be emulated"),
        (["convert", MODEL, "--calib", CALIB, "--mode", "int16x8", "--runtime", "c"], 2,
         "--mode int16x8 needs --runtime tflm"),
        (["convert", MODEL, "--calib", CALIB, "--template", "esp-idf"], 2,
         "esp-idf builds for xtensa chips, and cortex-m4's CPU is armv7e-m"),
        (["emit", str(float_tflite), "--target", "cortex-m4"], 2, "the model computes in floating point"),
        # issue 20: decided before TensorFlow loads, not after int16x8 or a quantization ran
        (["convert", MODEL, "--calib", CALIB, "--recover", "--mode", "int16x8"], 2,
         "--recover improves int8 conversions (int16x8 is its last resort): use it with --mode int8"),
        (["convert", MODEL, "--calib", str(few), "--recover"], 1,
         f"--recover needs at least {MIN_SAMPLES} calibration samples (a quarter is held out to choose the "
         f"technique); {few} holds 15"),
        (["convert", MODEL, "--calib", CALIB, "--calib-samples", "12", "--recover"], 1,
         "--calib-samples takes 12"),
        (["convert", MODEL, "--calib", CALIB, "--target", "android-arm64", "--verify"], 1,
         "target android-arm64 cannot be emulated: it is not a microcontroller"),
        (["convert", MODEL, "--calib", CALIB, "--target", "cortex-m0plus", "--verify"], 1,
         "target cortex-m0plus cannot be emulated (it has no QEMU machine)"),
    ]
    for args, expected, fragment in cases:
        out = tmp_path / "refused"
        start = time.perf_counter()
        code, _, err = run_cli([*args, "-o", str(out)])
        ratio = (time.perf_counter() - start) / convert_seconds
        line = one_line_error(code, err, expected, fragment)
        assert ratio < 0.25, f"{args}: the refusal took {ratio:.2f}x a conversion"
        assert len(line) < 400 and not out.exists()


def test_android_template_for_a_microcontroller_warns(tmp_path, earlier_output, run_cli):
    code, _, err = run_cli(["emit", str(earlier_output / "model.tflite"), "--template", "android", "-o",
                            str(tmp_path / "app")])
    assert code == 0, err
    assert "warning: template android runs the model with LiteRT in an Android app" in err


# --- output for CI logs -----------------------------------------------------------------------------------------

def test_quiet_and_debug_after_the_subcommand(tmp_path, earlier_output, run_cli):
    code, stdout, err = run_cli(["emit", str(earlier_output / "model.tflite"), "-o", str(tmp_path / "a"), "-q"])
    assert code == 0 and err == "" and "tflm-cmake project" in stdout
    code, _, err = run_cli(["check", str(earlier_output / "model.tflite"), "--debug", "--json"])  # default target
    assert code == 0 and json.loads(_)["target"]["name"] == "cortex-m4", err


def test_a_missed_gate_prints_the_summary_then_the_error(tmp_path, run_cli):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["convert", MODEL, "--calib", CALIB, "--val", VAL, "--min-accuracy", "0.999",
                                 "--val-samples", "200", "--no-layers", "--tflm-samples", "20", "-o", str(out)])
    one_line_error(code, err, 1, "top-1 accuracy 0.985 < 0.999 (--min-accuracy)")
    assert "edgeq convert → " in stdout and "validation" in stdout and "FAILED" in stdout
    assert "probs:" in stdout and "image:" in stdout  # inputs and outputs by their Keras names
    assert json.loads((out / "report.json").read_text())["validation"]["data"]["samples"] == 200


def test_validation_options_need_val(run_cli, tmp_path):
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "--no-layers", "-o", str(tmp_path / "o")])
    one_line_error(code, err, 2, "--no-layers: validation options apply only with --val")


def test_wrong_std_count_names_the_expected_count(tmp_path, run_cli):
    np.save(tmp_path / "rgb.npy", np.zeros((2, 8, 8, 1), np.float32))
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "--std", "1,2", "-o", str(tmp_path / "o")])
    one_line_error(code, err, 2, "--std has 2 values but the samples have 1 channel (last axis): give 1 value")
