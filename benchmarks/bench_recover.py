"""`edgeq convert --recover` on the models built to be hard for min/max int8 (tests/recover/recover_models.py).

Run: .venv/bin/python benchmarks/bench_recover.py [--repeat N] [--cases a,b]

For each model: the float model, plain int8 and the recovered int8 model on the validation data (top-1 accuracy
for classifiers, whose labels are the float model's classes, so float scores 1; SQNR vs float for the regression
model), with LiteRT's reference kernels; then the wall time of a plain convert and of a convert with --recover
(the same process, TensorFlow already imported; median of --repeat), and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "recover"))

from recover_models import ALL_CASES, build  # noqa: E402


def _timed_convert(case, out: Path, recover: bool) -> tuple[float, object]:
    from edgeq.pipeline import ConvertOptions, convert

    start = time.perf_counter()
    result = convert(case.model, out, ConvertOptions(calib=case.calib, recover=recover, force=True))
    return time.perf_counter() - start, result


def _quality(case, tflite) -> float:
    from edgeq.load.loader import load_model
    from edgeq.recover.score import float_outputs, score
    from edgeq.samples import load_samples

    source = load_model(case.model)
    data = load_samples(case.val, source.inputs, what="validation")
    scores = score(tflite, source, data, float_outputs(source, data))
    return scores.accuracy if case.classifier else scores.sqnr_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    args = parser.parse_args()
    from edgeq.tfenv import tensorflow

    tensorflow()  # imported once, outside the timings
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-recover-") as tmp:
        for name in args.cases.split(","):
            case = build(name, Path(tmp) / name)
            plain_times, recover_times = [], []
            for _ in range(args.repeat):
                seconds, plain = _timed_convert(case, Path(tmp) / name / "plain", recover=False)
                plain_times.append(seconds)
                seconds, recovered = _timed_convert(case, Path(tmp) / name / "recovered", recover=True)
                recover_times.append(seconds)
            p, r = statistics.median(plain_times), statistics.median(recover_times)
            rows.append((name, "accuracy" if case.classifier else "SQNR dB", "1" if case.classifier else "inf",
                         _quality(case, plain.tflite), _quality(case, recovered.tflite), recovered.recovery.chosen,
                         p, r))
    print(f"{'model':16} {'metric':9} {'float':>6} {'int8':>8} {'recovered':>10} {'technique':16} "
          f"{'plain s':>8} {'recover s':>9} {'ratio':>6}")
    for name, metric, reference, before, after, chosen, p, r in rows:
        print(f"{name:16} {metric:9} {reference:>6} {before:8.4g} {after:10.4g} {chosen:16} {p:8.2f} {r:9.2f} "
              f"{r / p:5.2f}x")
    print(f"(convert times: median of {args.repeat}, TensorFlow already imported; validation data: 400 samples)")


if __name__ == "__main__":
    main()
