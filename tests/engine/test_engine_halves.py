"""Exact halves and requantization extremes: TFLM equals the Python twin's rounding, and the compiled-C
engine equals TFLM, bit for bit, op by op, on both kernel paths: the portable kernels and the DSP-extension
kernels (their instructions as C on the host; cases from engine_halves.py and engine_halves_grid.py)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_halves import NEAR_2_31
from engine_halves_grid import HALF_OPS, half_cases
from engine_harness import build_executable, run_cases

from edgeq.engine import generate
from edgeq.tflite.runners import TFLMRunner

PATHS = ("portable", "dsp")
DSP_KERNELS = {"CONV_2D": ("eq_conv_dsp_s8",), "DEPTHWISE_CONV_2D": ("eq_dwconv_dsp_s8", "eq_dwconv3x3_dsp_s8"),
               "FULLY_CONNECTED": ("eq_fc_dsp_s8",), "ADD": ("eq_add_dsp_s8",)}
MIN_TIES = 8  # exact halves of each sign whose rounding shows in the output, per op
# RELU clamps every negative value to its zero point and SOFTMAX sees only differences from the row maximum
# (<= 0): there, halves of one sign cannot show.
TIE_SIGNS = {"RELU": (1,), "SOFTMAX": (-1,)}
# Ops whose integer multipliers the cases drive to the extremes (shift 0, shift -31, near 2^31).
MULTIPLIER_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "RELU",
                  "QUANTIZE")
# Ops that can saturate at both ends of int8 (averages and the fixed-format activations cannot go beyond).
SATURATING_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "RELU",
                  "QUANTIZE")


@pytest.fixture(scope="session")
def half_builds(tmp_path_factory, gcc) -> tuple[list, list, dict[str, list], dict[str, list]]:
    """(cases, TFLM outputs, path -> builds, path -> engine outputs), both paths in one ASan build."""
    cases = half_cases()
    expected = []
    for case in cases:
        runner = TFLMRunner(case.model, arena_size=1 << 20)  # 65,536-value grids: above the default
        expected.append([runner.run(vector) for vector in case.inputs])
    builds = {path: [generate(case.model, case.name if path == "portable" else f"dsp_{case.name}", dsp=path == "dsp")
                     for case in cases] for path in PATHS}
    every = [b for path in PATHS for b in builds[path]]
    exe = build_executable(every, tmp_path_factory.mktemp("engine-halves"), sanitize=True)
    got = run_cases(exe, every, [c.model for c in cases] * len(PATHS), [c.inputs for c in cases] * len(PATHS))
    return cases, expected, builds, {path: got[k * len(cases):(k + 1) * len(cases)] for k, path in enumerate(PATHS)}


@pytest.fixture(scope="session")
def half_runs(half_builds) -> dict[tuple[str, str], list]:
    """(op, path) -> [(case, TFLM outputs per vector, engine outputs per vector)]."""
    cases, expected, _, got = half_builds
    results: dict[tuple[str, str], list] = {(op, path): [] for op in HALF_OPS for path in PATHS}
    for path in PATHS:
        for case, e, g in zip(cases, expected, got[path], strict=True):
            results[case.op, path].append((case, e, g))
    return results


def test_dsp_path_reaches_the_dsp_kernels(half_builds):
    """Most CONV_2D/DEPTHWISE/FC/ADD tie cases run their DSP kernel on the DSP path (the rest: where it does not
    apply, e.g. a depth multiplier, a zero multiplier or a broadcast)."""
    cases, _, builds, _ = half_builds
    for op, kernels in DSP_KERNELS.items():
        used = [any(f"{k}(" in b.files[f"{b.name}_model.c"].decode() for k in kernels)
                for case, b in zip(cases, builds["dsp"], strict=True) if case.op == op]
        assert sum(used) >= len(used) // 3, (op, sum(used), len(used))
    # The 3x3 depthwise kernel (variant 2 of engine_halves) with both of its requantizations.
    dw3 = [b.files[f"{b.name}_model.c"].decode() for case, b in zip(cases, builds["dsp"], strict=True)
           if "eq_dwconv3x3_dsp_s8(" in b.files[f"{b.name}_model.c"].decode()]
    assert len(dw3) >= 10
    assert any(".fast_requant = 1," in s for s in dw3) and any(".fast_requant = 0," in s for s in dw3)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", HALF_OPS)
def test_exact_halves_and_extremes_are_bit_exact_with_tflm(half_runs, op, path):
    problems = []
    for case, expected, got in half_runs[op, path]:
        for v, (want, e_vec, g_vec) in enumerate(zip(case.want, expected, got, strict=True)):
            tflm, engine = e_vec[0], g_vec[0]
            if want is not None and not np.array_equal(tflm.astype(np.int64), want):
                bad = np.flatnonzero(tflm.astype(np.int64).ravel() != want.ravel())
                problems.append(f"{case.name}: TFLM differs from the twin in {bad.size} values (first at {bad[0]}: "
                                f"TFLM {tflm.ravel()[bad[0]]}, twin {want.ravel()[bad[0]]}): the case is broken")
            if engine.dtype != tflm.dtype or not np.array_equal(engine, tflm):
                bad = np.flatnonzero(engine.ravel() != tflm.ravel())
                ties = case.ties[v].ravel()
                problems.append(f"{case.name} vector {v}: engine differs from TFLM in {bad.size} values, "
                                f"{int(np.count_nonzero(ties[bad] if ties.size == engine.size else []))} of them "
                                f"exact halves (first at {bad[0]}: engine {engine.ravel()[bad[0]]}, "
                                f"TFLM {tflm.ravel()[bad[0]]})")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("op", HALF_OPS)
def test_cases_hit_halves_and_extremes(half_runs, op):
    """What the cases claim to cover, counted by the twin (which the test above holds equal to TFLM)."""
    cases = [case for case, _, _ in half_runs[op, "portable"]]
    ties = np.concatenate([t.ravel() for c in cases for t in c.ties])
    for sign in TIE_SIGNS.get(op, (1, -1)):
        assert (ties == sign).sum() >= MIN_TIES, (op, sign, (ties == sign).sum())
    zero_points = {z for c in cases for z in c.zero_points}
    assert {-128, 127} <= zero_points, (op, sorted(zero_points))
    if op in SATURATING_OPS:
        beyond = np.concatenate([b.ravel() for c in cases for b in c.beyond])
        assert (beyond > 0).any() and (beyond < 0).any(), op
    if op in MULTIPLIER_OPS:
        pairs = {p for c in cases for p in c.multipliers}
        shifts = {shift for m, shift in pairs if m}
        assert 0 in shifts and -31 in shifts, (op, sorted(shifts))
        assert any(m >= NEAR_2_31 for m, _ in pairs), (op, max(m for m, _ in pairs))
