"""`edgeq convert` end to end: integer-only proof op by op, accuracy against the float model, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeq.errors import QuantizationError, UsageError, VerifyError
from edgeq.pipeline import ConvertOptions, convert
from edgeq.quantize.converter import QuantizeOptions, float_ops, prove_integer_only, quantize
from edgeq.tflite import read_model
from edgeq.tflite.runners import LiteRTRunner, TFLMRunner, dequantize_output, quantize_input

INTEGER = {"int8", "int16", "int32", "int64", "uint8"}
# The bound for the int8 example on its 397 validation images (measured: max 0.073, mean 0.00056, 99.7% agree).
MAX_ABS_PROB_ERROR = 0.12
MEAN_ABS_PROB_ERROR = 0.003
MIN_TOP1_AGREEMENT = 0.98


def _run_int(runner, tflite, samples):
    inp, out = tflite.main.input_tensors()[0], tflite.main.output_tensors()[0]
    raw = [runner.run([quantize_input(samples.arrays[0][i:i + 1], inp)])[0] for i in range(samples.count)]
    return np.concatenate(raw), np.concatenate([dequantize_output(r, out) for r in raw])


def test_int8_model_is_integer_op_by_op(digits_int8):
    model = digits_int8
    assert model.op_counts() == {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 2, "MAX_POOL_2D": 1,
                                 "RESHAPE": 1, "SOFTMAX": 1}
    tensors = model.main.tensors
    for op in model.main.operators:
        dtypes = {tensors[i].dtype for i in (*op.inputs, *op.outputs) if i >= 0}
        assert dtypes <= INTEGER, f"{op.opcode} has {dtypes}"
        activations = [tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0 and not tensors[i].is_constant]
        assert all(t.dtype == "int8" for t in activations), op.opcode
    for op in model.main.operators:
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights = tensors[op.inputs[1]]
            channels = weights.shape[3] if op.opcode == "DEPTHWISE_CONV_2D" else weights.shape[0]
            assert weights.quantization.scale.size == channels  # per-channel
            assert np.all(weights.quantization.zero_point == 0)
    assert [t.shape for t in model.main.input_tensors()] == [(1, 8, 8, 1)]
    assert float_ops(model) == []


def test_int8_matches_float_within_the_stated_bound(digits_source, digits_int8, digits_val):
    reference = digits_source.predict(digits_val.arrays)[0]
    _, litert = _run_int(LiteRTRunner(digits_int8), digits_int8, digits_val)
    error = np.abs(litert - reference)
    assert error.max() <= MAX_ABS_PROB_ERROR
    assert error.mean() <= MEAN_ABS_PROB_ERROR
    assert (litert.argmax(1) == reference.argmax(1)).mean() >= MIN_TOP1_AGREEMENT
    assert (litert.argmax(1) == digits_val.labels).mean() >= (reference.argmax(1) == digits_val.labels).mean() - 0.01


def test_litert_reference_kernels_within_one_lsb_of_tflm(digits_int8, digits_val):
    raw_litert, _ = _run_int(LiteRTRunner(digits_int8, reference=True), digits_int8, digits_val)
    raw_tflm, _ = _run_int(TFLMRunner(digits_int8), digits_int8, digits_val)
    assert np.abs(raw_litert.astype(int) - raw_tflm.astype(int)).max() <= 1


def test_int16x8_has_int16_activations_and_is_closer_to_float(digits_source, digits_int16x8, digits_int8,
                                                              digits_val):
    tensors = digits_int16x8.main.tensors
    assert {tensors[i].dtype for i in digits_int16x8.main.inputs} == {"int16"}
    for op in digits_int16x8.main.operators:
        activations = {tensors[i].dtype for i in op.outputs}
        assert activations == {"int16"}, op.opcode
    reference = digits_source.predict(digits_val.arrays)[0]
    _, wide = _run_int(TFLMRunner(digits_int16x8), digits_int16x8, digits_val)
    _, narrow = _run_int(TFLMRunner(digits_int8), digits_int8, digits_val)
    assert np.abs(wide - reference).mean() < np.abs(narrow - reference).mean()


@pytest.mark.parametrize(("io_type", "dtype", "edge_ops"), [("uint8", "uint8", {"QUANTIZE": 2}),
                                                            ("float32", "float32", {"QUANTIZE": 1, "DEQUANTIZE": 1})])
def test_io_types(digits_source, digits_calib, io_type, dtype, edge_ops):
    model = quantize(digits_source, QuantizeOptions("int8", io_type), digits_calib, integer_only=True)
    assert model.main.input_tensors()[0].dtype == dtype
    assert model.main.output_tensors()[0].dtype == dtype
    counts = model.op_counts()
    assert {op: counts.get(op, 0) for op in edge_ops} == edge_ops


def test_float_modes_are_refused_for_microcontrollers_and_caught_by_the_proof(digits_source, digits_calib):
    with pytest.raises(UsageError, match="mode dynamic is not available for cortex-m4"):
        convert("unused.keras", "unused", ConvertOptions(target="cortex-m4", mode="dynamic"))
    hybrid = quantize(digits_source, QuantizeOptions("dynamic"), None, integer_only=False)
    offenders = float_ops(hybrid, digits_source.layer_names)
    assert {op.opcode for op in offenders} >= {"CONV_2D", "FULLY_CONNECTED"}
    assert "conv1" in {op.layer for op in offenders}
    with pytest.raises(QuantizationError, match="not integer-only: op 0 CONV_2D from layer 'conv1'"):
        prove_integer_only(hybrid, digits_source.layer_names)


def test_android_target_accepts_float16(tmp_path, digits_keras_path):
    result = convert(digits_keras_path, tmp_path / "android",
                     ConvertOptions(target="android-arm64", mode="float16"))
    assert result.report["quantization"] == {"mode": "float16", "io_type": "float32", "integer_only": False}
    assert result.tflite.main.input_tensors()[0].dtype == "float32"


def test_report_contents(digits_convert_dir, digits_keras_path):
    out, result = digits_convert_dir
    report = json.loads((out / "report.json").read_text())
    assert report == result.report
    assert report["source"]["file"] == "digits.keras"
    assert report["target"]["name"] == "cortex-m4"
    assert report["quantization"] == {"mode": "int8", "io_type": "int8", "integer_only": True}
    tflite = read_model(out / "model.tflite")
    assert report["model"]["size_bytes"] == tflite.size == (out / "model.tflite").stat().st_size
    assert report["model"]["sha256"] == tflite.sha256
    assert report["model"]["ops"] == tflite.op_counts()
    (inp,) = report["model"]["inputs"]
    assert inp["shape"] == [1, 8, 8, 1] and inp["dtype"] == "int8"
    assert inp["scale"] == pytest.approx(1 / 255) and inp["zero_point"] == -128
    assert report["calibration"]["samples"] == 200 and report["calibration"]["synthetic"] is False
    import hashlib

    assert report["source"]["sha256"] == hashlib.sha256(digits_keras_path.read_bytes()).hexdigest()
    assert str(out.parent) not in (out / "report.json").read_text()  # no absolute paths


def test_reconversion_is_byte_identical(tmp_path, digits_convert_dir, digits_keras_path, repo_root):
    out, _ = digits_convert_dir
    again = tmp_path / "again"
    convert(digits_keras_path, again, ConvertOptions(target="cortex-m4", calib=repo_root / "examples/digits_calib.npz"))
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert {"model.tflite", "report.json"} <= {str(f) for f in files}
    for name in files:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


@pytest.fixture(scope="module")
def compiled_c_convert(tmp_path_factory, digits_keras_path, repo_root):
    """convert --runtime c --verify on the example: the compiled-C engine, run on an emulated Cortex-M4."""
    out = tmp_path_factory.mktemp("runtime_c") / "out"
    options = ConvertOptions(target="cortex-m4", calib=repo_root / "examples/digits_calib.npz", runtime="c",
                             verify=True, verify_samples=3)
    return out, convert(digits_keras_path, out, options)


def test_runtime_c_report_states_the_arena_against_tflm(compiled_c_convert):
    out, result = compiled_c_convert
    memory = result.report["project"]["engine_memory"]
    assert result.report["project"]["dir"] == "compiled-c"
    # the default name gives model.h / model.c, not model_model.h (a name of its own gives <name>_model.h)
    assert (out / "compiled-c" / "model.h").exists() and (out / "compiled-c" / "model.c").exists()
    assert not list((out / "compiled-c").glob("model_model.*"))
    assert memory["lower_bound_bytes"] <= memory["arena_bytes"] == result.report["project"]["arena_bytes"]
    assert memory["arena_bytes"] <= 0.75 * memory["tflm_host_arena_bytes"]
    assert memory["weights_bytes"] > 0


def test_runtime_c_judges_the_target_with_the_engines_figures(compiled_c_convert):
    """report.json `target` for --runtime c: the engine's code, weights and tables in flash (measured with
    arm-none-eabi-gcc), its arena and the I/O buffers in RAM, latency from the instructions --verify counted."""
    _, result = compiled_c_convert
    target, memory, emulation = result.report["target"], result.report["project"]["engine_memory"], \
        result.report["emulation"]
    assert (target["runtime"], target["kernels"], target["arena"]) == ("c", "compiled-c", None)
    engine = target["engine"]
    assert engine["path"] == "dsp" and engine["code_measured"] is True
    assert (engine["arena_bytes"], engine["weights_bytes"], engine["io_bytes"]) == \
        (memory["arena_bytes"], memory["weights_bytes"], memory["io_bytes"])
    assert target["flash"]["parts_bytes"]["engine code"] == engine["code_bytes"]
    assert target["ram"]["parts_bytes"]["arena"] == engine["arena_bytes"]
    # The self-check firmware's model objects: the engine plus one marker call per operator.
    image = emulation["memory"]
    assert 0 <= image["model_flash_bytes"] - engine["flash_bytes"] <= 10 * (len(emulation["per_op"]) + 1)
    assert image["model_ram_bytes"] == engine["arena_bytes"]
    latency = target["latency"]
    assert latency["instructions_counted"] is True
    assert latency["instructions"] == emulation["instructions_per_inference"]


def test_runtime_c_verify_runs_on_the_emulated_board(compiled_c_convert):
    out, result = compiled_c_convert
    emulation = json.loads((out / "report.json").read_text())["emulation"]
    assert emulation == result.report["emulation"]
    assert emulation["qemu_machine"] == "mps2-an386" and emulation["samples"] == 3
    assert emulation["outputs_equal"] is True and emulation["max_abs_diff"] == 0
    assert emulation["instructions_per_inference"] > 0


def test_verify_with_tflm_needs_a_tflm_tree_before_any_work(tmp_path, digits_keras_path, monkeypatch):
    monkeypatch.delenv("EDGEQ_TFLM_TREE", raising=False)
    with pytest.raises(VerifyError, match="needs a TFLM tree: pass --tflm-tree DIR or set EDGEQ_TFLM_TREE"):
        convert(digits_keras_path, tmp_path / "o", ConvertOptions(verify=True, synthetic_calib=True))
    assert not (tmp_path / "o").exists()


def test_synthetic_calibration_only_on_request_and_loudly(tmp_path, digits_keras_path, run_cli):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["convert", str(digits_keras_path), "--synthetic-calib", "--calib-samples", "8",
                                 "-o", str(out), "--json"])
    assert code == 0, err
    assert "warning: calibration used SYNTHETIC random data" in err
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(stdout)
    assert report["calibration"]["synthetic"] is True and report["calibration"]["samples"] == 8
    assert report["calibration"]["source"] == "synthetic:normal(0,1):8:seed0"
    assert any("SYNTHETIC" in w for w in report["warnings"])


def test_calib_samples_draws_that_many_rows_from_the_file(tmp_path, monkeypatch, digits_source, digits_int8,
                                                          repo_root):
    """--calib-samples N calibrates on the seeded draw of N rows (the quantizer is stubbed: only what it is
    given matters here), and report.json says so."""
    from edgeq import pipeline
    from edgeq.samples import select_indices

    given = []
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: digits_source)
    monkeypatch.setattr(pipeline, "quantize", lambda source, options, samples, **k: given.append(samples)
                        or digits_int8)
    calib = repo_root / "examples" / "digits_calib.npz"
    result = convert(calib.parent / "digits.keras", tmp_path / "out", ConvertOptions(calib=calib, calib_samples=50))
    (samples,) = given
    with np.load(calib) as npz:
        rows = npz["x"]
    np.testing.assert_array_equal(samples.arrays[0].reshape(50, -1),
                                  rows[select_indices(len(rows), 50)].reshape(50, -1).astype(np.float32))
    assert result.report["calibration"]["samples"] == 50
