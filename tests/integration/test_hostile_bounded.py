"""Hostile inputs whose work must be bounded by the input, not by what the file claims (issue 20).

Each case builds its file here, runs the command in a fresh process, and asserts the exact one-line message and
exit code; the bounded-work cases also assert peak memory (or time) as a ratio to a normal run measured in the
same way in the same session. Peak RSS is the child's `ru_maxrss`, read by a fresh wrapper process per
measurement (RUSAGE_CHILDREN of a process that ran only that command)."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL, CALIB, VAL = EXAMPLES / "digits.keras", EXAMPLES / "digits_calib.npz", EXAMPLES / "digits_val.npz"
GIB = 1 << 30
_MEASURE = textwrap.dedent("""
    import json, resource, subprocess, sys, time
    start = time.monotonic()
    run = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=240)
    print(json.dumps({"code": run.returncode, "err": run.stderr, "out": run.stdout,
                      "seconds": time.monotonic() - start,
                      "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
""")


@dataclass
class Run:
    code: int
    err: str
    out: str
    seconds: float
    rss_kb: int

    @property
    def error(self) -> str:
        """The one error line (and check there is exactly one, and no traceback)."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        assert "Traceback" not in self.err and "internal error" not in self.err, self.err[-2000:]
        assert len(errors) == 1 and lines[-1] == errors[0], self.err[-2000:]
        return errors[0].removeprefix("error: ")


def edgeq(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `edgeq ARGS` in a fresh process and measure it (peak RSS of that process alone, wall time)."""
    command = [sys.executable, "-c", _MEASURE, sys.executable, "-m", "edgeq.cli", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})},
                          timeout=300, check=True)
    return Run(**json.loads(done.stdout))


@pytest.fixture(scope="module")
def normal(tmp_path_factory) -> dict[str, object]:
    """Normal runs to compare with: the example's convert (TensorFlow loaded) and inspect of its model (not)."""
    root = tmp_path_factory.mktemp("normal")
    convert = edgeq("convert", MODEL, "--calib", CALIB, "-o", root / "out")
    assert convert.code == 0, convert.err[-2000:]
    tflite = root / "out" / "model.tflite"
    inspect = edgeq("inspect", tflite)
    assert inspect.code == 0, inspect.err[-2000:]
    return {"convert": convert, "inspect": inspect, "tflite": tflite, "root": root}


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ model files

def _fifo(root: Path) -> Path:
    path = root / "pipe.tflite"
    os.mkfifo(path)
    return path


DEVICE_TFLITE = "{p}: a device, not a TFLite model file; give the path of a saved TFLite model"
FIFO_TFLITE = DEVICE_TFLITE.replace("a device", "a FIFO (named pipe)")


@pytest.mark.parametrize(("args", "message"), [
    (("inspect", "/dev/zero"), DEVICE_TFLITE.format(p="/dev/zero")),
    (("check", "/dev/urandom"), DEVICE_TFLITE.format(p="/dev/urandom")),
    (("inspect", "FIFO"), FIFO_TFLITE),
    (("check", "FIFO", "--target", "cortex-m4"), FIFO_TFLITE),
    (("emit", "FIFO", "-o", "OUT"), FIFO_TFLITE),
    (("validate", "FIFO", "--val", str(VAL)), FIFO_TFLITE),
    (("validate", "TFLITE", "--val", str(VAL), "--reference", "/dev/zero"),
     "/dev/zero: a device, not a model file; give the path of a saved model"),
    (("convert", "/dev/zero", "--calib", str(CALIB), "-o", "OUT"),
     "/dev/zero: a device, not a model file; give the path of a saved model"),
    (("convert", "FIFO.keras", "--calib", str(CALIB), "-o", "OUT"),
     "{k}: a FIFO (named pipe), not a model file; give the path of a saved model"),
], ids=lambda v: " ".join(v[:2]) if isinstance(v, tuple) else None)
def test_non_regular_model_files_are_refused_without_reading(normal, tmp_path, args, message):
    fifo = _fifo(tmp_path)
    os.mkfifo(tmp_path / "pipe.keras")
    names = {"FIFO": str(fifo), "FIFO.keras": str(tmp_path / "pipe.keras"), "OUT": str(tmp_path / "out"),
             "TFLITE": str(normal["tflite"])}
    run = edgeq(*[names.get(a, a) for a in args])
    assert run.code == 1
    assert run.error == message.format(p=names["FIFO"], k=names["FIFO.keras"])
    assert not (tmp_path / "out").exists()
    assert run.seconds < 60  # a FIFO opened for reading would block until the 240 s time-out


def test_a_model_file_over_the_limit_is_refused_by_every_command(normal, tmp_path):
    sparse_tflite, sparse_keras = tmp_path / "huge.tflite", tmp_path / "huge.keras"
    for path in (sparse_tflite, sparse_keras):
        with path.open("wb") as fh:
            fh.truncate(3 * GIB)  # sparse: costs no disk
    out = tmp_path / "verify-out"
    emitted = edgeq("emit", normal["tflite"], "--runtime", "c", "-o", out)
    assert emitted.code == 0, emitted.err[-2000:]
    (out / "model.tflite").unlink()
    with (out / "model.tflite").open("wb") as fh:
        fh.truncate(3 * GIB)
    over = "3,221,225,472 bytes (3.0 GiB) is over edgeq's limit of 2.0 GiB for a {what} (the most a TFLite " \
           "flatbuffer can hold)"
    cases = [(("inspect", sparse_tflite), sparse_tflite, "TFLite model"),
             (("check", sparse_tflite), sparse_tflite, "TFLite model"),
             (("emit", sparse_tflite, "-o", tmp_path / "o1"), sparse_tflite, "TFLite model"),
             (("validate", sparse_tflite, "--val", VAL), sparse_tflite, "TFLite model"),
             (("verify", out), out / "model.tflite", "TFLite model"),
             (("validate", normal["tflite"], "--val", VAL, "--reference", sparse_keras), sparse_keras, "model"),
             (("convert", sparse_keras, "--calib", CALIB, "-o", tmp_path / "o2"), sparse_keras, "model")]
    for args, path, what in cases:
        run = edgeq(*args)
        assert run.code == 1, run.err
        assert run.error == f"{path}: {over.format(what=what)}", args
        assert run.rss_kb <= 2 * normal["convert"].rss_kb, args
    inspect = edgeq("inspect", sparse_tflite)
    assert inspect.rss_kb <= 2 * normal["inspect"].rss_kb  # 3 GiB never read
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_the_identifier_is_checked_before_the_rest_is_read(normal, tmp_path):
    path = tmp_path / "zeros.tflite"
    with path.open("wb") as fh:
        fh.truncate(GIB)  # under the limit, but not a flatbuffer: the first 8 bytes tell
    run = edgeq("inspect", path)
    assert run.code == 1
    assert run.error == f"{path}: not a TFLite flatbuffer (file identifier is not 'TFL3')"
    assert run.rss_kb <= 2 * normal["inspect"].rss_kb, (run.rss_kb, normal["inspect"].rss_kb)


# ------------------------------------------------------------------------------------------------ .keras zips

def _keras_zip(path: Path, config: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
        with archive.open("config.json", "w", force_zip64=True) as member:
            for start in range(0, len(config), 1 << 24):
                member.write(config[start:start + (1 << 24)])
    return path


def test_a_config_json_bomb_is_refused_in_one_line_and_bounded(normal, tmp_path):
    bomb = _keras_zip(tmp_path / "bomb.keras", b" " * (256 << 20))  # 256 MiB of spaces, ~250 KB packed
    assert bomb.stat().st_size < 2 << 20
    run = edgeq("convert", bomb, "--calib", CALIB, "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == (f"{bomb}: config.json in the .keras archive unpacks to more than 67,108,864 bytes, "
                         "edgeq's limit for a model config; is it a zip bomb?")
    # refused before TensorFlow loads: bounded like a TensorFlow-free normal run, far below the example's convert
    assert run.rss_kb <= 2 * normal["inspect"].rss_kb, (run.rss_kb, normal["inspect"].rss_kb)
    assert run.rss_kb <= 2 * normal["convert"].rss_kb
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("depth", "message"), [
    (100_000, "{p}: config.json nests deeper than 200 levels, edgeq's limit for a model config; is the file "
              "damaged or forged?"),
    (500, "{p}: the model config nests deeper than 200 levels, edgeq's limit for a model config; is the file "
          "damaged or forged?"),
])
def test_deeply_nested_config_json_is_refused_without_recursion_error(tmp_path, depth, message):
    config = b'{"class_name": "Functional", "config": {"layers": ' + b"[" * depth + b"]" * depth + b"}}"
    model = _keras_zip(tmp_path / "deep.keras", config)
    run = edgeq("convert", model, "--calib", CALIB, "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == message.format(p=model)
    assert "RecursionError" not in run.err


# ------------------------------------------------------------------------------------------------ sample files

def _patched_npz(path: Path, shape: tuple[int, ...], claimed_size: int) -> Path:
    """An .npz whose x.npy header claims `shape` and whose zip directory claims `claimed_size` unpacked bytes
    (both forged: the member really holds 4 KiB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy_header(shape) + bytes(4096))
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, claimed_size)
    struct.pack_into("<I", data, central + 24, claimed_size)
    path.write_bytes(bytes(data))
    return path


def test_forged_sample_headers_are_refused_before_tensorflow_loads(normal, tmp_path):
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(forged, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy_header((10**9, 8, 8, 1)) + bytes(4096))
    claim = "array 'x' claims shape (1000000000, 8, 8, 1) float32 (256,000,000,000 bytes)"
    run = edgeq("convert", MODEL, "--calib", forged, "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == (f"calibration data {forged}: {claim} but the file holds only 4,096 bytes of it; the file "
                         "is truncated or its header is forged")
    assert run.rss_kb <= 2 * normal["inspect"].rss_kb  # no TensorFlow, no array
    run = edgeq("validate", normal["tflite"], "--val", forged)
    assert run.code == 1
    assert run.error == (f"validation data {forged}: {claim} but the file holds only 4,096 bytes of it; the file "
                         "is truncated or its header is forged")

    npy = tmp_path / "forged.npy"
    npy.write_bytes(npy_header((10**9, 8, 8, 1)) + bytes(4096))
    run = edgeq("convert", MODEL, "--calib", npy, "-o", tmp_path / "out")
    assert run.error == (f"calibration data {npy}: {claim} but the file holds only 4,096 bytes of it; the file "
                         "is truncated or its header is forged")
    assert not (tmp_path / "out").exists()


def test_sample_files_that_are_not_regular_files_are_refused_without_reading(normal, tmp_path):
    fifo = tmp_path / "calib.npy"
    os.mkfifo(fifo)
    run = edgeq("convert", MODEL, "--calib", fifo, "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == (f"calibration data {fifo}: a FIFO (named pipe), not a data file; give a .npy/.npz file or a "
                         "folder of images")
    run = edgeq("validate", normal["tflite"], "--val", "/dev/zero")
    assert run.code == 1
    assert run.error == ("validation data /dev/zero: a device, not a data file; give a .npy/.npz file or a folder of "
                         "images")
    assert run.seconds < 60 and not (tmp_path / "out").exists()


def test_a_claim_over_the_sample_limit_is_refused(normal, tmp_path):
    # the file: 16,000,000 digits samples (4.1 GB unpacked, as the zip directory says)
    bomb = _patched_npz(tmp_path / "bomb.npz", (16_000_000, 8, 8, 1), 16_000_000 * 256 + 128)
    claim = "array 'x' claims shape (16000000, 8, 8, 1) float32 (4,096,000,000 bytes)"
    limit = "over edgeq's limit of 2,147,483,648 bytes per array (EDGEQ_MAX_SAMPLE_BYTES raises it); save fewer " \
            "samples"
    run = edgeq("convert", MODEL, "--calib", bomb, "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == f"calibration data {bomb}: {claim}, {limit}"
    assert run.rss_kb <= 2 * normal["inspect"].rss_kb
    run = edgeq("validate", normal["tflite"], "--val", bomb, "--reference", MODEL)
    assert run.error == f"validation data {bomb}: {claim}, {limit}"
    assert run.rss_kb <= 2 * normal["convert"].rss_kb
    run = edgeq("convert", MODEL, "--calib", CALIB, "-o", tmp_path / "out", env={"EDGEQ_MAX_SAMPLE_BYTES": "1000"})
    assert run.code == 1
    assert run.error == (f"calibration data {CALIB}: array 'x' claims shape (200, 8, 8, 1) float32 (51,200 bytes), "
                         "over edgeq's limit of 1,000 bytes per array (EDGEQ_MAX_SAMPLE_BYTES raises it); save "
                         "fewer samples")
    run = edgeq("convert", MODEL, "--calib", CALIB, "-o", tmp_path / "out", env={"EDGEQ_MAX_SAMPLE_BYTES": "lots"})
    assert run.code == 2
    assert run.error == "EDGEQ_MAX_SAMPLE_BYTES='lots': give a positive number of bytes"
    assert not (tmp_path / "out").exists()


def test_calib_samples_bound_what_is_read_from_a_large_npz_and_npy(normal, tmp_path):
    rows = 2 << 20  # 2,097,152 digits samples: 512 MiB unpacked, ~0.5 MB packed
    packed = tmp_path / "zeros.npz"
    block = np.random.default_rng(0).random((4096, 8, 8, 1), dtype=np.float32).tobytes()
    zeros = bytes(len(block))
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("x.npy", "w", force_zip64=True) as member:
        member.write(npy_header((rows, 8, 8, 1)))
        for i in range(rows // 4096):
            member.write(block if i % 256 == 0 else zeros)  # a few real samples among zeros
    flat = tmp_path / "zeros.npy"
    with flat.open("wb") as fh:
        fh.write(npy_header((6 << 20, 8, 8, 1)))  # 1.5 GiB, sparse
        fh.truncate(fh.tell() + (6 << 20) * 256)
    for data in (packed, flat):
        run = edgeq("convert", MODEL, "--calib", data, "--calib-samples", 64, "-o", tmp_path / f"out-{data.suffix[1:]}")
        assert run.code == 0, run.err[-2000:]
        report = json.loads((tmp_path / f"out-{data.suffix[1:]}" / "report.json").read_text())
        assert report["calibration"]["samples"] == 64
        # what is read is 64 samples and 16 MiB blocks, not the file: memory as in the example's convert
        assert run.rss_kb <= 1.3 * normal["convert"].rss_kb, (data.name, run.rss_kb, normal["convert"].rss_kb)


# ------------------------------------------------------------------------------------------------ fit gate

@pytest.fixture(scope="module")
def oversize(tmp_path_factory) -> tuple[Path, Path]:
    """A Dense 1000 -> 1000 model: 1,000,000 int8 kernel weights, more than cortex-m4's 882 KiB for a model."""
    import keras

    root = tmp_path_factory.mktemp("oversize")
    inputs = keras.Input((1000,), name="v")
    keras.Model(inputs, keras.layers.Dense(1000, name="big")(inputs)).save(root / "big.keras")
    np.save(root / "calib.npy", np.random.default_rng(0).random((16, 1000), dtype=np.float32))
    return root / "big.keras", root / "calib.npy"


def test_weights_that_cannot_fit_the_flash_are_refused_before_quantizing(oversize, tmp_path):
    model, calib = oversize
    run = edgeq("convert", model, "--calib", calib, "--target", "cortex-m4", "-o", tmp_path / "out")
    assert run.code == 1
    assert run.error == ("big.keras: 1,000,000 kernel weights are 977 KiB as int8 alone, more than the 882 KiB of "
                         "flash cortex-m4 leaves for a model; nothing written (--allow-oversize converts anyway, "
                         "e.g. for the report)")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.edgeq-*"))
    assert "Quantizing" not in run.err
    allowed = edgeq("convert", model, "--calib", calib, "--target", "cortex-m4", "-o", tmp_path / "out",
                    "--allow-oversize")
    assert allowed.code == 1
    assert allowed.error.startswith("the model does not fit cortex-m4: flash_fits: flash exceeded by ")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["target"]["flash"]["exceeded_by_bytes"] > 0 and not report["target"]["ok"]
    fits = edgeq("convert", model, "--calib", calib, "--target", "cortex-m55", "-o", tmp_path / "m55")
    assert fits.code == 0, fits.err[-2000:]  # 2 MiB of flash: the gate lets it through


# ------------------------------------------------------------------------------------------------ staging folders

_STAGE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edgeq.staging import staged_output
    with staged_output(Path(sys.argv[1]), force=True) as staging:
        (staging / "partial.txt").write_text("half")
        print(staging, flush=True)
        time.sleep(60)
""")


def _stage_and_signal(out: Path, signum: int) -> tuple[int, Path]:
    child = subprocess.Popen([sys.executable, "-c", _STAGE, str(out)], stdout=subprocess.PIPE, text=True)
    staging = Path(child.stdout.readline().strip())
    assert staging.is_dir() and staging.name.startswith(f".{out.name}.edgeq-")
    child.send_signal(signum)
    return child.wait(timeout=30), staging


def test_sigterm_removes_the_staging_folder_and_keeps_the_old_out(normal, tmp_path):
    out = tmp_path / "out"
    assert edgeq("emit", normal["tflite"], "-o", out).code == 0
    before = sorted(p.name for p in out.iterdir())
    code, staging = _stage_and_signal(out, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM
    assert not staging.exists() and sorted(p.name for p in out.iterdir()) == before


def test_a_later_run_removes_staging_folders_a_killed_run_left_and_says_so(normal, tmp_path):
    out = tmp_path / "out"
    code, first = _stage_and_signal(out, signal.SIGKILL)
    assert code == -signal.SIGKILL and first.is_dir() and (first / "partial.txt").is_file()
    code, second = _stage_and_signal(out, signal.SIGKILL)  # this run removed the first one before staging
    assert code == -signal.SIGKILL and second.is_dir() and not first.exists()
    foreign = tmp_path / ".out.edgeq-mine"  # named like ours but not edgeq's: left alone
    foreign.mkdir()
    (foreign / "notes.txt").write_text("user data")
    live = tmp_path / ".out.edgeq-live"  # edgeq's, but its process (this test) is alive: left alone
    live.mkdir()
    (live / ".edgeq-staging.json").write_text(json.dumps({"generator": "edgeq", "pid": os.getpid(),
                                                          "host": os.uname().nodename}))
    start = time.monotonic()
    run = edgeq("emit", normal["tflite"], "-o", out)
    assert run.code == 0, run.err[-2000:]
    assert (f"warning: removed 1 staging folder an interrupted edgeq run left beside {out}: {second.name}"
            in " ".join(run.err.split()))
    assert not second.exists()
    assert (foreign / "notes.txt").read_text() == "user data" and live.is_dir()
    assert (out / "model.tflite").is_file() and time.monotonic() - start < 120


def test_a_report_json_that_is_a_fifo_or_huge_is_refused_by_verify(normal, tmp_path):
    out = tmp_path / "out"
    emitted = edgeq("emit", normal["tflite"], "--runtime", "c", "-o", out)
    assert emitted.code == 0, emitted.err[-2000:]
    report = out / "report.json"
    report.unlink()
    os.mkfifo(report)
    fifo = edgeq("verify", out)
    assert fifo.code == 1 and fifo.error == f"{report} is not a regular file; pass --target", fifo.err
    assert fifo.seconds < 60  # reading the FIFO would block until the 240 s time-out
    report.unlink()
    with report.open("wb") as fh:
        fh.truncate(GIB)  # sparse
    huge = edgeq("verify", out)
    assert huge.code == 1, huge.err
    assert huge.error == f"{report} holds 1,073,741,824 bytes, over the 64 MiB an edgeq report can have; pass --target"
    assert huge.rss_kb <= 2 * normal["inspect"].rss_kb  # never read
