"""edgeq.validate on real models: numbers checked against independent runs of the interpreters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import CalibrationError, EdgeqError, ModelLoadError
from edgeq.load.loader import producer_layer
from edgeq.samples import select_indices
from edgeq.tflite import read_model
from edgeq.tflite.runners import LiteRTRunner, TFLMRunner, dequantize_output, quantize_input
from edgeq.validate.layers import match_layers
from edgeq.validate.metrics import sqnr_db
from edgeq.validate.session import DEFAULT_TFLM_SAMPLES, Thresholds, ValidationOptions, validate_model

DIGITS_VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


def _tflm_subset(digits_int8, digits_val):
    """TFLM's raw outputs on the seeded subset validate_model() uses, computed here without validate_model()."""
    rows = select_indices(digits_val.count, DEFAULT_TFLM_SAMPLES)
    x = quantize_input(digits_val.arrays[0][rows], digits_int8.main.input_tensors()[0])
    runner = TFLMRunner(digits_int8)
    return rows, np.concatenate([runner.run([x[i:i + 1]])[0] for i in range(len(rows))])


def test_example_passes_default_thresholds(digits_report):
    report = digits_report
    assert report.passed, report.failure_message()
    assert {(c.interpreter, c.metric) for c in report.checks} == {
        ("litert", "accuracy_drop_pp"), ("litert", "top1_agreement"),
        ("tflm", "accuracy_drop_pp"), ("tflm", "top1_agreement")}
    assert all(c.status == "passed" for c in report.checks)
    assert report.interpreters["litert"].samples == 397
    assert report.interpreters["tflm"].samples == DEFAULT_TFLM_SAMPLES
    assert "reference kernels" in report.to_dict()["litert_vs_tflm"]["litert_kernels"]


def test_tflm_metrics_equal_an_independent_run(digits_report, digits_int8, digits_val, digits_source):
    rows, raw = _tflm_subset(digits_int8, digits_val)
    scores = dequantize_output(raw, digits_int8.main.output_tensors()[0])
    expected = digits_source.predict([digits_val.arrays[0][rows]])[0]
    labels = digits_val.labels[rows]
    report = digits_report
    assert report.metric("tflm", "top1_agreement") == np.mean(scores.argmax(1) == expected.argmax(1))
    assert report.metric("tflm", "top1_accuracy") == np.mean(scores.argmax(1) == labels)
    drop = 100 * (np.mean(expected.argmax(1) == labels) - np.mean(scores.argmax(1) == labels))
    assert report.metric("tflm", "accuracy_drop_pp") == pytest.approx(drop)
    assert report.metric("tflm", "sqnr_db") == pytest.approx(sqnr_db(expected, scores), rel=1e-6)
    assert report.metric("tflm", "max_abs_error") == pytest.approx(np.abs(expected - scores).max(), rel=1e-6)


def test_litert_vs_tflm_counts_equal_an_independent_run(digits_report, digits_int8, digits_val):
    rows, tflm = _tflm_subset(digits_int8, digits_val)
    x = quantize_input(digits_val.arrays[0][rows], digits_int8.main.input_tensors()[0])
    litert = LiteRTRunner(digits_int8, reference=True)
    lite = np.concatenate([litert.run([x[i:i + 1]])[0] for i in range(len(rows))])
    diff = np.abs(lite.astype(int) - tflm.astype(int))
    (entry,) = digits_report.litert_vs_tflm["outputs"]
    assert entry["compared_values"] == tflm.size
    assert entry["differing_values"] == int(np.count_nonzero(diff))
    assert entry["max_difference_lsb"] == int(diff.max())


def test_layers_map_to_keras_names_and_the_softmax_output(digits_int8, digits_source):
    graph = digits_int8.main
    outputs = {graph.outputs[0]: producer_layer(digits_source.keras_model.outputs[0])}
    matches, unmatched = match_layers(digits_int8, digits_source.keras_model, outputs)
    assert [m.layer for m in matches] == ["conv1", "dwconv", "pwconv", "pool", "flatten", "fc1", "probs"]
    assert [m.opcode for m in matches] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE",
                                           "FULLY_CONNECTED", "SOFTMAX"]
    # 'probs' is Dense+softmax: the logits tensor mentions it first, the model output is its real value
    assert matches[-1].tensor.index == graph.outputs[0]
    assert unmatched == []


def test_per_layer_sqnr_equals_an_independent_computation(digits_report, digits_int8, digits_val, digits_source):
    layers = digits_report.layers
    assert layers["compared"] and layers["interpreter"] == "tflm" and layers["samples"] == DEFAULT_TFLM_SAMPLES
    rows = layers["rows"]
    assert [r["sqnr_db"] for r in rows] == sorted(r["sqnr_db"] for r in rows)  # worst first
    row = next(r for r in rows if r["layer"] == "dwconv")
    tensor = digits_int8.main.tensors[row["tensor_index"]]

    from edgeq.tfenv import keras

    model = digits_source.keras_model
    probe = keras().Model(model.inputs, model.get_layer("dwconv").output)
    subset = select_indices(digits_val.count, DEFAULT_TFLM_SAMPLES)
    expected = np.asarray(probe(digits_val.arrays[0][subset]))
    x = quantize_input(digits_val.arrays[0][subset], digits_int8.main.input_tensors()[0])
    runner = TFLMRunner(digits_int8, preserve_all_tensors=True)
    actual = []
    for i in range(len(subset)):
        runner.run([x[i:i + 1]])
        actual.append(dequantize_output(runner.tensor(tensor.index), tensor))
    assert row["sqnr_db"] == pytest.approx(sqnr_db(expected, np.concatenate(actual)), rel=1e-6)
    assert 20 < row["sqnr_db"] < 80  # an int8 activation: real error, not zero, not noise


def test_model_from_different_weights_fails(mismatched_int8_path, digits_source):
    report = validate_model(mismatched_int8_path, DIGITS_VAL, digits_source)
    assert not report.passed
    failed = {(c.interpreter, c.metric) for c in report.failures}
    assert {("tflm", "top1_agreement"), ("litert", "top1_agreement"), ("tflm", "accuracy_drop_pp")} <= failed
    assert report.metric("tflm", "top1_agreement") < 0.5
    message = report.failure_message()
    assert message.startswith("validation failed: ") and "top-1 agreement with float" in message


def test_litert_refused_model_validates_with_tflm_alone(person_path, person_pair, tmp_path):
    # person_detect's quirk: LiteRT rejects its per-channel quantization; TFLM runs it (labels: 0 no person,
    # 1 person)
    images, labels = person_pair
    np.savez(tmp_path / "person.npz", x=images, y=labels)
    report = validate_model(person_path, tmp_path / "person.npz",
                      options=ValidationOptions(thresholds=Thresholds(min_accuracy=1.0)))
    litert = report.interpreters["litert"]
    assert not litert.ran and "quantized_dimension" in litert.reason
    assert report.to_dict()["interpreters"]["litert"]["skipped"].startswith("LiteRT cannot load the model")
    assert report.metric("tflm", "top1_accuracy") == 1.0
    evaluated = [c for c in report.checks if c.status != "skipped"]
    assert [(c.interpreter, c.metric, c.status) for c in evaluated] == [("tflm", "top1_accuracy", "passed")]
    assert report.litert_vs_tflm == {"compared": False, "reason": "needs both LiteRT and TFLM to run"}


def test_multi_input_multi_output_model(mimo):
    reference, tflite, data = mimo
    from edgeq.tflite.signature import output_names

    assert sorted(output_names(tflite)) == ["cls", "emb", "reg"]  # the signature carries the Keras names
    report = validate_model(tflite, data, reference)
    assert sorted(o.name for o in report.outputs) == ["cls", "emb", "reg"]
    for output in report.outputs:  # each .tflite output compared with the right reference output
        assert report.metric("tflm", "sqnr_db", output.name) > 25
    labelled = [o.name for o in report.outputs if o.labelled]
    assert labelled == ["cls"]
    assert report.metric("litert", "top1_accuracy", "cls") > 0.9
    kinds = {(c.output, c.metric) for c in report.checks if c.interpreter == "tflm"}
    assert kinds == {("reg", "sqnr_db"), ("cls", "top1_agreement"), ("cls", "accuracy_drop_pp"),
                     ("emb", "top1_agreement")}
    assert {r["layer"] for r in report.layers["rows"]} == {"cat", "hid", "reg", "cls", "emb"}


def test_int16x8_model(digits_int16x8, digits_source, digits_report):
    report = validate_model(digits_int16x8, DIGITS_VAL, digits_source, ValidationOptions(tflm_samples=50))
    assert report.passed, report.failure_message()
    assert report.outputs[0].dtype == "int16"
    # 16-bit activations: the output is closer to float than the int8 model's
    assert report.metric("litert", "sqnr_db") > digits_report.metric("litert", "sqnr_db") + 3
    (entry,) = report.litert_vs_tflm["outputs"]
    assert entry["compared_values"] == 500 and entry["max_difference_lsb"] is not None


def _asked_rows(monkeypatch) -> list[tuple[bool, int]]:
    """(XNNPACK?, rows) of every LiteRT invoke validate_model makes: what the interpreter computes."""
    asked: list[tuple[bool, int]] = []
    run = LiteRTRunner.run

    def counting(self, inputs):
        asked.append((not self.reference, len(inputs[0])))
        return run(self, inputs)

    monkeypatch.setattr(LiteRTRunner, "run", counting)
    return asked


def test_reference_kernels_run_one_row_per_invoke_and_never_pad(sine_int8_path, tmp_path, monkeypatch):
    np.savez(tmp_path / "sine.npz", x=np.linspace(0, 6.28, 40, dtype=np.float32)[:, None])
    asked = _asked_rows(monkeypatch)
    report = validate_model(sine_int8_path, tmp_path / "sine.npz", options=ValidationOptions(batch_size=16, jobs=1))
    # reference kernels cost the same per row in a batch: one invoke per sample, 40 rows for 40 samples
    assert asked == [(False, 1)] * 40
    assert "one sample per invoke" in report.interpreters["litert"].detail


def test_batched_litert_sizes_the_last_batch_exactly(sine_int8_path, tmp_path, monkeypatch):
    # the sine model's FULLY_CONNECTED ops accept a batch: with XNNPACK, LiteRT runs 16 samples per invoke
    np.savez(tmp_path / "sine.npz", x=np.linspace(0, 6.28, 40, dtype=np.float32)[:, None])
    model = sine_int8_path
    asked = _asked_rows(monkeypatch)
    batched = validate_model(model, tmp_path / "sine.npz", options=ValidationOptions(
        batch_size=16, litert_reference_kernels=False, jobs=1))
    batch_invokes = [rows for _, rows in asked if rows > 1]
    assert batch_invokes == [16, 16, 8]  # 40 rows computed for 40 samples: the partial batch is not padded
    assert sum(rows for _, rows in asked if rows == 1) == 2  # the one-time check against batch-1 results
    del asked[:]
    single = validate_model(model, tmp_path / "sine.npz", options=ValidationOptions(
        batch_size=1, litert_reference_kernels=False, jobs=1))
    assert asked == [(True, 1)] * 40
    assert "batched, up to 16 samples per invoke" in batched.interpreters["litert"].detail
    assert "one sample per invoke" in single.interpreters["litert"].detail
    assert [o["metrics"] for o in batched.to_dict()["outputs"]] == [o["metrics"] for o in single.to_dict()["outputs"]]
    assert batched.litert_vs_tflm == single.litert_vs_tflm
    assert batched.litert_vs_tflm["outputs"][0]["compared_values"] == 40


def test_float_model_compares_raw_floats(sine_float_path, tmp_path):
    np.savez(tmp_path / "sine.npz", x=np.linspace(0, 6.28, 20, dtype=np.float32)[:, None])
    report = validate_model(sine_float_path, tmp_path / "sine.npz")
    (entry,) = report.litert_vs_tflm["outputs"]
    assert entry["max_difference_lsb"] is None and entry["compared_values"] == 20
    assert report.outputs[0].kind == "regression" and not report.outputs[0].quantized


def test_reference_that_does_not_match_is_one_line_error(digits_int8, mimo):
    reference, _, _ = mimo
    with pytest.raises(ModelLoadError) as info:
        validate_model(digits_int8, DIGITS_VAL, reference)
    assert "does not match" in str(info.value) and "\n" not in str(info.value)


def test_labels_outside_the_classes(tmp_path, digits_int8, digits_source):
    np.savez(tmp_path / "v.npz", x=np.zeros((3, 8, 8, 1), np.float32), y=np.array([1, 10, 2]))
    with pytest.raises(CalibrationError, match=r"label 10 is outside the classes 0..9 of output 'probs'"):
        validate_model(digits_int8, tmp_path / "v.npz", digits_source)


def test_labels_for_a_regression_model(tmp_path, sine_int8_path):
    np.savez(tmp_path / "v.npz", x=np.zeros((3, 1), np.float32), y=np.array([1, 0, 2]))
    with pytest.raises(CalibrationError, match="no model output is a class-score vector"):
        validate_model(sine_int8_path, tmp_path / "v.npz")


def test_no_interpreter_can_run(tmp_path, digits_int8):
    np.savez(tmp_path / "v.npz", x=np.zeros((3, 8, 8, 1), np.float32))
    with pytest.raises(EdgeqError, match="neither interpreter can run the model"):
        validate_model(digits_int8, tmp_path / "v.npz", options=ValidationOptions(litert=False, tflm_samples=0))


def test_report_json_is_deterministic(digits_int8, digits_source, digits_report):
    again = validate_model(read_model(digits_int8.data), DIGITS_VAL, digits_source)
    assert again.to_dict() == digits_report.to_dict()


def test_savedmodel_reference_with_a_fixed_batch_of_one(tmp_path, digits_int8, digits_source):
    from edgeq.tfenv import tensorflow

    tf = tensorflow()
    digits_source.keras_model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False,
                                     input_signature=[tf.TensorSpec([1, 8, 8, 1], tf.float32)])
    report = validate_model(digits_int8, DIGITS_VAL, tmp_path / "sm", ValidationOptions(samples=40, tflm_samples=20))
    assert report.passed, report.failure_message()
    assert report.interpreters["float"].detail == "savedmodel reference, float32, one sample per call"
    assert report.metric("litert", "top1_agreement") >= 0.95
    assert "SavedModel has no layer outputs" in report.layers["reason"]


def test_per_layer_falls_back_to_litert_without_tflm(digits_int8, digits_source, digits_report):
    report = validate_model(digits_int8, DIGITS_VAL, digits_source, ValidationOptions(tflm_samples=0))
    assert not report.interpreters["tflm"].ran and "--tflm-samples 0" in report.interpreters["tflm"].reason
    layers = report.layers
    assert layers["interpreter"] == "litert (TFLM did not run)" and layers["samples"] == DEFAULT_TFLM_SAMPLES
    by_tflm = {r["layer"]: r["sqnr_db"] for r in digits_report.layers["rows"]}
    for row in layers["rows"]:  # same samples, kernels that agree to an LSB: nearly the same error
        assert row["sqnr_db"] == pytest.approx(by_tflm[row["layer"]], abs=0.5)
    assert {c.interpreter for c in report.checks if c.status == "passed"} == {"litert"}
