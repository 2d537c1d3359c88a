"""How fast edgeq writes a model as a C array, against `xxd -i` and a plain Python loop, measured here.

    python benchmarks/bench_carray.py [--mb 8] [--repeat 3]

Prints the best of --repeat runs for each and the ratios. `xxd` comes with vim / the Debian package `xxd`;
without it that row is left out and the Python loop is the only baseline.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeq.render import (
    bytes_initializer,  # noqa: E402
    render,  # noqa: E402
)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def python_loop(data: bytes) -> str:
    """The obvious byte-by-byte formatting edgeq avoids."""
    lines = []
    for start in range(0, len(data), 12):
        lines.append("  " + " ".join(f"0x{b:02x}," for b in data[start:start + 12]))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="model size in MiB (default 8)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = np.random.default_rng(0).integers(0, 256, size=int(args.mb * 2**20), dtype=np.uint8).tobytes()

    edgeq_s = best_of(args.repeat, lambda: bytes_initializer(data))
    assert bytes_initializer(data) == python_loop(data), "edgeq and the reference loop disagree"
    loop_s = best_of(max(1, args.repeat - 2), lambda: python_loop(data))
    context = {"banner": ["benchmark"], "name": "bench", "NAME": "BENCH", "model_size": len(data)}
    file_s = best_of(args.repeat, lambda: render("_sources/model_data.cc.j2",
                                                 {**context, "model_bytes": bytes_initializer(data)}))
    rows = [("edgeq bytes_initializer (numpy)", edgeq_s), ("edgeq whole model_data.cc (+jinja)", file_s),
            ("python loop, byte by byte", loop_s)]

    xxd = shutil.which("xxd")
    if xxd:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.tflite"
            path.write_bytes(data)
            xxd_s = best_of(args.repeat, lambda: subprocess.run([xxd, "-i", str(path)], check=True,
                                                                stdout=subprocess.DEVNULL))
        rows.insert(2, ("xxd -i (C, writes to /dev/null)", xxd_s))

    print(f"C array of {len(data):,} bytes ({args.mb:g} MiB), best of {args.repeat}:")
    for label, seconds in rows:
        print(f"  {label:34s} {seconds * 1000:9.1f} ms  {len(data) / seconds / 2**20:8.1f} MiB/s  "
              f"x{seconds / edgeq_s:6.2f} of edgeq")
    if not xxd:
        print("  (xxd not installed: apt install xxd, or vim, for that baseline)")


if __name__ == "__main__":
    main()
