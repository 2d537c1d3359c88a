"""model_io.h's quantize/dequantize helpers, compiled on the host and run against TFLite's QUANTIZE and
DEQUANTIZE (the TFLM interpreter running those ops with the same parameters) on edge values.

The golden files only show what the helpers say; here they run. Values: every half step of the output
range and the float32 values next to it (including 0.49999997f, which `scaled + 0.5f` rounded to 1),
the clamp edges, saturation far beyond them, signed zeros and denormals. TFLM's QUANTIZE converts
round(value / scale) to int32 without a range check, so it is the reference only where |value / scale| <
2^31; beyond that, and for infinities and NaN, the helpers follow a stated policy: saturate (+-inf and
+-FLT_MAX to the type's max/min), NaN -> the zero point (real 0). uint8 has no float QUANTIZE in TFLM:
there the reference is the formula TFLM computes for int8, which the test first holds equal to TFLM.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from emit_models import build_quantize_model

from edgeq.check.targets import get_target
from edgeq.emit.sources import Arena, model_context
from edgeq.engine.quant import round_half_away
from edgeq.render import render
from edgeq.tflite import read_model
from edgeq.tflite.runners import TFLMRunner

INT8 = [(1.0, 0), (2.0 ** -8, -128), (float(np.float32(1 / 255)), -128), (0.0473, 127), (0.05, -3), (12.5, 0),
        (3.1e-5, 60)]
UINT8 = [(float(np.float32(1 / 255)), 0), (0.1, 128), (2.0 ** -8, 255)]
RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
POLICY = np.array([np.nan, np.inf, -np.inf, 3.4028235e38, -3.4028235e38], np.float32)

DRIVER = """
#include <stdio.h>
#include "model_io.h"
#define VALUES @VALUES@
int main(void) {
    static float values[VALUES];
    static @OUT_T@ quantized[VALUES];
    float real;
    int i;
@QUANTIZE_LOOPS@
@DEQUANTIZE_LOOPS@
    return 0;
}
"""


def _edge_values(scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """float32 values around every half step of the output range, its clamp edges and beyond."""
    qmin, qmax = RANGES[dtype]
    s = np.float32(scale)
    halves = np.arange(qmin - zero_point - 2, qmax - zero_point + 2, dtype=np.float64) + 0.5
    steps = np.concatenate([halves, halves - 0.5, [1e3, 2.0 ** 20 + 0.5, 2.0 ** 21, 1e9, 2.1e9]])
    steps = np.concatenate([steps, -steps])
    values = [(steps * float(s)).astype(np.float32)]
    for _ in range(2):  # float32 neighbours, so quotients land one ulp either side of the halves
        values += [np.nextafter(values[-1], np.float32(np.inf)), np.nextafter(values[-1], np.float32(-np.inf))]
    exact = np.nextafter(halves.astype(np.float32), np.float32(0)) * s  # exact for power-of-two scales
    tiny = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-30, -1e-30], np.float32)
    return np.unique(np.concatenate([*values, exact.astype(np.float32), tiny]))


def _reference_quantize(values: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """TFLite's QUANTIZE for finite values: zero_point + round-half-away(float32(value / scale)), clamped."""
    qmin, qmax = RANGES[dtype]
    quotient = _quotients(values, scale)
    return np.clip([round_half_away(float(q)) + zero_point for q in quotient], qmin, qmax)


def _run_helpers(tmp_path: Path, quantizations: list[tuple[float, int]], dtype: str, values: list[np.ndarray]):
    """Render model_io.h for a model with these quantizations, compile a driver over its helpers, run it:
    (quantized values per quantization, dequantized float32 of every raw value per quantization)."""
    count, n = len(quantizations), values[0].size
    model = read_model(build_quantize_model(quantizations, n, dtype))
    context = {**model_context(model, "io", get_target("cortex-m4")), "arena": Arena(0, "not used by this test")}
    (tmp_path / "model_io.h").write_text(render("_sources/model_io.h.j2", context))
    ctype = "int8_t" if dtype == "int8" else "uint8_t"
    quantize = "\n".join(f"    if (fread(values, sizeof(float), VALUES, stdin) != VALUES) return 2;\n"
                         f"    for (i = 0; i < VALUES; ++i) quantized[i] = io_quantize_input{count + k}(values[i]);\n"
                         f"    fwrite(quantized, 1, VALUES, stdout);" for k in range(count))
    first = -128 if dtype == "int8" else 0
    dequantize = "\n".join(f"    for (i = 0; i < 256; ++i) {{\n"
                           f"        real = io_dequantize_output{k}(({ctype})({first} + i));\n"
                           f"        fwrite(&real, sizeof real, 1, stdout);\n    }}" for k in range(count))
    source = DRIVER.replace("@VALUES@", str(n)).replace("@OUT_T@", ctype).replace("@QUANTIZE_LOOPS@", quantize) \
        .replace("@DEQUANTIZE_LOOPS@", dequantize)
    (tmp_path / "driver.c").write_text(source)
    built = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-fsanitize=undefined",
                            "-fno-sanitize-recover=all", "driver.c", "-o", "driver"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    done = subprocess.run([str(tmp_path / "driver")], input=b"".join(v.astype("<f4").tobytes() for v in values),
                          capture_output=True, check=True, timeout=60)
    split = count * n
    quantized = np.frombuffer(done.stdout[:split], np.int8 if dtype == "int8" else np.uint8).reshape(count, n)
    dequantized = np.frombuffer(done.stdout[split:], "<f4").reshape(count, 256)
    return model, quantized, dequantized


def _with_policy_values(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Equal lengths (the model has one size for all float inputs; each array's first value repeats), then
    the POLICY values at the end of each."""
    n = max(a.size for a in arrays)
    return [np.concatenate([a, np.full(n - a.size, a[0], np.float32), POLICY]) for a in arrays]


def _quotients(values: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return values / np.float32(scale)


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory, gcc_tool):
    values = _with_policy_values([_edge_values(s, z, "int8") for s, z in INT8])
    model, quantized, dequantized = _run_helpers(tmp_path_factory.mktemp("io8"), INT8, "int8", values)
    raws = [np.arange(-128, 128, dtype=np.int8)] * len(INT8)
    finite = [np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for v in values]  # TFLM gets no inf/NaN
    tflm = TFLMRunner(model, arena_size=1 << 18).run([*finite, *raws])
    return values, quantized, dequantized, tflm


@pytest.fixture(scope="module")
def gcc_tool():
    from build_tools import require_tools

    require_tools("gcc")


def test_quantize_helper_equals_tflite_quantize_on_edge_values(int8_run):
    values, quantized, _, tflm = int8_run
    for k, (scale, zero_point) in enumerate(INT8):
        defined = np.abs(_quotients(values[k], scale)) < 2.0 ** 31  # False for inf and NaN
        reference = tflm[k]
        np.testing.assert_array_equal(_reference_quantize(values[k][defined], scale, zero_point, "int8"),
                                      reference[defined], err_msg=f"the stated formula differs from TFLM, {k}")
        bad = np.flatnonzero((quantized[k] != reference) & defined)
        assert bad.size == 0, (f"scale {scale} zero point {zero_point}: {bad.size} values differ, e.g. "
                               f"{values[k][bad[0]]!r}: helper {quantized[k][bad[0]]}, TFLM {reference[bad[0]]}")
    # The cases include the quotients 0.49999997 and -0.49999997 (1 ulp below the half steps around 0),
    # which `(int32_t)(scaled + 0.5f)` turned into 1 and -1.
    below_half = np.float32(np.nextafter(np.float32(0.5), np.float32(0)))
    assert {float(below_half), -float(below_half)} <= set((values[0] / np.float32(1.0)).tolist())


def test_quantize_helper_policy_beyond_tflite_defined_range(int8_run):
    values, quantized, _, _ = int8_run
    for k, (_, zero_point) in enumerate(INT8):
        # NaN, +inf, -inf, FLT_MAX, -FLT_MAX: the zero point, then saturation
        assert quantized[k][-len(POLICY):].tolist() == [zero_point, 127, -128, 127, -128]


def test_dequantize_helper_equals_tflite_dequantize_bit_for_bit(int8_run):
    _, _, dequantized, tflm = int8_run
    for k in range(len(INT8)):
        np.testing.assert_array_equal(dequantized[k].view(np.uint32), tflm[len(INT8) + k].view(np.uint32))


def test_uint8_helpers_follow_the_same_formulas(tmp_path, gcc_tool):
    values = _with_policy_values([_edge_values(s, z, "uint8") for s, z in UINT8])
    _, quantized, dequantized = _run_helpers(tmp_path, UINT8, "uint8", values)
    for k, (scale, zero_point) in enumerate(UINT8):
        defined = np.abs(_quotients(values[k], scale)) < 2.0 ** 31
        np.testing.assert_array_equal(quantized[k][defined],
                                      _reference_quantize(values[k][defined], scale, zero_point, "uint8"))
        assert quantized[k][-len(POLICY):].tolist() == [zero_point, 255, 0, 255, 0]
        raw = np.arange(256, dtype=np.float64)
        expected = (float(np.float32(scale)) * (raw - zero_point)).astype(np.float32)  # TFLM: double product
        np.testing.assert_array_equal(dequantized[k].view(np.uint32), expected.view(np.uint32))
