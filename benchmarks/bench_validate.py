"""Validation against a plain loop, --jobs 1 vs 2, throughput per interpreter, the cost `--val` adds to
`edgeq convert`, and memory vs sample count.

Run: .venv/bin/python benchmarks/bench_validate.py [--rounds 5] [--cache DIR] [--samples 2000] [--repeat 3]
     [--skip-vww] [--skip-throughput] [--skip-convert] [--skip-memory]

0. Whole processes on the MLPerf-Tiny-shaped VWW int8 model (benchmarks/mlperf_tiny.py, 96x96x3) with N random
   inputs, TFLM on all N: `edgeq validate --jobs 1` against a plain loop written here (ai_edge_litert with
   reference kernels and the tflite-micro interpreter, one sample at a time, no statistics), at N = 1, 100,
   400; wall time (median of alternating rounds), CPU time and peak RSS (VmHWM); then `--jobs 2` against
   `--jobs 1` at N = 400. Other processes on the machine skew wall times: the CPU figures and the load
   average are printed alongside.
1. edgeq.validate on the example int8 model with N samples (the held-out digits, tiled), every interpreter on
   every sample (--tflm-samples N): samples/s per interpreter, against a bare loop over the same interpreter
   in this process (the baseline: no metrics, no streaming, no per-layer capture).
2. `edgeq convert` with and without `--val` (defaults: 397 samples, TFLM on 200), whole processes.
3. Peak RSS of a whole `validate` process on 2k vs 50k samples (LiteRT on all, TFLM on 200): flat if streaming.
"""

from __future__ import annotations

import argparse
import os
import resource
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


VWW = "mobilenet_v1_025"
PEAK = ("import atexit, resource, sys\n"
        "def _peak():\n"
        "    hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]\n"
        "    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    print(f'PEAK {hwm} {kids.ru_maxrss} {me.ru_utime + me.ru_stime} {kids.ru_utime + kids.ru_stime}',\n"
        "          file=sys.stderr)\n"
        "atexit.register(_peak)\n")
EDGEQ_RUN = PEAK + ("import runpy; sys.argv = ['edgeq', *sys.argv[1:]]\n"
                    "runpy.run_module('edgeq.cli', run_name='__main__')\n")
PLAIN_LOOP = PEAK + """
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tflite_micro import runtime
model, data = open(sys.argv[1], 'rb').read(), np.load(sys.argv[2])['x']
litert = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
litert.allocate_tensors()
source, sink = litert.get_input_details()[0], litert.get_output_details()[0]
scale, zero = source['quantization']
q = np.clip(np.round(data / scale) + zero, -128, 127).astype(np.int8)
tflm = runtime.Interpreter.from_bytes(model)
for i in range(len(q)):
    litert.set_tensor(source['index'], q[i:i + 1])
    litert.invoke()
    litert.get_tensor(sink['index'])
    tflm.set_input(q[i:i + 1], 0)
    tflm.invoke()
    tflm.get_output(0)
"""


def measured(command: list[str]) -> tuple[float, float, float, float, float, float]:
    """(wall s, CPU s of the process and its children, peak RSS MiB of the process, of its largest child,
    CPU s of the process alone, of its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed: {result.stderr[-2000:]}")
    fields = result.stderr.rsplit("PEAK ", 1)[1].split()[:4]
    hwm, kids, own_cpu, kids_cpu = int(fields[0]), int(fields[1]), float(fields[2]), float(fields[3])
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, hwm / 1024, kids / 1024, own_cpu, kids_cpu


def vww(rounds: int, directory: Path, cache: Path | None) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import mlperf_tiny

    model = directory / "vww_int8.tflite"
    model.write_bytes(mlperf_tiny.convert_all(directory, [VWW], cache=cache)[VWW].data)
    rng = np.random.default_rng(0)
    data = {}
    for count in (1, 100, 400):
        data[count] = directory / f"vww_{count}.npz"
        np.savez(data[count], x=rng.uniform(-1, 1, (count, 96, 96, 3)).astype(np.float32))

    def edgeq(count: int, jobs: int) -> list[str]:
        return [sys.executable, "-c", EDGEQ_RUN, "-q", "validate", str(model), "--val", str(data[count]),
                "--tflm-samples", str(count), "--jobs", str(jobs), "--json"]

    print(f"0. VWW int8 (96x96x3), whole processes, median of {rounds} alternating rounds; "
          f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"   {'N':>4}{'edgeq --jobs 1':>16}{'plain loop':>12}{'ratio':>8}{'CPU ratio':>11}"
          f"{'peak RSS edgeq / loop':>24}")
    rss = {}
    for count in (1, 100, 400):
        runs: dict[str, list[tuple[float, ...]]] = {"edgeq": [], "plain": []}
        for _ in range(rounds):
            runs["edgeq"].append(measured(edgeq(count, 1)))
            runs["plain"].append(measured([sys.executable, "-c", PLAIN_LOOP, str(model), str(data[count])]))
        e, p = ([statistics.median(r[k] for r in runs[name]) for k in range(3)] for name in ("edgeq", "plain"))
        rss[count] = e[2]
        print(f"   {count:>4}{e[0]:>14.2f} s{p[0]:>10.2f} s{e[0] / p[0]:>7.2f}x{e[1] / p[1]:>10.2f}x"
              f"{e[2]:>14.0f} / {p[2]:.0f} MiB")
    print(f"   peak RSS of edgeq at N = 400 / N = 100: {rss[400] / rss[100]:.3f}x")
    jobs: dict[int, list[tuple[float, ...]]] = {1: [], 2: []}
    for _ in range(rounds):
        for j in (1, 2):
            jobs[j].append(measured(edgeq(400, j)))
    walls = {j: [r[0] for r in jobs[j]] for j in jobs}
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    pairs = sorted(a / b for a, b in zip(walls[1], walls[2], strict=True))
    worker = max(r[3] for r in jobs[2])
    cpu_one = statistics.median(r[1] for r in jobs[1])
    # On two idle cores a --jobs 2 run lasts about as long as its busier process is on a CPU: --jobs 1's CPU time
    # over that estimates the speedup while other processes skew the wall times (ignores waits between them).
    busiest = statistics.median(max(r[4], r[5]) for r in jobs[2])
    print(f"   N = 400: --jobs 1 {one:.2f} s, --jobs 2 {two:.2f} s: speedup {one / two:.2f}x (per round "
          f"{', '.join(f'{r:.2f}' for r in pairs)}); CPU {cpu_one:.2f} s vs "
          f"{statistics.median(r[1] for r in jobs[2]):.2f} s (this process "
          f"{statistics.median(r[4] for r in jobs[2]):.2f} s, worker {statistics.median(r[5] for r in jobs[2]):.2f} s:"
          f" {cpu_one / busiest:.2f}x on two free cores); largest worker {worker:.0f} MiB; "
          f"load average after: {os.getloadavg()[0]:.2f}")


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
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the VWW table")
    parser.add_argument("--cache", type=Path, help="keep the converted VWW model here between runs")
    parser.add_argument("--skip-vww", action="store_true")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-convert", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_vww:
            vww(args.rounds, Path(tmp), args.cache)
        if not args.skip_throughput:
            throughput(args.samples, Path(tmp))
        if not args.skip_convert:
            convert_overhead(args.repeat)
        if not args.skip_memory:
            memory(Path(tmp))


if __name__ == "__main__":
    main()
