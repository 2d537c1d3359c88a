"""Each rule's verdict and detail on small built models (no TensorFlow), for the paths the budget tests do not
take: LiteRT targets, float activations, reference kernels, custom ops on LiteRT, the one-line summary and
report.json's target block."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgeq.check.rules import RULES, check_model
from edgeq.check.targets import get_target
from edgeq.tflite import read_model


@pytest.fixture(scope="module")
def dense(tflite_builder):
    return read_model(tflite_builder.fully_connected(units=10, depth=32))


def _rules(result) -> dict[str, tuple[bool, str]]:
    return {r.rule: (r.ok, r.detail) for r in result.rules}


def test_an_int8_model_on_a_cmsis_nn_board(dense) -> None:
    result = check_model(dense, "cortex-m4")
    rules = _rules(result)
    assert list(rules) == [f.__name__ for f, _ in RULES]
    assert [r.severity for r in result.rules] == [s for _, s in RULES]
    assert rules["ops_supported"] == (True, "all 1 op types are registered by TFLM")
    assert rules["runs_on_runtime"] == (True, "host TFLM interpreter allocated and invoked the model")
    assert rules["integer_only"] == (True, "all activations are integer")
    assert rules["optimized_kernels"] == (True, "every MAC-heavy op has a cmsis-nn kernel")
    assert result.ok and result.failures == [] and result.summary() == "the model fits cortex-m4"
    assert result.ops == [{"op": "FULLY_CONNECTED", "count": 1, "version": 1, "supported": True,
                           "kernel": "cmsis-nn"}]
    report = result.to_dict()
    assert report["ok"] is True and "engine" not in report
    assert report["arena"]["recommended_bytes"] == result.arena.recommended_bytes
    assert report["flash"]["parts_bytes"]["model"] == dense.size and report["macs"] == 320
    assert [r["rule"] for r in report["rules"]] == list(rules)


def test_reference_kernels_are_said_to_be_chosen(dense) -> None:
    m4 = get_target("cortex-m4")
    reference = replace(m4, name="m4-reference", runtime=replace(m4.runtime, kernels="reference"))
    result = check_model(dense, reference)
    assert _rules(result)["optimized_kernels"] == (True, "the profile selects TFLM's reference kernels")
    assert result.ops[0]["kernel"] == "reference"


def test_an_op_without_the_optimized_kernel_is_a_warning(tflite_builder) -> None:
    from edgeq.tflite.schema import schema

    T, Op = tflite_builder.T, tflite_builder.Op
    options = schema().TransposeConvOptionsT()
    options.strideW = options.strideH = 1
    options.padding = schema().Padding.SAME
    shape = np.array([1, 4, 4, 2], np.int32)
    tensors = [T((4,), "int32", data=shape, name="shape"),
               T((2, 3, 3, 3), scale=[0.01, 0.01], zero_point=[0, 0], data=np.ones((2, 3, 3, 3), np.int8),
                 name="filters"),
               T((1, 4, 4, 3), scale=[0.05], name="image"), T((1, 4, 4, 2), scale=[0.1], name="out")]
    data = tflite_builder.build(tensors, [Op("TRANSPOSE_CONV", [0, 1, 2], [3], options)], [2], [3])
    result = check_model(data, "esp32-s3")  # CMSIS-NN has every MAC-heavy kernel; ESP-NN no TRANSPOSE_CONV
    ok, detail = _rules(result)["optimized_kernels"]
    assert not ok and detail == "TRANSPOSE_CONV run TFLM's reference kernel (no esp-nn kernel)"
    assert result.ok  # a warning does not fail the check
    assert [r.rule for r in result.rules if not r.ok] == ["optimized_kernels"]


def test_a_litert_target(dense) -> None:
    result = check_model(dense, "android-arm64")
    rules = _rules(result)
    assert rules["ops_supported"] == (True, "all 1 op types are LiteRT builtins")
    assert rules["runs_on_runtime"] == (True, "host LiteRT interpreter allocated and invoked the model")
    assert rules["integer_only"] == (True, "not a microcontroller target")
    assert rules["optimized_kernels"][0] is True
    assert result.arena is None and "activations (peak)" in result.ram.parts
    assert result.ram.estimated_parts == ("activations (peak)",)
    assert result.ops[0]["supported"] is True


def test_a_custom_op_on_litert(tflite_builder) -> None:
    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 8), "float32"), T((1, 8), "float32"), T((1, 8), "float32")],
                                [Op("RELU", [0], [1]), Op("MyFancyOp", [1], [2], custom=True)], [0], [2])
    result = check_model(data, "android-arm64")
    ok, detail = _rules(result)["ops_supported"]
    assert not ok and detail == "custom ops MyFancyOp are not in LiteRT's builtin op set"
    assert {row["op"]: row["supported"] for row in result.ops} == {"MyFancyOp": False, "RELU": True}
    assert not result.ok and result.summary().startswith("the model does not fit android-arm64: ops_supported: ")


def test_float_activations_on_a_microcontroller_name_the_ops(tflite_builder) -> None:
    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 8), "float32"), T((1, 8), "float32")], [Op("RELU", [0], [1])], [0], [1])
    ok, detail = _rules(check_model(data, "cortex-m4"))["integer_only"]
    assert not ok and detail == "float tensors flow through RELU; convert with --mode int8"


def test_the_summary_lists_each_failed_rule_by_its_headline(tflite_builder) -> None:
    big = read_model(tflite_builder.fully_connected(1200, 256))
    m0 = get_target("cortex-m0plus")
    tiny = replace(m0, name="tiny", memory=replace(m0.memory, ram_kb=1, reserved_ram_kb=0.5))
    summary = check_model(big, tiny).summary()
    assert summary.startswith("the model does not fit tiny: flash_fits: flash exceeded by ")
    assert "; ram_fits: RAM exceeded by " in summary
    assert "(" not in summary  # the breakdowns after ': ' stay in the tables


def test_free_space_and_estimates_in_the_details(dense) -> None:
    from edgeq.check.rules import kib_text

    result = check_model(dense, "cortex-m4")
    for budget, rule in ((result.flash, "flash_fits"), (result.ram, "ram_fits")):
        assert budget.exceeded_by == 0 and budget.to_dict()["free_bytes"] == budget.capacity - budget.used
        assert f"; {kib_text(budget.capacity - budget.used)} free" in _rules(result)[rule][1]
    assert result.flash.breakdown().count("(estimate)") == 1 and "runtime code" in result.flash.breakdown()
    assert f"model {kib_text(dense.size)} +" in result.flash.breakdown()  # the model's size is exact
    android = check_model(dense, "android-arm64")
    assert android.ram.capacity == int(get_target("android-arm64").memory.ram_kb * 1024)
    m0 = get_target("cortex-m0plus")
    small = replace(m0, name="small", memory=replace(m0.memory, flash_kb=1))
    over = check_model(dense, small).flash
    assert over.exceeded_by > 0 and over.to_dict()["free_bytes"] == 0


def test_headlines_are_cut_at_a_word_under_the_limit() -> None:
    from edgeq.check.rules import _headline

    assert _headline("flash exceeded by 1 KiB: model 2 KiB + code 3 KiB") == "flash exceeded by 1 KiB"
    exact = "x" * 200
    assert _headline(exact + ": tail") == exact
    long = " ".join(["word"] * 60)  # 299 characters
    cut = _headline(long + ": tail")
    assert cut.endswith(" …") and len(cut) <= 200 and cut == " ".join(["word"] * 39) + " …"
    assert _headline(long, limit=20) == "word word word …"


def test_the_compiled_c_engine_path(dense) -> None:
    from edgeq.check.c_engine import EngineFigures
    from edgeq.check.macs import LatencyEstimate
    from edgeq.check.rules import target_identity, target_report

    latency = LatencyEstimate(ms=1.0, cycles=1000, clock_mhz=1.0, source="test", per_op=())
    fine = EngineFigures(path="portable", code_bytes=100, weights_bytes=320, tables_bytes=0, arena_bytes=64,
                         io_bytes=42, code_measured=False, code_method="estimated", latency=latency)
    result = check_model(dense, "cortex-m4", engine=fine)
    rules = _rules(result)
    assert rules["ops_supported"] == (True, "the compiled-C engine generates all 1 op types")
    assert rules["optimized_kernels"] == (True, "compiled-C engine, portable kernels")
    assert result.ops[0]["supported"] is True and result.ops[0]["kernel"] == "compiled-c (portable)"
    assert result.flash.estimated_parts == ("engine code",)
    measured = replace(fine, code_measured=True)
    assert check_model(dense, "cortex-m4", engine=measured).flash.estimated_parts == ()
    report = target_report(result)
    assert (report["runtime"], report["kernels"]) == ("c", "compiled-c") and report["engine"]["path"] == "portable"
    plain = target_report(check_model(dense, "cortex-m4"))
    assert (plain["runtime"], plain["kernels"]) == ("tflm", "cmsis-nn") and "engine" not in plain
    assert target_identity(get_target("cortex-m4"), "c")["runtime"] == "c"
    broken = replace(fine, unsupported="the engine has no kernel for SVDF")
    failed = check_model(dense, "cortex-m4", engine=broken)
    assert _rules(failed)["ops_supported"] == (False, "the engine has no kernel for SVDF")
    assert failed.ops[0]["supported"] is False and not failed.ok


def test_a_float_input_at_tensor_0_is_found(tflite_builder) -> None:
    """QUANTIZE from a float input (tensor 0) to int8: the only float tensor is index 0."""
    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 8), "float32"), T((1, 8), scale=[0.1], zero_point=[0])],
                                [Op("QUANTIZE", [0], [1])], [0], [1])
    ok, detail = _rules(check_model(data, "cortex-m4"))["integer_only"]
    assert not ok and detail == "float tensors flow through QUANTIZE; convert with --mode int8"


def test_an_omitted_optional_input_is_not_a_tensor(tflite_builder) -> None:
    """FULLY_CONNECTED without a bias (input index -1) in an int8 model whose last tensor is a float: index -1
    must not be read as "the last tensor"."""
    from edgeq.tflite.schema import schema

    T, Op = tflite_builder.T, tflite_builder.Op
    weights = np.ones((4, 8), np.int8)
    tensors = [T((1, 8), scale=[0.1], name="x"), T((4, 8), scale=[0.01], data=weights, name="w"),
               T((1, 4), scale=[0.2], name="y"), T((1, 4), "float32", name="unused_float")]
    data = tflite_builder.build(tensors, [Op("FULLY_CONNECTED", [0, 1, -1], [2], schema().FullyConnectedOptionsT())],
                                [0], [2])
    assert _rules(check_model(data, "cortex-m4"))["integer_only"] == (True, "all activations are integer")
