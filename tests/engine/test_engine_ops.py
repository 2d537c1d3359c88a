"""Every op of the compiled-C engine against the TFLite Micro interpreter, bit for bit (0 LSB).

Randomized single-op models (shapes, strides, paddings, dilations, activations, zero points, per-channel
scales, broadcasting, constant operands) are built as flatbuffers, run by TFLM, generated as C and run in
one host executable built with AddressSanitizer and UndefinedBehaviorSanitizer.
SOFTMAX, LOGISTIC and TANH have their own kernel tests (test_nonlinear.py) and run here in whole models.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import GENERATORS, make_cases
from engine_harness import build_executable, run_cases

from edgeq.engine import generate, supported_ops
from edgeq.runners import TFLMRunner

CASES_PER_OP = 12
OPS = sorted(GENERATORS)


@pytest.fixture(scope="session")
def op_results(tmp_path_factory, gcc):
    """op -> [(case, TFLM outputs per vector, engine outputs per vector)], all cases in one build."""
    cases = [c for i, op in enumerate(OPS) for c in make_cases(op, CASES_PER_OP, seed=1000 + i)]
    expected = []
    for case in cases:
        runner = TFLMRunner(case.model)
        expected.append([runner.run(vector) for vector in case.inputs])
    builds = [generate(case.model, case.name) for case in cases]
    exe = build_executable(builds, tmp_path_factory.mktemp("engine-ops"), sanitize=True)
    got = run_cases(exe, builds, [c.model for c in cases], [c.inputs for c in cases])
    results: dict[str, list] = {op: [] for op in OPS}
    for case, e, g in zip(cases, expected, got, strict=True):
        results[case.op].append((case, e, g))
    return results


def test_generators_cover_the_engine_ops():
    # SOFTMAX/LOGISTIC/TANH are tested by test_nonlinear.py; SQUEEZE/EXPAND_DIMS/PADV2 share RESHAPE's and
    # PAD's lowering (PADV2 cases are drawn by the PAD generator).
    assert set(OPS) | {"SOFTMAX", "LOGISTIC", "TANH", "SQUEEZE", "EXPAND_DIMS", "PADV2"} == supported_ops()


@pytest.mark.parametrize("op", OPS)
def test_op_is_bit_exact_with_tflm(op_results, op):
    mismatches, distinct = [], set()
    for case, expected, got in op_results[op]:
        for v, (e_vec, g_vec) in enumerate(zip(expected, got, strict=True)):
            for o, (e, g) in enumerate(zip(e_vec, g_vec, strict=True)):
                distinct.update(np.unique(e).tolist())
                if e.shape != g.shape or e.dtype != g.dtype or not np.array_equal(e, g):
                    diff = (np.abs(e.astype(np.float64) - g.astype(np.float64)).max()
                            if e.shape == g.shape else "shape")
                    mismatches.append(f"{case.name} ({case.description}) vector {v} output {o}: max diff {diff}")
    assert not mismatches, "\n".join(mismatches)
    assert len(op_results[op]) == CASES_PER_OP
    # The cases must exercise the arithmetic, not produce one saturated value.
    assert len(distinct) >= 10, f"{op}: outputs take only {sorted(distinct)}"
