"""The fit check: models made too big for cortex-m0plus fail with the right rule, budget and numbers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from edgeq.check.arena import measure_arena
from edgeq.check.rules import RULES, check_model, rules_documentation, target_report
from edgeq.check.targets import get_target
from edgeq.errors import CheckFailed
from edgeq.tflite import read_model

KIB = 1024


@pytest.fixture(scope="module")
def flash_heavy(tflite_builder):
    """307 KB of int8 weights: more than cortex-m0plus's 256 KB of flash."""
    return read_model(tflite_builder.fully_connected(1200, 256))


@pytest.fixture(scope="module")
def ram_heavy(tflite_builder):
    """A 1x1 conv from 48x48x8 to 48x48x16 int8: 54 KB of live activations, cortex-m0plus has 32 KB of RAM."""
    return read_model(tflite_builder.conv_1x1(48, 48, 8, 16))


def _rule(result, name):
    return next(r for r in result.rules if r.rule == name)


def test_weights_too_big_for_cortex_m0plus_fail_the_flash_budget(flash_heavy):
    m0 = get_target("cortex-m0plus")
    result = check_model(flash_heavy, "cortex-m0plus")
    used = flash_heavy.size + int(m0.runtime.code_flash_kb * KIB) + int(m0.memory.reserved_flash_kb * KIB)
    capacity = int(m0.memory.flash_kb * KIB)
    assert not result.ok
    assert [r.rule for r in result.failures] == ["flash_fits"]
    assert result.flash.exceeded_by == used - capacity > 0
    detail = _rule(result, "flash_fits").detail
    assert f"flash exceeded by {(used - capacity) / KIB:,.1f} KiB" in detail
    assert f"model {flash_heavy.size / KIB:,.1f} KiB" in detail
    assert _rule(result, "ram_fits").ok
    assert "flash_fits" in result.summary() and "cortex-m0plus" in result.summary()


def test_activations_too_big_for_cortex_m0plus_fail_the_ram_budget_naming_the_tensors(ram_heavy):
    m0 = get_target("cortex-m0plus")
    result = check_model(ram_heavy, m0)
    assert [r.rule for r in result.failures] == ["ram_fits"]
    arena = result.arena.recommended_bytes
    assert arena >= measure_arena(ram_heavy).host_bytes >= 48 * 48 * (8 + 16)
    used = arena + int(m0.memory.reserved_ram_kb * KIB)
    assert result.ram.exceeded_by == used - int(m0.memory.ram_kb * KIB)
    detail = _rule(result, "ram_fits").detail
    assert f"RAM exceeded by {(used - m0.memory.ram_kb * KIB) / KIB:,.1f} KiB" in detail
    # the tensors that make the peak, with their sizes
    assert "features (36,864 B)" in detail and "image (18,432 B)" in detail
    assert [t[1] for t in result.peak.tensors] == ["features", "image"]


def test_the_same_models_fit_a_bigger_board(flash_heavy, ram_heavy):
    assert check_model(flash_heavy, "stm32f746-disco").ok
    assert check_model(ram_heavy, "rp2040-pico").ok


def test_an_op_tflm_lacks_fails_naming_the_op(tflite_builder):
    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 8), "float32"), T((1, 8), "float32"), T((1, 8), "float32")],
                                [Op("RELU", [0], [1]), Op("MyFancyOp", [1], [2], custom=True)], [0], [2])
    result = check_model(data, "cortex-m4")
    assert not result.ok
    assert {r.rule for r in result.failures} == {"ops_supported", "runs_on_runtime"}
    assert "MyFancyOp (x1)" in _rule(result, "ops_supported").detail
    assert [(row["op"], row["supported"]) for row in result.ops] == [("MyFancyOp", False), ("RELU", True)]
    assert result.arena is None  # not measurable; RAM uses the activation peak as a lower bound
    assert "lower bound" in result.ram.breakdown()


def test_digits_fits_cortex_m4_with_every_number_reported(digits_int8):
    result = check_model(digits_int8, "cortex-m4")
    assert result.ok, result.summary()
    assert all(r.ok for r in result.rules)
    report = json.loads(json.dumps(target_report(result)))  # JSON-clean
    assert (report["name"], report["kind"], report["runtime"], report["kernels"]) == (
        "cortex-m4", "mcu", "tflm", "cmsis-nn")
    assert report["arena"]["recommended_bytes"] >= report["arena"]["measured_host_bytes"] > 0
    assert report["ram"]["parts_bytes"]["arena"] == report["arena"]["recommended_bytes"]
    assert report["flash"]["parts_bytes"]["model"] == digits_int8.size
    assert report["latency"]["estimate"] is True and report["latency"]["ms"] > 0
    assert report["macs"] > 0 and report["activation_peak"]["bytes"] > 0


def test_android_target_checks_with_litert(digits_int8):
    result = check_model(digits_int8, "android-arm64")
    assert result.ok and result.arena is None
    assert "LiteRT" in _rule(result, "runs_on_runtime").detail


def test_float_model_on_a_microcontroller_is_a_warning_not_a_failure(sine_float_path):
    result = check_model(sine_float_path, "cortex-m4")
    assert result.ok
    warning = _rule(result, "integer_only")
    assert not warning.ok and warning.severity == "warning" and "FULLY_CONNECTED" in warning.detail


def test_each_rule_message_is_its_docstring(digits_int8):
    result = check_model(digits_int8, get_target("cortex-m4"))
    for (function, severity), r in zip(RULES, result.rules, strict=True):
        assert r.rule == function.__name__ and r.severity == severity
        assert r.message == " ".join(function.__doc__.split())
    assert [name for name, _, _ in rules_documentation()] == [r.rule for r in result.rules]


def test_convert_stores_the_check_in_the_report(digits_convert_dir):
    out, result = digits_convert_dir
    report = json.loads((out / "report.json").read_text())
    target = report["target"]
    assert (target["name"], target["kind"], target["runtime"], target["kernels"]) == (
        "cortex-m4", "mcu", "tflm", "cmsis-nn")
    assert target["ok"] is True
    assert target["arena"]["measured_host_bytes"] == measure_arena(result.tflite).host_bytes
    assert {r["rule"] for r in target["rules"]} == {function.__name__ for function, _ in RULES}


def test_convert_for_a_board_too_small_writes_out_then_fails(tmp_path, monkeypatch, digits_keras_path, repo_root):
    import edgeq.check.targets
    import edgeq.pipeline as pipeline

    m0 = get_target("cortex-m0plus")
    tiny = replace(m0, name="tiny-board", memory=replace(m0.memory, ram_kb=9, reserved_ram_kb=8))
    monkeypatch.setattr(edgeq.check.targets, "get_target", lambda name: tiny)  # edgeq.options looks it up
    out = tmp_path / "out"
    options = pipeline.ConvertOptions(target="tiny-board", calib=repo_root / "examples" / "digits_calib.npz")
    with pytest.raises(CheckFailed, match="does not fit tiny-board: ram_fits: RAM exceeded by"):
        pipeline.convert(digits_keras_path, out, options)
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["ok"] is False
    assert (out / "model.tflite").exists()


def test_readme_rule_table_is_the_rules_docstrings(repo_root):
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:4] for line in text.splitlines() if line.startswith("| ") and "|" in line[2:]]
    table = {cells[0].strip(): (cells[1].strip(), cells[2].strip()) for cells in rows if len(cells) == 3}
    for name, severity, message in rules_documentation():
        assert table[name] == ("yes" if severity == "error" else "warning", message), name
