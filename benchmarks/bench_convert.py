"""`edgeq convert` on the example (whole process) vs a plain script calling TFLiteConverter with the same settings.

Run: .venv/bin/python benchmarks/bench_convert.py [--repeat N]
Both sides are fresh Python processes (TensorFlow import included), so the ratio is what a user feels.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "digits.keras"
CALIB = ROOT / "examples" / "digits_calib.npz"

BASELINE = f"""
import os, tempfile
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
model = keras.models.load_model({str(MODEL)!r})
calib = np.load({str(CALIB)!r})["x"].astype(np.float32)
with tempfile.TemporaryDirectory() as d:
    model.export(d, format="tf_saved_model", input_signature=[tf.TensorSpec([1, 8, 8, 1], tf.float32)], verbose=False)
    c = tf.lite.TFLiteConverter.from_saved_model(d)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = lambda: ([x[None]] for x in calib)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = c.inference_output_type = tf.int8
    open(os.path.join({{out!r}}, "model.tflite"), "wb").write(c.convert())
"""


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    edgeq_times, baseline_times = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            baseline_times.append(timed([sys.executable, "-c", BASELINE.format(out=tmp)]))
            edgeq_times.append(timed([sys.executable, "-m", "edgeq.cli", "-q", "convert", str(MODEL), "--calib",
                                      str(CALIB), "-o", str(Path(tmp) / "out")]))
    e, b = statistics.median(edgeq_times), statistics.median(baseline_times)
    print(f"plain TFLiteConverter script : {b:6.2f} s (median of {args.repeat})")
    print(f"edgeq convert (whole process): {e:6.2f} s (median of {args.repeat})")
    print(f"ratio edgeq / baseline       : {e / b:6.2f}x")


if __name__ == "__main__":
    main()
