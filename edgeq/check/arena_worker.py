"""Find the smallest TFLM arena that allocates and invokes a model. Runs in a child process (see arena.py).

A TFLM kernel whose allocation fails can crash the process (seen with UNIDIRECTIONAL_SEQUENCE_LSTM and the
digits CNN far below their need), so edgeq never runs these probes in its own process, and each probe below
the known-good size runs in a forked child of this one. Usage:
    python -m edgeq.check.arena_worker MODEL.tflite NUMBER_OF_INPUTS   -> one JSON object on stdout
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from edgeq.tfenv import captured_output

START_MIN = 1 << 20  # first generous arena: 1 MiB or 10x the model, whichever is larger
LIMIT = 1 << 30
# What TFLM's arena allocators print when the arena is too small (SingleArenaBufferAllocator,
# GreedyMemoryPlanner); anything else is a real failure of the model, not of the arena size.
_ARENA_FAILURE = re.compile(r"missing: (\d+)|Needed (\d+) but only")


def _attempt(runtime: Any, np: Any, data: bytes, inputs: int, size: int,
             allocations: bool = False) -> tuple[bool, str, str]:
    """(ok, failed stage, TFLM's log) for one arena size: create (allocate tensors), then invoke once."""
    stage = "allocate"
    with captured_output() as log:  # TFLM logs with printf to fd 2
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=size)
            stage = "invoke"
            for index in range(inputs):
                details = interpreter.get_input_details(index)
                interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), index)
            interpreter.invoke()
            if allocations:
                interpreter.print_allocations()
            ok = True
        except Exception as exc:  # noqa: BLE001 - a child process: every failure is reported as data
            ok = False
            print(f"python: {exc}", file=sys.stderr)
    return ok, ("" if ok else stage), log[0]


def _works(runtime: Any, np: Any, data: bytes, inputs: int, size: int) -> bool:
    """One probe in a forked child: a kernel that crashes on a failed allocation means "does not work"."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            code = 0 if _attempt(runtime, np, data, inputs, size)[0] else 1
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] == 0


def measure(data: bytes, inputs: int) -> dict[str, Any]:
    """Probe arena sizes; the result says the smallest that works, or why none does."""
    import numpy as np
    from tflite_micro import runtime

    probes = 0
    size = max(START_MIN, 10 * len(data))
    while True:
        ok, stage, log = _attempt(runtime, np, data, inputs, size, allocations=True)
        probes += 1
        if ok:
            break
        shortage = _ARENA_FAILURE.search(log)
        if not shortage or size >= LIMIT:
            return {"ok": False, "stage": stage, "arena_tried": size, "log": log[-4000:], "probes": probes}
        # grow by at least what TFLM says is missing (more may be needed by later allocations)
        size = min(max(2 * size, size + 2 * int(shortage.group(1) or shortage.group(2))), LIMIT)
    match = re.search(r"Arena allocation total (\d+) bytes", log)
    recorded = int(match.group(1)) if match else 0
    # The bytes TFLM used at a generous size do not depend on the arena size (the memory plan is fixed),
    # so anything below `recorded` cannot work; search upward from there, then bisect.
    lo, hi = recorded - 1, None
    step = 256
    candidate = max(recorded, 16)
    while candidate < size:
        probes += 1
        if _works(runtime, np, data, inputs, candidate):
            hi = candidate
            break
        lo = candidate
        candidate = recorded + step
        step *= 4
    if hi is None:
        hi = size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probes += 1
        if _works(runtime, np, data, inputs, mid):
            hi = mid
        else:
            lo = mid
    return {"ok": True, "host_bytes": hi, "recorded_bytes": recorded, "probes": probes, "generous_bytes": size}


def main(argv: list[str]) -> int:
    """`python -m edgeq.check.arena_worker MODEL.tflite N_INPUTS`: the measurement as JSON on stdout."""
    with open(argv[1], "rb") as fh:
        data = fh.read()
    result = measure(data, int(argv[2]))
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
