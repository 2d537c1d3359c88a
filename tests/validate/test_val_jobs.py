"""--jobs: the interpreters split across worker processes give the same reports, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeq.staging import json_text
from edgeq.validate import workers
from edgeq.validate.html import render_html
from edgeq.validate.junit import junit_xml
from edgeq.validate.session import ValidationOptions, validate_model

DIGITS_VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


def _documents(report) -> tuple[str, str, str]:
    return json_text(report.to_dict()), junit_xml(report), render_html(report)


@pytest.fixture
def submitted(monkeypatch) -> list[int]:
    """Force workers even for a short run, and count the parts sent to them."""
    monkeypatch.setattr(workers, "PARALLEL_MIN_SECONDS", -1.0)
    sent: list[int] = []

    from edgeq.validate.pool import WorkerPool

    submit = WorkerPool.submit

    def counting(self, worker, part):
        sent.append(len(part.litert_rows) + len(part.subset_rows))
        return submit(self, worker, part)

    monkeypatch.setattr(WorkerPool, "submit", counting)
    return sent


@pytest.mark.parametrize("tflm_samples", [300, 0], ids=["tflm-layers", "litert-layers"])
def test_two_jobs_write_the_same_reports_as_one(digits_int8, digits_source, submitted, tflm_samples):
    # 397 labelled samples in batches of 64 (several batches in flight), TFLM on a seeded 300 with the per-layer
    # comparison; without TFLM the per-layer tensors come from LiteRT in the workers
    options = {"batch_size": 64, "tflm_samples": tflm_samples}
    one = validate_model(digits_int8, DIGITS_VAL, digits_source, ValidationOptions(jobs=1, **options))
    assert not submitted
    two = validate_model(digits_int8, DIGITS_VAL, digits_source, ValidationOptions(jobs=2, **options))
    # one part per batch went to the worker, one ran here (and the first rows, timed, to decide)
    count, subset = one.interpreters["litert"].samples, one.layers["samples"]
    assert len(submitted) == -(-count // 64) and sum(submitted) > (count + subset) / 3
    assert one.layers["compared"] and one.layers["samples"] == two.layers["samples"]
    for mine, theirs in zip(_documents(one), _documents(two), strict=True):
        assert mine == theirs


def test_jobs_must_be_positive():
    from edgeq.errors import UsageError

    with pytest.raises(UsageError, match="--jobs must be 1 or more"):
        ValidationOptions(jobs=0)


SCRIPT = """
import sys
from edgeq.staging import json_text
from edgeq.validate import pool, workers
from edgeq.validate.session import ValidationOptions, validate_model

workers.PARALLEL_MIN_SECONDS = -1.0  # workers even for this short run
started = pool.WorkerPool.__init__
pool.WorkerPool.__init__ = lambda self, jobs, config: (print("workers", jobs, file=sys.stderr),
                                                       started(self, jobs, config))[1]
report = validate_model(sys.argv[1], sys.argv[2], options=ValidationOptions(jobs=int(sys.argv[3]), batch_size=64))
print(json_text(report.to_dict()))
"""


def test_a_script_without_a_main_guard_can_use_workers(digits_int8_path, tmp_path):
    # the workers are child processes of edgeq's own module: they never import the caller's script again
    import subprocess
    import sys

    script = tmp_path / "check_model.py"
    script.write_text(SCRIPT, encoding="utf-8")
    runs = {jobs: subprocess.run([sys.executable, str(script), str(digits_int8_path), str(DIGITS_VAL), str(jobs)],
                                 capture_output=True, text=True, timeout=300) for jobs in (1, 2)}
    for run in runs.values():
        assert run.returncode == 0, run.stderr[-2000:]
    assert "workers" not in runs[1].stderr and "workers 1" in runs[2].stderr  # and this process
    assert runs[1].stdout == runs[2].stdout
    assert json.loads(runs[1].stdout)["interpreters"]["tflm"]["samples"] == 200


def test_cli_jobs_reports_are_identical(digits_int8_path, tmp_path):
    import subprocess
    import sys

    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        out.mkdir()
        run = subprocess.run([sys.executable, "-m", "edgeq.cli", "-q", "validate", str(digits_int8_path), "--val",
                              str(DIGITS_VAL), "--jobs", str(jobs), "--junit", str(out / "v.xml"), "--report",
                              str(out / "v.html"), "--json"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        outputs[jobs] = (run.stdout, (out / "v.xml").read_bytes(), (out / "v.html").read_bytes())
    assert outputs[1] == outputs[2]
    bad = subprocess.run([sys.executable, "-m", "edgeq.cli", "validate", str(digits_int8_path), "--val",
                          str(DIGITS_VAL), "--jobs", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--jobs" in bad.stderr and "Traceback" not in bad.stderr
