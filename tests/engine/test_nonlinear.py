"""The compiled-C int8 SOFTMAX / LOGISTIC / TANH kernels against TFLM, bit for bit.

One Keras model holds many single-op branches (each with its own calibrated input range), converted once.
Variants of it with rewritten input scales, zero points and softmax betas widen the coverage without
more conversions. The kernels run in a small C driver built with host gcc and UBSan, fed every case in
one process; its parameters come from edgeq.engine.nonlinear, exactly as the code generator gets them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from build_tools import require_tools

from edgeq.engine import nonlinear
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Quantization, Tensor, TFLiteModel, read_model

KERNELS = Path(__file__).resolve().parents[2] / "edgeq" / "engine" / "kernels"
SOURCES = [KERNELS / "eq_nonlinear.c"]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]

# (shape without batch, calibration low, high): ranges chosen so that input scales span 4e-4 .. 0.8.
SOFTMAX_CONFIGS = [((32, 10), -0.05, 0.05), ((32, 10), -1, 1), ((32, 10), -8, 8), ((32, 10), -3, 20),
                   ((32, 10), -100, 100), ((4, 1000), -4, 4), ((4, 1000), -30, 30), ((64, 1), -5, 5),
                   ((8, 4, 5), -2, 6)]
ACTIVATION_RANGES = [(-0.01, 0.01), (-0.5, 0.5), (-3, 3), (-10, 10), (-2, 30), (-200, 200), (0, 1)]
OPS = ("SOFTMAX", "LOGISTIC", "TANH")
# TFLM aborts the process (a TFLITE_CHECK) when a row's sum of exps reaches 512: keep rows below that.
TFLM_SOFTMAX_SUM_LIMIT = 480.0

DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "eq_nonlinear.h"

/* records on stdin: int32 {op, p0, p1, p2, p3, rows, depth, in_place}, then rows * depth int8 */
static int8_t in_buf[1 << 20];
static int8_t out_buf[1 << 20];

int main(void) {
    int32_t h[8];
    while (fread(h, sizeof h, 1, stdin) == 1) {
        const int32_t n = h[5] * h[6];
        int8_t *out = out_buf;
        if (n < 0 || n > (int32_t)sizeof in_buf || fread(in_buf, 1, (size_t)n, stdin) != (size_t)n) {
            return 2;
        }
        if (h[7]) {
            memcpy(out_buf, in_buf, (size_t)n);
        }
        if (h[0] == 0) {
            const eq_softmax_params p = {SOFTMAX_INIT};
            eq_softmax_s8(h[7] ? out : in_buf, out, h[5], h[6], &p);
        } else if (h[0] == 1) {
            const eq_logistic_params p = {LOGISTIC_INIT};
            eq_logistic_s8(h[7] ? out : in_buf, out, n, &p);
        } else {
            const eq_tanh_params p = {TANH_INIT};
            eq_tanh_s8(h[7] ? out : in_buf, out, n, &p);
        }
        fwrite(out, 1, (size_t)n, stdout);
    }
    return 0;
}
"""


def _tensor(scale: float, zero_point: int, dtype: str = "int8", name: str = "t") -> Tensor:
    quantization = Quantization(np.array([scale], np.float32), np.array([zero_point], np.int64))
    return Tensor(index=0, name=name, shape=(1, 8), dtype=dtype, quantization=quantization)


def _field_names() -> dict[str, list[str]]:
    """The params dicts' keys, i.e. the designated initializers the code generator will render."""
    x = _tensor(0.05, 3)
    return {"SOFTMAX": list(nonlinear.softmax_params(x, _tensor(1 / 256, -128), 1.0)),
            "LOGISTIC": list(nonlinear.logistic_params(x, _tensor(1 / 256, -128))),
            "TANH": list(nonlinear.tanh_params(x, _tensor(1 / 128, 0)))}


def _initializer(names: list[str]) -> str:
    return ", ".join(f".{name} = h[{1 + i}]" for i, name in enumerate(names))


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def nonlinear_driver(tmp_path_factory) -> Path:
    """The C driver linked with the kernels, with UBSan aborting on any undefined behaviour."""
    require_tools("gcc")
    names = _field_names()
    build = tmp_path_factory.mktemp("nonlinear")
    source = build / "driver.c"
    source.write_text(DRIVER.replace("SOFTMAX_INIT", _initializer(names["SOFTMAX"]))
                      .replace("LOGISTIC_INIT", _initializer(names["LOGISTIC"]))
                      .replace("TANH_INIT", _initializer(names["TANH"])))
    exe = build / "driver"
    subprocess.run(["gcc", *CFLAGS, "-O2", "-fsanitize=undefined", "-fno-sanitize-recover=all",
                    f"-I{KERNELS}", "-o", str(exe), str(source), *map(str, SOURCES)],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.fixture(scope="session")
def activations_int8() -> TFLiteModel:
    """One int8 model with a Softmax / sigmoid / tanh branch per configuration, converted once."""
    from edgeq.tfenv import captured_output, keras, tensorflow

    tf, K = tensorflow(), keras()
    configs = ([("softmax", shape, lo, hi) for shape, lo, hi in SOFTMAX_CONFIGS]
               + [(kind, (256,), lo, hi) for kind in ("sigmoid", "tanh") for lo, hi in ACTIVATION_RANGES])
    inputs, outputs = [], []
    for i, (kind, shape, _, _) in enumerate(configs):
        x = K.Input(shape=shape, batch_size=1, name=f"in{i:02d}")
        layer = K.layers.Softmax() if kind == "softmax" else K.layers.Activation(kind)
        inputs.append(x)
        outputs.append(layer(x))
    model = K.Model(inputs, outputs)
    rng = np.random.default_rng(7)

    def representative():
        for _ in range(8):
            sample = {}
            for i, (_, shape, lo, hi) in enumerate(configs):
                a = rng.uniform(lo, hi, size=(1, *shape)).astype(np.float32)
                a.flat[0], a.flat[-1] = lo, hi
                sample[f"in{i:02d}"] = a
            yield sample

    signature = [[tf.TensorSpec((1, *shape), tf.float32, name=f"in{i:02d}")
                  for i, (_, shape, _, _) in enumerate(configs)]]
    with tempfile.TemporaryDirectory() as tmp, captured_output():
        model.export(tmp, format="tf_saved_model", input_signature=signature, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converted = read_model(converter.convert())
    assert converted.op_counts() == {"LOGISTIC": 7, "SOFTMAX": 9, "TANH": 7}
    return converted


# ------------------------------------------------------------------------------------------------ harness

def _patched(model: TFLiteModel, rng: np.random.Generator) -> TFLiteModel:
    """The model with random input scales / zero points and softmax betas (TFLM reads them all at Prepare)."""
    import flatbuffers

    from edgeq.tflite.schema import schema

    fb = schema()
    tree = fb.ModelT.InitFromPackedBuf(bytearray(model.data), 0)
    graph = tree.subgraphs[0]
    for op in model.main.operators:
        quantization = graph.tensors[op.inputs[0]].quantization
        if op.opcode == "SOFTMAX":
            beta = float(rng.choice([1.0, 0.5, 2.0, 0.1, 3.7, 10.0]))
            depth = model.main.tensors[op.inputs[0]].shape[-1]
            # beta * scale in [1e-4, 60]; long rows need >= 0.02 or every row would abort TFLM
            low = -1.7 if depth >= 512 else -4.0
            scale = 10.0 ** rng.uniform(low, 1.78) / beta
            graph.operators[op.index].builtinOptions.beta = beta
        else:
            scale = 10.0 ** rng.uniform(-5.0, 1.6)
        quantization.scale = np.array([scale], np.float32)
        quantization.zeroPoint = np.array([rng.integers(-128, 128)], np.int64)
    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return read_model(bytes(builder.Output()))


def _softmax_rows(shape: tuple[int, ...], beta_scale: float, rng: np.random.Generator, mode: int) -> np.ndarray:
    """Rows that stress different parts of softmax: full range, near-ties, constant rows, a bell."""
    rows = int(np.prod(shape[:-1]))
    depth = shape[-1]
    if mode == 0:
        x = rng.integers(-128, 128, size=(rows, depth))
    elif mode == 1:
        x = rng.integers(-128, 128, size=(rows, 1)) - rng.integers(0, 1 + rng.integers(0, 9, (rows, 1)),
                                                                   size=(rows, depth))
    elif mode == 2:
        x = np.repeat(rng.integers(-128, 128, size=(rows, 1)), depth, axis=1)
    else:
        x = rng.normal(rng.uniform(-100, 100), rng.uniform(1, 60), size=(rows, depth))
    x = np.clip(np.round(x), -128, 127)
    for row in x:
        if np.exp(beta_scale * (row - row.max())).sum() > TFLM_SOFTMAX_SUM_LIMIT:
            row[:] = -128  # a sparse row instead: few values can be close to the maximum
            picks = rng.choice(depth, size=int(rng.integers(1, 40)), replace=False)
            row[picks] = rng.integers(-128, 128, size=picks.size)
    return x.reshape(shape).astype(np.int8)


def _inputs(model: TFLiteModel, rng: np.random.Generator, mode: int, exhaustive: bool) -> list[np.ndarray]:
    graph = model.main
    xs: list[np.ndarray] = [np.zeros(0, np.int8)] * len(graph.inputs)
    for op in graph.operators:
        tensor = graph.tensors[op.inputs[0]]
        if op.opcode == "SOFTMAX":
            beta_scale = float(op.options.beta) * float(tensor.quantization.scale[0])
            x = _softmax_rows(tensor.shape, beta_scale, rng, mode)
        elif exhaustive:
            x = np.arange(-128, 128, dtype=np.int8).reshape(tensor.shape)
        else:
            x = rng.integers(-128, 128, size=tensor.shape).astype(np.int8)
        xs[graph.inputs.index(op.inputs[0])] = x
    return xs


def _params(model: TFLiteModel, op) -> dict[str, int]:
    graph = model.main
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if op.opcode == "SOFTMAX":
        return nonlinear.softmax_params(x, y, op.options.beta)
    return nonlinear.logistic_params(x, y) if op.opcode == "LOGISTIC" else nonlinear.tanh_params(x, y)


def _tflm_cases(model: TFLiteModel, rng: np.random.Generator, runs: int, exhaustive: bool = False) -> list[dict]:
    """Run TFLM `runs` times and return one case per (run, op): params, input, TFLM's output."""
    from edgeq.tflite.runners import TFLMRunner

    graph = model.main
    runner = TFLMRunner(model)
    cases = []
    for run in range(runs):
        xs = _inputs(model, rng, run % 4, exhaustive)
        ys = runner.run(xs)
        for op in graph.operators:
            x = xs[graph.inputs.index(op.inputs[0])]
            tensor = graph.tensors[op.inputs[0]]
            cases.append({"op": op.opcode, "params": _params(model, op), "x": x,
                          "want": ys[graph.outputs.index(op.outputs[0])].reshape(x.shape),
                          "in_place": bool((run + op.index) % 2),
                          "what": f"op {op.index} {op.opcode} shape {tensor.shape} "
                                  f"scale {float(tensor.quantization.scale[0]):.6g} "
                                  f"zp {int(tensor.quantization.zero_point[0])} "
                                  f"beta {getattr(op.options, 'beta', '-')}"})
    return cases


def _run_driver(driver: Path, cases: list[dict]) -> list[np.ndarray]:
    blob = bytearray()
    for case in cases:
        x = case["x"]
        depth = x.shape[-1]
        values = list(case["params"].values()) + [0] * (4 - len(case["params"]))
        header = [OPS.index(case["op"]), *values, x.size // depth, depth, int(case["in_place"])]
        blob += np.array(header, "<i4").tobytes() + np.ascontiguousarray(x).tobytes()
    done = subprocess.run([str(driver)], input=bytes(blob), capture_output=True, timeout=120)
    assert done.returncode == 0, f"the C driver failed ({done.returncode}): {done.stderr.decode()[:500]}"
    out = np.frombuffer(done.stdout, np.int8)
    assert out.size == sum(case["x"].size for case in cases)
    results, offset = [], 0
    for case in cases:
        results.append(out[offset:offset + case["x"].size].reshape(case["x"].shape))
        offset += case["x"].size
    return results


def _assert_bit_exact(driver: Path, cases: list[dict]) -> None:
    problems = []
    for case, got in zip(cases, _run_driver(driver, cases), strict=True):
        diff = np.abs(got.astype(np.int32) - case["want"].astype(np.int32))
        if diff.any():
            i = int(np.argmax(diff))
            problems.append(f"{case['what']}: {int((diff > 0).sum())} of {diff.size} differ, max "
                            f"{int(diff.max())} LSB (input {int(case['x'].flat[i])}: TFLM "
                            f"{int(case['want'].flat[i])}, C {int(got.flat[i])})")
    assert not problems, "\n".join(problems[:10])


# ------------------------------------------------------------------------------------------------ tests

def test_param_dicts_follow_the_struct_declarations():
    header = (KERNELS / "eq_nonlinear.h").read_text()
    for op, names in _field_names().items():
        struct = re.search(rf"typedef struct eq_{op.lower()}_params \{{(.*?)\}}", header, re.S)
        assert struct, f"eq_{op.lower()}_params is not declared"
        declared = re.findall(r"int32_t\s+(\w+);", struct.group(1))
        assert names == declared


def test_sources_compile_warning_free_on_the_host(tmp_path):
    require_tools("gcc")
    for source in SOURCES:
        subprocess.run(["gcc", *CFLAGS, "-O2", f"-I{KERNELS}", "-c", str(source), "-o", str(tmp_path / "k.o")],
                       check=True, capture_output=True, text=True)
    if shutil.which("g++"):  # the header is also included from C++ translation units
        use = tmp_path / "use.cpp"
        use.write_text('#include "eq_nonlinear.h"\nvoid f(const int8_t *i, int8_t *o, const eq_tanh_params *p) '
                       "{ eq_tanh_s8(i, o, 1, p); }\n")
        subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{KERNELS}", "-c", str(use),
                        "-o", str(tmp_path / "use.o")], check=True, capture_output=True, text=True)


@pytest.mark.arm
def test_sources_compile_for_cortex_m4(tmp_path):
    require_tools("arm-none-eabi-gcc")
    for source in SOURCES:
        done = subprocess.run(["arm-none-eabi-gcc", *CFLAGS, "-O2", "-mcpu=cortex-m4", "-mthumb", f"-I{KERNELS}",
                               "-c", str(source), "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_converted_model_bit_exact_on_random_inputs(activations_int8, nonlinear_driver):
    cases = _tflm_cases(activations_int8, np.random.default_rng(11), runs=24)
    _assert_bit_exact(nonlinear_driver, cases)


@pytest.mark.slow
def test_logistic_and_tanh_exhaustive_over_all_int8_inputs(activations_int8, nonlinear_driver):
    rng = np.random.default_rng(12)
    models = [activations_int8] + [_patched(activations_int8, rng) for _ in range(24)]
    cases = [case for model in models for case in _tflm_cases(model, rng, runs=1, exhaustive=True)
             if case["op"] != "SOFTMAX"]
    assert len(cases) == 25 * 14 and all(np.array_equal(np.sort(c["x"].ravel()), np.arange(-128, 128)) for c in cases)
    _assert_bit_exact(nonlinear_driver, cases)


@pytest.mark.slow
def test_softmax_bit_exact_across_scales_and_betas(activations_int8, nonlinear_driver):
    rng = np.random.default_rng(13)
    cases = [case for _ in range(20) for case in _tflm_cases(_patched(activations_int8, rng), rng, runs=4)
             if case["op"] == "SOFTMAX"]
    _assert_bit_exact(nonlinear_driver, cases)


def test_softmax_rows_tflm_would_abort_on_round_to_zero(nonlinear_driver):
    # Sums of exps >= 512 crash TFLM (TFLITE_CHECK); the kernel gives the correctly rounded answer:
    # each of n >= 512 equal values is 1/n <= 0.5 LSB, which rounds to the zero point.
    params = nonlinear.softmax_params(_tensor(0.05, 0), _tensor(1 / 256, -128), 1.0)
    cases = [{"op": "SOFTMAX", "params": params, "x": np.full((2, n), v, np.int8), "in_place": False}
             for n, v in ((512, 0), (1000, -7), (4000, 127))]
    for got in _run_driver(nonlinear_driver, cases):
        assert (got == -128).all()


@pytest.mark.slow
def test_params_refuse_what_tflm_refuses(activations_int8):
    """Where TFLM's Prepare fails, the parameter functions raise instead of emitting wrong code."""
    import flatbuffers

    from edgeq.errors import EdgeqError
    from edgeq.tflite.runners import TFLMRunner
    from edgeq.tflite.schema import schema

    graph = activations_int8.main
    softmax = next(op for op in graph.operators if op.opcode == "SOFTMAX")
    logistic = next(op for op in graph.operators if op.opcode == "LOGISTIC")
    for op, scale, zero_point in ((softmax, 1 / 255, -128), (softmax, 1 / 256, 0), (logistic, 1 / 256, 0)):
        tree = schema().ModelT.InitFromPackedBuf(bytearray(activations_int8.data), 0)
        quantization = tree.subgraphs[0].tensors[op.outputs[0]].quantization
        quantization.scale = np.array([scale], np.float32)
        quantization.zeroPoint = np.array([zero_point], np.int64)
        builder = flatbuffers.Builder(1024)
        builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
        broken = read_model(bytes(builder.Output()))
        with pytest.raises(EdgeqError):
            TFLMRunner(broken)
        with pytest.raises(UnsupportedOpError):
            _params(broken, broken.main.operators[op.index])
    with pytest.raises(UnsupportedOpError, match="not quantized int8"):
        nonlinear.tanh_params(_tensor(0.1, 0, dtype="int16"), _tensor(1 / 128, 0))
    with pytest.raises(UnsupportedOpError, match="beta"):
        nonlinear.softmax_params(_tensor(0.1, 0), _tensor(1 / 256, -128), 0.0)
