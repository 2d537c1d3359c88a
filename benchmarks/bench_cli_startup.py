"""How long `edgeq --help` and `edgeq --version` take, as a ratio to `python -c "import click, rich"` measured in
the same run (a loaded machine slows both alike). Target: <= 3x (lazy imports: no numpy, TensorFlow or rich
tables before a command runs).

    .venv/bin/python benchmarks/bench_cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 3.0


def _seconds(code: str, runs: int) -> float:
    """Median wall time of `python -c code` over `runs` fresh processes."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(runs: int) -> dict[str, float]:
    """Median seconds of the baseline and of each command (interleaved, so load changes hit all alike)."""
    cases = {
        "baseline: import click, rich": "import click, rich",
        "edgeq --help": "from edgeq.cli import main; main(['--help'])",
        "edgeq --version": "from edgeq.cli import main; main(['--version'])",
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, code in cases.items():
            samples[name].append(_seconds(code, 1))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    results = measure(args.runs)
    base = results.pop("baseline: import click, rich")
    print(f"baseline `import click, rich`: {base * 1000:.0f} ms (median of {args.runs})")
    worst = 0.0
    for name, seconds in results.items():
        ratio = seconds / base
        worst = max(worst, ratio)
        print(f"{name}: {seconds * 1000:.0f} ms = {ratio:.2f}x the baseline (target <= {TARGET_RATIO:g}x)")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
