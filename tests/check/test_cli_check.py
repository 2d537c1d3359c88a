"""`edgeq targets`, `edgeq targets show`, `edgeq check` and `edgeq inspect` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from edgeq.check.targets import available_targets


def assert_one_line_error(code: int, err: str, fragment: str, expected_code: int = 1) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expected_code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]


def test_targets_lists_every_profile(run_cli):
    code, out, _ = run_cli(["targets"])
    assert code == 0
    for name in available_targets():
        assert name in out
    code, out, _ = run_cli(["targets", "--json"])
    assert code == 0 and set(json.loads(out)) == set(available_targets())


def test_targets_show_prints_the_resolved_profile_and_its_ops(run_cli):
    code, out, _ = run_cli(["targets", "show", "stm32f746-disco", "--json"])
    profile = json.loads(out)
    assert code == 0
    assert (profile["cpu"]["core"], profile["cpu"]["clock_mhz"], profile["memory"]["ram_kb"]) == ("cortex-m7", 216, 320)
    assert profile["inherit"] == "cortex-m7" and profile["runtime"]["kernels"] == "cmsis-nn"
    code, out, _ = run_cli(["targets", "show", "cortex-m4"])
    assert code == 0
    for fragment in ("cortex-m4", "80 MHz", "1,024 KiB", "256 KiB", "reserved", "cmsis-nn", "CONV_2D", "RESHAPE"):
        assert fragment in out, fragment


def test_targets_show_unknown_is_a_one_line_error(run_cli):
    code, _, err = run_cli(["targets", "show", "cortex-m99"])
    assert_one_line_error(code, err, "unknown target 'cortex-m99'")


@pytest.fixture(scope="module")
def flash_heavy_path(tmp_path_factory, tflite_builder):
    path = tmp_path_factory.mktemp("models") / "big_fc.tflite"
    path.write_bytes(tflite_builder.fully_connected(1200, 256))
    return path


def test_check_exits_1_naming_the_budget(run_cli, flash_heavy_path):
    code, out, err = run_cli(["check", str(flash_heavy_path), "--target", "cortex-m0plus"])
    assert_one_line_error(code, err, "does not fit cortex-m0plus: flash_fits: flash exceeded by")
    assert "DOES NOT FIT" in out and "ESTIMATE" in out


def test_check_json_of_a_fitting_model_exits_0(run_cli, tmp_path, digits_int8):
    path = tmp_path / "digits.tflite"
    path.write_bytes(digits_int8.data)
    code, out, err = run_cli(["check", str(path), "-t", "nrf52840-dk", "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert report["model"]["sha256"] == digits_int8.sha256
    assert report["target"]["name"] == "nrf52840-dk" and report["target"]["ok"] is True
    assert report["target"]["latency"]["estimate"] is True


def test_check_defaults_to_the_target_convert_and_emit_use(run_cli, flash_heavy_path):
    code, out, err = run_cli(["check", str(flash_heavy_path), "--json"])
    assert json.loads(out)["target"]["name"] == "cortex-m4", err


def test_inspect_json_lists_ops_tensors_macs_arena(run_cli, person_path, sine_int8_path):
    code, out, err = run_cli(["inspect", str(person_path), "--json"])
    assert code == 0, err
    data = json.loads(out)
    # person_detect's geometry: 7,157,888 MACs and a 55,296-byte peak, as for TFLM's model
    assert data["ops"]["CONV_2D"] == 14 and data["macs"]["total"] == 7157888
    assert data["arena"]["host_bytes"] >= data["activation_peak"]["bytes"] == 55296
    code, out, _ = run_cli(["inspect", str(sine_int8_path)])
    assert code == 0 and "FULLY_CONNECTED" in out and "scale" in out


def _other_flatbuffer() -> bytes:
    """A valid flatbuffer that is not a TFLite model (identifier 'EDGQ')."""
    import flatbuffers

    builder = flatbuffers.Builder(64)
    builder.StartObject(1)
    builder.PrependInt32Slot(0, 42, 0)
    builder.Finish(builder.EndObject(), file_identifier=b"EDGQ")
    return bytes(builder.Output())


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "0 bytes is too short"),
    (b"\x00" * 7, "too short"),
    ("random", "not a TFLite flatbuffer"),
    ("truncated", "corrupt TFLite flatbuffer"),
    ("other", "not a TFLite flatbuffer"),
    ("directory", "no such .tflite file"),
])
@pytest.mark.parametrize("command", [["inspect"], ["check", "--target", "cortex-m4"]])
def test_malformed_input_is_one_line_error(run_cli, tmp_path, person_path, content, fragment, command):
    path = tmp_path / "model.tflite"
    if content == "random":
        path.write_bytes(bytes(range(256)) * 8)
    elif content == "truncated":
        path.write_bytes(person_path.read_bytes()[:2000])
    elif content == "other":
        path.write_bytes(_other_flatbuffer())
    elif content == "directory":
        path.mkdir()
    else:
        path.write_bytes(content)
    code, out, err = run_cli([command[0], str(path), *command[1:]])
    assert_one_line_error(code, err, fragment)
    assert "Traceback" not in err and out == ""


def test_names_that_look_like_rich_markup_are_printed_verbatim(run_cli, tmp_path, tflite_builder):
    """Tensor names and file names are the model author's text: `[/b]` in one must not crash the tables."""
    T, Op = tflite_builder.T, tflite_builder.Op
    hostile = "x[/bold] [red]y"
    data = tflite_builder.build([T((1, 4), "float32", name=hostile), T((1, 4), "float32", name="[/]out")],
                                [Op("RELU", [0], [1])], [0], [1])
    path = tmp_path / "[bold]m.tflite"
    path.write_bytes(data)
    for command in (["inspect", str(path), "--no-arena"], ["check", str(path), "-t", "cortex-m4"]):
        code, out, err = run_cli(command)
        assert code == 0, err
        assert "[bold]m.tflite" in out, out
        assert "[red]y" in out or "[/]out" in out, out


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m3"])
def test_check_runtime_c_judges_the_compiled_c_engine(run_cli, tmp_path, tflite_builder, core):
    """64x32 FULLY_CONNECTED: the engine keeps 64*32 int8 weights and 64 int32 biases, no arena (its I/O is the
    caller's 32 + 64 bytes); the code is the engine linked for the core, the DSP kernels on the M4 only."""
    from edgeq.check.targets import get_target
    from edgeq.emulate.engine_size import find_compiler, measure_image
    from edgeq.engine import generate
    from edgeq.tflite import read_model

    path = tmp_path / "fc.tflite"
    path.write_bytes(tflite_builder.fully_connected(64, 32))
    code, out, err = run_cli(["check", str(path), "-t", core, "--runtime", "c", "--json"])
    assert code == 0, err
    target = json.loads(out)["target"]
    assert (target["runtime"], target["kernels"]) == ("c", "compiled-c")
    assert target["engine"]["path"] == ("dsp" if core == "cortex-m4" else "portable")
    assert target["flash"]["parts_bytes"]["weights"] == 64 * 32 + 64 * 4
    assert target["ram"]["parts_bytes"]["arena"] == 0 and target["engine"]["io_bytes"] == 32 + 64
    profile = get_target(core)
    build = generate(read_model(path), "model", dsp=profile.cpu.dsp)
    flash, _ = measure_image(build, profile, find_compiler())
    assert target["engine"]["code_measured"] is True
    assert target["flash"]["parts_bytes"]["engine code"] == flash - build.weights_bytes - build.tables_bytes
    assert target["flash"]["used_bytes"] == sum(target["flash"]["parts_bytes"].values())
    tflm = json.loads(run_cli(["check", str(path), "-t", core, "--json"])[1])["target"]
    assert tflm["runtime"] == "tflm" and target["flash"]["used_bytes"] < tflm["flash"]["used_bytes"]


def test_check_runtime_c_for_android_is_a_usage_error(run_cli, tmp_path, tflite_builder):
    path = tmp_path / "fc.tflite"
    path.write_bytes(tflite_builder.fully_connected(8, 8))
    code, _, err = run_cli(["check", str(path), "-t", "android-arm64", "--runtime", "c"])
    assert_one_line_error(code, err, "--runtime c generates MCU firmware", expected_code=2)
