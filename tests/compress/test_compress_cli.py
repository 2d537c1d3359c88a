"""`edgeq compress` and `edgeq.compress`: written bytes, the report, determinism, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from compress_models import CIN, SIDE, weight_model

import edgeq
from edgeq.compress.options import parse_compress
from edgeq.compress.rewrite import rewrite


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeq.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("compress")
    model = folder / "plain.tflite"
    model.write_bytes(weight_model())
    calib = folder / "calib.npy"
    np.save(calib, np.random.default_rng(2).uniform(-2.5, 2.5, (16, SIDE, SIDE, CIN)).astype(np.float32))
    return model, calib


def test_cli_writes_the_compressed_model_deterministically(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, calib = files
    outputs = []
    for run in ("a", "b"):  # two processes
        out, report = tmp_path / f"{run}.tflite", tmp_path / f"{run}.json"
        done = _cli("compress", str(model), "-o", str(out), "--calib", str(calib), "--compress", "cluster=4",
                    "--report", str(report))
        assert done.returncode == 0, done.stderr
        outputs.append((out.read_bytes(), json.loads(report.read_text())))
    (first, report), (second, _) = outputs
    assert first == second
    assert first == rewrite(model.read_bytes(), parse_compress("cluster=4")).model
    assert report["model_bytes"] == {"before": model.stat().st_size, "after": len(first),
                                     "ratio": round(len(first) / model.stat().st_size, 6)}
    assert report["agreement"]["samples"] == 16 and report["agreement"]["equivalent_max_lsb"] == 0
    assert report["runtime_format"].startswith("TFLM_DECODE")
    assert {t["tensor"] for t in report["tensors"]} == {"conv/filter", "fc/filter"}
    # TFLM decodes into the arena: the 32x1024 dense filter's decode buffer is live while its layer runs.
    fit = report["fit"]
    assert fit["before"]["arena_bytes"] < 32 * 1024 <= fit["after"]["arena_bytes"]
    assert fit["after"]["flash_bytes"] - fit["before"]["flash_bytes"] == len(first) - model.stat().st_size


def test_api_returns_typed_results(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, calib = files
    result = edgeq.compress_model(model, tmp_path / "int4.tflite", calib=calib, techniques="int4")
    assert isinstance(result, edgeq.CompressResult)
    assert (tmp_path / "int4.tflite").read_bytes() == result.model
    assert result.bytes_after < 0.6 * result.bytes_before
    assert result.agreement is not None and result.agreement.equivalent_max_lsb == 0
    assert result.agreement.max_lsb > 0  # int4 weights change the outputs a little ...
    assert result.agreement.top1_agreement is not None and result.agreement.top1_agreement >= 0.5  # ... not much


@pytest.mark.parametrize(("value", "message"), [
    ("cluster=7", "error: --compress cluster=7: BITS must be 2..6"),
    ("cluster=x", "error: --compress cluster=x: cluster takes an integer"),
    ("cluster", "error: --compress cluster needs the index width"),
    ("int4=3", "error: --compress int4 takes no value"),
    ("prune=0.3,cluster=4", "error: --compress prune=0.3: not implemented yet"),
    ("distill", "error: --compress distill=3: not implemented yet"),
    ("auto", "error: --compress auto: not implemented yet"),
    ("auto,int4", "error: --compress auto chooses the techniques itself"),
    ("lowrank=1.5", "error: --compress lowrank=1.5: the value must lie strictly between 0 and 1"),
    ("cluster=4,cluster=3", "error: --compress: cluster is given twice"),
    ("zip", "error: --compress: unknown technique 'zip'"),
    ("int4,,cluster=2", "error: --compress 'int4,,cluster=2': empty technique"),
])
def test_bad_compress_values_are_one_line_errors(files: tuple[Path, Path], tmp_path: Path, value: str,
                                                 message: str) -> None:
    model, _ = files
    out = tmp_path / "out.tflite"
    done = _cli("compress", str(model), "-o", str(out), "--compress", value)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(message), done.stderr
    assert not out.exists()


def test_other_mistakes_are_one_line_errors(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = files
    existing = tmp_path / "exists.tflite"
    existing.write_bytes(b"mine")
    not_int8 = tmp_path / "float.tflite"
    from models import T, build_tflite

    not_int8.write_bytes(build_tflite([T((1, 4), "float32")], [], [0], [0]))
    cases = [
        (("compress", str(tmp_path / "missing.tflite"), "-o", str(tmp_path / "o.tflite")), "no such .tflite file"),
        (("compress", str(model), "-o", str(existing)), "exists; use --force to overwrite it"),
        (("compress", str(not_int8), "-o", str(tmp_path / "o.tflite")), "is not a full-int8 model"),
        (("compress", str(model), "-o", str(tmp_path / "o.tflite"), "--calib", str(tmp_path / "none.npy")),
         "no such file or directory"),
        (("compress", str(model), "-o", str(tmp_path / "o.tflite"), "--target", "no-such-board"), "no-such-board"),
    ]
    for args, message in cases:
        done = _cli(*args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0 and lines and lines[-1].startswith("error:") and message in lines[-1], \
            done.stderr
        assert "Traceback" not in done.stderr
    assert existing.read_bytes() == b"mine" and not (tmp_path / "o.tflite").exists()


def test_without_calibration_data_the_decoding_is_still_proven(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = files
    result = edgeq.compress_model(model, tmp_path / "c2.tflite", techniques="cluster=2")
    assert result.agreement.synthetic and result.agreement.samples == 8
    assert result.agreement.equivalent_max_lsb == 0 and result.agreement.max_lsb > 0


def test_a_model_tflm_decodes_differently_is_not_written(files: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeq.compress import run
    from edgeq.errors import CompressionError

    model, calib = files
    real = run.rewrite

    def wrong(data: bytes, techniques: object) -> object:  # an equivalent that is not the compressed model's
        found = real(data, techniques)
        return run.Rewritten(found.model, data, found.tensors, found.skipped)

    monkeypatch.setattr(run, "rewrite", wrong)
    out = tmp_path / "wrong.tflite"
    with pytest.raises(CompressionError, match="differ from the same weights stored as int8 by up to"):
        edgeq.compress_model(model, out, calib=calib, techniques="cluster=2")
    assert not out.exists()
