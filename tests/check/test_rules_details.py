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
