"""The exact-half and extreme-requantization cases of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
(engine_halves.py) with their filters LUT-encoded (TFLM_DECODE) and packed as int4: TFLM still equals the
fixed-point twin, and the engine's packed kernels equal TFLM bit for bit on both kernel paths."""

from __future__ import annotations

import numpy as np
import pytest
from engine_halves import accumulator_cases
from engine_harness import build_executable, run_cases

from edgeq.compress import flatbuffer, int4, lut
from edgeq.engine import generate
from edgeq.tflite import read_model
from edgeq.tflite.runners import TFLMRunner

OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _lut(data: bytes) -> bytes | None:
    """The model with its filter LUT-encoded exactly (the smallest index width its values need), or None."""
    model = flatbuffer.load(data)
    (weight,), _ = flatbuffer.weight_tensors(model)
    axis = weight.axis if weight.per_channel else None
    slices = [weight.values] if axis is None else [np.take(weight.values, c, axis=axis)
                                                  for c in range(weight.channels)]
    distinct = max(np.unique(s).size for s in slices)
    if distinct > 128:  # TFLM's LUT: at most 7-bit indices
        return None
    bits = max(1, (distinct - 1).bit_length())
    lut.insert_decodes(model, [(weight, lut.encode(weight.values, axis, bits))])
    return flatbuffer.pack(model)


def _int4(data: bytes) -> bytes | None:
    """The model with its [-7, 7] filter packed as int4 (scale unchanged), or None where TFLM refuses int4."""
    model = flatbuffer.load(data)
    (weight,), _ = flatbuffer.weight_tensors(model)
    if weight.op == "FULLY_CONNECTED" and weight.per_channel:  # TFLM: no per-channel int4 FULLY_CONNECTED
        return None
    int4.to_int4(model, weight)
    return flatbuffer.pack(model)


@pytest.fixture(scope="module")
def packed_halves(tmp_path_factory, gcc):
    rng = np.random.default_rng(23)
    cases = []
    for op in OPS:
        for case in accumulator_cases(op, rng):
            packed = _lut(case.model.data)
            if packed is not None:
                cases.append(("lut", case, read_model(packed)))
        # TFLM takes per-tensor int4 FULLY_CONNECTED filters only, one case a round: more rounds for it.
        for _ in range(4 if op == "FULLY_CONNECTED" else 1):
            for case in accumulator_cases(op, rng, weight_limit=7):
                packed = _int4(case.model.data)
                if packed is not None:
                    cases.append(("int4", case, read_model(packed)))
    expected = [[TFLMRunner(m).run(v) for v in case.inputs] for _, case, m in cases]
    builds = [generate(m, f"{kind}{i}_{path}", dsp=path == "dsp") for path in ("portable", "dsp")
              for i, (kind, _, m) in enumerate(cases)]
    exe = build_executable(builds, tmp_path_factory.mktemp("packed-halves"), sanitize=True)
    got = run_cases(exe, builds, [m for _, _, m in cases] * 2, [case.inputs for _, case, _ in cases] * 2)
    return cases, expected, got


def test_packed_tie_cases_keep_their_ties(packed_halves) -> None:
    cases, expected, _ = packed_halves
    for kind in ("lut", "int4"):
        for op in OPS:
            chosen = [(case, e) for (k, case, _), e in zip(cases, expected, strict=True) if k == kind and case.op == op]
            assert len(chosen) >= 4, (kind, op)
            ties = sum(int(np.abs(t).sum()) for case, _ in chosen for t in case.ties)
            assert ties >= 8, (kind, op)
            for case, outputs in chosen:  # TFLM decodes the packed filter to exactly the twin's weights
                for want, out in zip(case.want, outputs, strict=True):
                    assert np.array_equal(out[0], want), (kind, case.name)


def test_packed_kernels_equal_tflm_on_ties_on_both_paths(packed_halves) -> None:
    cases, expected, got = packed_halves
    assert len(got) == 2 * len(cases)
    for path, start in (("portable", 0), ("dsp", len(cases))):
        for (kind, case, _), e, g in zip(cases, expected, got[start:start + len(cases)], strict=True):
            for e_vec, g_vec in zip(e, g, strict=True):
                assert all(np.array_equal(a, b) for a, b in zip(e_vec, g_vec, strict=True)), (kind, case.name, path)
