"""Every op of the compiled-C engine against the TFLite Micro interpreter, bit for bit (0 LSB).

Randomized single-op models (shapes, strides, paddings, dilations, activations, zero points, per-channel
scales, broadcasting, constant operands) are built as flatbuffers, run by TFLM, generated as C and run in
one host executable built with AddressSanitizer and UndefinedBehaviorSanitizer, on both kernel paths: the
portable kernels and the DSP-extension kernels (their instructions in C on the host; test_engine_dsp.py runs
them as real instructions on emulated Cortex-M cores).
SOFTMAX, LOGISTIC and TANH have their own kernel tests (test_nonlinear.py) and run here in whole models.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import GENERATORS, make_cases
from engine_harness import build_executable, run_cases
from engine_ties import tie_cases

from edgeq.engine import generate, supported_ops
from edgeq.tflite.runners import TFLMRunner

CASES_PER_OP = 12
OPS = sorted(GENERATORS)
PATHS = ("portable", "dsp")


@pytest.fixture(scope="session")
def engine_runs(tmp_path_factory, gcc):
    """(random cases, tie cases) -> per kernel path, every case with its TFLM and engine outputs; all in one
    build."""
    cases = [c for i, op in enumerate(OPS) for c in make_cases(op, CASES_PER_OP, seed=1000 + i)]
    ties = tie_cases()
    models = [c.model for c in cases] + [t.model for t in ties]
    inputs = [c.inputs for c in cases] + [t.inputs for t in ties]
    names = [c.name for c in cases] + [f"tie_{t.name}" for t in ties]
    expected = []
    for model, vectors in zip(models, inputs, strict=True):
        runner = TFLMRunner(model)
        expected.append([runner.run(vector) for vector in vectors])
    builds = [generate(model, name if path == "portable" else f"dsp{k}", dsp=path == "dsp")
              for path in PATHS for k, (model, name) in enumerate(zip(models, names, strict=True))]
    exe = build_executable(builds, tmp_path_factory.mktemp("engine-ops"), sanitize=True)
    got = run_cases(exe, builds, models * len(PATHS), inputs * len(PATHS))
    result = {}
    for k, path in enumerate(PATHS):
        runs = list(zip(expected, got[k * len(models):(k + 1) * len(models)], strict=True))
        result[path] = (list(zip(cases, runs[:len(cases)], strict=True)),
                        list(zip(ties, runs[len(cases):], strict=True)))
    return result


@pytest.fixture(scope="session")
def op_results(engine_runs):
    """(op, path) -> [(case, TFLM outputs per vector, engine outputs per vector)]."""
    results: dict[tuple[str, str], list] = {(op, path): [] for op in OPS for path in PATHS}
    for path in PATHS:
        for case, (e, g) in engine_runs[path][0]:
            results[case.op, path].append((case, e, g))
    return results


def test_generators_cover_the_engine_ops():
    # SOFTMAX/LOGISTIC/TANH are tested by test_nonlinear.py; the PAD generator also draws PADV2 cases and
    # the SQUEEZE one EXPAND_DIMS cases.
    assert set(OPS) | {"SOFTMAX", "LOGISTIC", "TANH", "EXPAND_DIMS", "PADV2"} == supported_ops()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", OPS)
def test_op_is_bit_exact_with_tflm(op_results, op, path):
    mismatches, distinct = [], set()
    for case, expected, got in op_results[op, path]:
        for v, (e_vec, g_vec) in enumerate(zip(expected, got, strict=True)):
            for o, (e, g) in enumerate(zip(e_vec, g_vec, strict=True)):
                distinct.update(np.unique(e).tolist())
                if e.shape != g.shape or e.dtype != g.dtype or not np.array_equal(e, g):
                    diff = (np.abs(e.astype(np.float64) - g.astype(np.float64)).max()
                            if e.shape == g.shape else "shape")
                    mismatches.append(f"{case.name} ({case.description}) vector {v} output {o}: max diff {diff}")
    assert not mismatches, "\n".join(mismatches)
    assert len(op_results[op, path]) == CASES_PER_OP
    # The cases must exercise the arithmetic, not produce one saturated value.
    assert len(distinct) >= 10, f"{op}: outputs take only {sorted(distinct)}"


@pytest.mark.parametrize("path", PATHS)
def test_multiplier_derivations_round_like_tflm(engine_runs, path):
    """Cases where deriving a multiplier or clamp bound in float32 instead of double (or the reverse)
    changes the int8 result: the engine must land where TFLM does on every one."""
    ties = engine_runs[path][1]
    assert len(ties) == 15
    for tie, (expected, got) in ties:
        assert tie.float_result != tie.double_result, tie.name  # the case does discriminate
        tflm, engine = int(expected[0][0].reshape(-1)[0]), int(got[0][0].reshape(-1)[0])
        assert engine == tflm, f"{tie.name}: engine {engine}, TFLM {tflm} (float32 gives {tie.float_result}, " \
                               f"double {tie.double_result})"
