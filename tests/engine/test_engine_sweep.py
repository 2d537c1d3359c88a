"""The larger randomized sweep (marked slow; CI runs it): hundreds of random single-op models per
requantizing op, and the exact-half cases drawn again from other seeds (on both kernel paths), engine against
TFLM at 0 LSB in one ASan/UBSan build. About two and a half minutes on two cores."""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import make_cases
from engine_halves_grid import HALF_OPS, half_cases
from engine_harness import build_executable, run_cases

from edgeq.engine import generate
from edgeq.tflite.runners import TFLMRunner

pytestmark = pytest.mark.slow

SWEEP_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "AVERAGE_POOL_2D",
             "RELU", "QUANTIZE")
CASES_PER_OP = 200
HALF_SEEDS = (101, 102, 103)


@pytest.fixture(scope="session")
def sweep_runs(tmp_path_factory, gcc) -> dict[str, list]:
    """op -> [(name, TFLM outputs per vector, engine outputs per vector)]; the half cases also as DSP-path builds
    (names ending in _dsp)."""
    named = [(c.op, c.name, c.model, c.inputs)
             for i, op in enumerate(SWEEP_OPS) for c in make_cases(op, CASES_PER_OP, seed=50_000 + i)]
    halves = [(c.op, f"{c.name}_s{seed}", c.model, c.inputs) for seed in HALF_SEEDS for c in half_cases(seed)]
    named += halves + [(op, f"{name}_dsp", model, inputs) for op, name, model, inputs in halves]
    expected = []
    for _, _, model, vectors in named:
        runner = TFLMRunner(model, arena_size=1 << 20)
        expected.append([runner.run(v) for v in vectors])
    builds = [generate(model, name, dsp=name.endswith("_dsp")) for _, name, model, _ in named]
    exe = build_executable(builds, tmp_path_factory.mktemp("engine-sweep"), sanitize=True)
    got = run_cases(exe, builds, [n[2] for n in named], [n[3] for n in named])
    results: dict[str, list] = {op: [] for op in (*SWEEP_OPS, *HALF_OPS)}
    for (op, name, _, _), e, g in zip(named, expected, got, strict=True):
        results[op].append((name, e, g))
    return results


@pytest.mark.parametrize("op", sorted(set(SWEEP_OPS) | set(HALF_OPS)))
def test_sweep_is_bit_exact_with_tflm(sweep_runs, op):
    mismatches = []
    for name, expected, got in sweep_runs[op]:
        for v, (e_vec, g_vec) in enumerate(zip(expected, got, strict=True)):
            for o, (e, g) in enumerate(zip(e_vec, g_vec, strict=True)):
                if e.dtype != g.dtype or e.shape != g.shape or not np.array_equal(e, g):
                    mismatches.append(f"{name} vector {v} output {o}")
    assert not mismatches, f"{len(mismatches)} mismatches: " + ", ".join(mismatches[:20])
    random_cases = CASES_PER_OP if op in SWEEP_OPS else 0
    assert len(sweep_runs[op]) >= random_cases + 2 * len(HALF_SEEDS)
