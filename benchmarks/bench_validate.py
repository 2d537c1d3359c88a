"""Validation throughput per interpreter, the cost `--val` adds to `edgeq convert`, and memory vs sample count.

Run: .venv/bin/python benchmarks/bench_validate.py [--samples 2000] [--repeat 3] [--skip-convert] [--skip-memory]

1. edgeq.validate on the example int8 model with N samples (the held-out digits, tiled), every interpreter on
   every sample (--tflm-samples N): samples/s per interpreter, against a bare loop over the same interpreter
   in this process (the baseline: no metrics, no streaming, no per-layer capture).
2. `edgeq convert` with and without `--val` (defaults: 397 samples, TFLM on 200), whole processes.
3. Peak RSS of a whole `validate` process on 2k vs 50k samples (LiteRT on all, TFLM on 200): flat if streaming.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "digits.keras"
CALIB = ROOT / "examples" / "digits_calib.npz"
VAL = ROOT / "examples" / "digits_val.npz"

MEMORY_RUN = """
import sys, tracemalloc
from edgeq.load.loader import load_model
from edgeq.tflite import read_model
from edgeq.validate.session import ValidationOptions, validate_model
model, reference = read_model(sys.argv[1]), load_model(sys.argv[3])
tracemalloc.start()
report = validate_model(model, sys.argv[2], reference, ValidationOptions(per_layer=False))
peak = tracemalloc.get_traced_memory()[1]
assert report.interpreters["litert"].samples == int(sys.argv[4])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork+exec
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
print(hwm, peak)
"""
IMAGE = (32, 32, 3)  # the memory test's model: 3 KB per uint8 sample, 12 KB as float32


def tiled_data(directory: Path, count: int) -> Path:
    with np.load(VAL) as val:
        x, y = val["x"], val["y"]
    index = np.resize(np.arange(len(x)), count)
    path = directory / f"val_{count}.npz"
    np.savez_compressed(path, x=x[index], y=y[index])
    return path


def bare_loops(tflite, x: np.ndarray, reference) -> dict[str, float]:
    """Samples/s of each interpreter called directly: Keras in batches of 256, LiteRT and TFLM one by one."""
    from tflite_micro import runtime

    from edgeq.tflite.runners import LiteRTRunner, quantize_input

    q = quantize_input(x, tflite.main.input_tensors()[0])
    rates = {}
    reference.predict([x[:256]])  # trace once, as validate's first batch does
    start = time.perf_counter()
    for i in range(0, len(x), 256):
        reference.predict([x[i:i + 256]])
    rates["float"] = len(x) / (time.perf_counter() - start)
    litert = LiteRTRunner(tflite, reference=True)
    start = time.perf_counter()
    for i in range(len(q)):
        litert.run([q[i:i + 1]])
    rates["litert"] = len(x) / (time.perf_counter() - start)
    tflm = runtime.Interpreter.from_bytes(tflite.data)
    start = time.perf_counter()
    for i in range(len(q)):
        tflm.set_input(q[i:i + 1], 0)
        tflm.invoke()
        tflm.get_output(0)
    rates["tflm"] = len(x) / (time.perf_counter() - start)
    return rates


def throughput(samples: int, directory: Path) -> None:
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples
    from edgeq.validate.session import ValidationOptions, validate_model

    reference = load_model(MODEL)
    tflite = quantize(reference, QuantizeOptions("int8", "int8"), load_samples(CALIB, reference.inputs),
                      integer_only=True)
    data = tiled_data(directory, samples)
    with np.load(data) as npz:
        x = npz["x"].astype(np.float32)
    bare = bare_loops(tflite, x, reference)
    print(f"1. throughput on {samples} samples (example int8 model), samples/s")
    print(f"   {'interpreter':<12}{'bare loop':>12}{'validate':>12}{'ratio':>8}{'+ per-layer':>14}{'ratio':>8}")
    runs = {}
    for per_layer in (False, True):
        options = ValidationOptions(tflm_samples=samples, per_layer=per_layer)
        runs[per_layer] = validate_model(tflite, data, reference, options).throughput()
    for name in ("float", "litert", "tflm"):
        plain, layered = runs[False][name], runs[True][name]
        print(f"   {name:<12}{bare[name]:>12,.0f}{plain:>12,.0f}{plain / bare[name]:>7.2f}x"
              f"{layered:>14,.0f}{layered / bare[name]:>7.2f}x")
    print("   (validate's TFLM figure includes TFLMRunner's per-call capture of TFLM's C++ log output)")


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def convert_overhead(repeat: int) -> None:
    plain, with_val = [], []
    base = [sys.executable, "-m", "edgeq.cli", "-q", "convert", str(MODEL), "--calib", str(CALIB)]
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            plain.append(timed([*base, "-o", f"{tmp}/a"]))
            with_val.append(timed([*base, "--val", str(VAL), "-o", f"{tmp}/b"]))
    p, v = statistics.median(plain), statistics.median(with_val)
    print(f"2. edgeq convert, whole process (median of {repeat})")
    print(f"   without --val : {p:6.2f} s")
    print(f"   with --val    : {v:6.2f} s  (+{v - p:.2f} s, ratio {v / p:.2f}x)")


def image_model(directory: Path) -> tuple[Path, Path]:
    """A small CNN on 32x32x3 images (random weights): big enough samples that loading 50k at once would show."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import SampleSet
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(0)
    net = k.Sequential([k.Input(IMAGE), k.layers.Rescaling(1 / 255),
                        k.layers.Conv2D(8, 3, strides=2, activation="relu"), k.layers.GlobalAveragePooling2D(),
                        k.layers.Dense(10, activation="softmax")])
    net.save(directory / "images.keras")
    reference = load_model(directory / "images.keras")
    calib = np.random.default_rng(0).integers(0, 256, (64, *IMAGE)).astype(np.float32)
    tflite = quantize(reference, QuantizeOptions("int8", "int8"), SampleSet("calib", "", [calib]), integer_only=True)
    (directory / "images_int8.tflite").write_bytes(tflite.data)
    return directory / "images_int8.tflite", directory / "images.keras"


def memory(directory: Path) -> None:
    model, reference = image_model(directory)
    print(f"3. memory of a validate process on {IMAGE} uint8 images (LiteRT on every sample, TFLM on 200)")
    print(f"   {'samples':>8}{'data (float32)':>16}{'peak RSS':>12}{'numpy peak':>14}")
    peaks = {}
    rng = np.random.default_rng(1)
    for count in (2_000, 50_000):
        data = directory / f"images_{count}.npz"
        np.savez(data, x=rng.integers(0, 256, (count, *IMAGE), dtype=np.uint8), y=rng.integers(0, 10, count))
        result = subprocess.run([sys.executable, "-c", MEMORY_RUN, str(model), str(data), str(reference), str(count)],
                                check=True, capture_output=True, text=True)
        rss, traced = (int(v) for v in result.stdout.split()[-2:])
        peaks[count] = rss / 1024, traced / 2**20
        size = count * int(np.prod(IMAGE)) * 4 / 2**20
        print(f"   {count:>8}{size:>13.0f} MiB{peaks[count][0]:>8.0f} MiB{peaks[count][1]:>10.1f} MiB")
        data.unlink()
    print(f"   ratio 50k / 2k: peak RSS {peaks[50_000][0] / peaks[2_000][0]:.3f}x, "
          f"numpy peak {peaks[50_000][1] / peaks[2_000][1]:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-convert", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_throughput:
            throughput(args.samples, Path(tmp))
        if not args.skip_convert:
            convert_overhead(args.repeat)
        if not args.skip_memory:
            memory(Path(tmp))


if __name__ == "__main__":
    main()
