"""Fuzz edgeq's .tflite reader and `inspect`: random mutations of valid models must only ever raise
edgeq's own errors (ModelFormatError), never anything else, and never crash the process.

    python benchmarks/fuzz_reader.py [--cases N] [--seed S] [--tflm K] [MODEL.tflite ...]

--tflm K also sends the first K mutations that parse through the full `check` (the TFLM arena measurement
in a child process, which must turn TFLM failures and crashes into edgeq errors too).

Without models it uses TFLM's example models in ../shared/models/tflm-examples. Prints the outcome counts,
the throughput, and every unexpected exception with the seed and case number that reproduces it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgeq.check.inspection import inspect_model  # noqa: E402
from edgeq.check.rules import check_model  # noqa: E402
from edgeq.check.targets import get_target  # noqa: E402
from edgeq.errors import EdgeqError  # noqa: E402
from edgeq.tflite import read_model  # noqa: E402

DEFAULT_MODELS = [REPO.parent / "shared" / "models" / "tflm-examples" / name
                  for name in ("hello_world_int8.tflite", "trained_lstm_int8.tflite", "hello_world_float.tflite")]
_SPECIAL = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation: bit flips, random bytes, special 32-bit words, truncation, splicing, ..."""
    buf = bytearray(data)
    kind = int(rng.integers(0, 8))
    if kind == 0 or not buf:  # truncate
        return bytes(buf[: int(rng.integers(0, max(len(buf), 1)))])
    if kind == 1:  # flip a few bits
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, len(buf)))
            buf[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 2:  # overwrite a few bytes with random values
        for _ in range(int(rng.integers(1, 17))):
            buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
    elif kind == 3:  # a 32-bit word (offsets, lengths, indices) set to a special value
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, max(len(buf) - 4, 1))) & ~3
            buf[i:i + 4] = (_SPECIAL[int(rng.integers(0, len(_SPECIAL)))] & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == 4:  # delete a span
        i = int(rng.integers(0, len(buf)))
        del buf[i:i + int(rng.integers(1, 64))]
    elif kind == 5:  # insert random bytes
        i = int(rng.integers(0, len(buf)))
        buf[i:i] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif kind == 6:  # duplicate a span somewhere else
        i, j = (int(v) for v in rng.integers(0, len(buf), 2))
        buf[j:j] = buf[i:i + int(rng.integers(1, 256))]
    else:  # random bytes with a valid header (passes the identifier check)
        noise = rng.integers(0, 256, int(rng.integers(8, 2048)), dtype=np.uint8).tobytes()
        buf = bytearray(data[:8] + noise)
    return bytes(buf)


def run(models: list[bytes], cases: int, seed: int, tflm: int = 0) -> tuple[Counter, list[str]]:
    """Parse + inspect `cases` mutations (+ check the first `tflm` that parse); count outcomes; collect
    unexpected exceptions."""
    rng = np.random.default_rng(seed)
    outcomes: Counter = Counter()
    unexpected: list[str] = []
    for case in range(cases):
        data = mutate(models[case % len(models)], rng)
        try:
            model = read_model(data)
            inspect_model(model, measure=False)
            outcomes["parsed and inspected"] += 1
            if tflm > 0:
                tflm -= 1
                verdict = check_model(model, get_target("cortex-m4"))
                outcomes[f"checked: {'fits' if verdict.ok else 'does not fit'}"] += 1
        except EdgeqError as exc:
            outcomes[type(exc).__name__] += 1
            if "\n" in str(exc):
                unexpected.append(f"case {case}: multi-line message: {exc!r}")
        except Exception:  # noqa: BLE001 - this is what the fuzzer is looking for
            outcomes["UNEXPECTED"] += 1
            unexpected.append(f"case {case} (seed {seed}):\n{traceback.format_exc()}")
    return outcomes, unexpected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--tflm", type=int, default=0, help="also check the first K parsed mutations with TFLM")
    args = parser.parse_args()
    paths = args.models or [p for p in DEFAULT_MODELS if p.exists()]
    if not paths:
        print("no models: pass .tflite files", file=sys.stderr)
        return 2
    models = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    baseline = sum(1 for _ in range(200) for m in models[:1] if read_model(m))  # parse speed of valid input
    base_s = (time.perf_counter() - start) / max(baseline, 1)
    start = time.perf_counter()
    outcomes, unexpected = run(models, args.cases, args.seed, args.tflm)
    elapsed = time.perf_counter() - start
    print(f"{args.cases} mutations of {', '.join(p.name for p in paths)} in {elapsed:.1f} s "
          f"({args.cases / elapsed:,.0f}/s; {elapsed / args.cases / base_s:.2f}x the time of parsing the "
          f"valid {paths[0].name})")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome:24s} {count}")
    for report in unexpected[:20]:
        print(report)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
