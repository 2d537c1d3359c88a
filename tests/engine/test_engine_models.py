"""Whole models through the compiled-C engine: bit-exact with TFLM, sanitizer-clean, warning-free builds.

Models: the example (int8, float32 and uint8 I/O), a ResNet-style and a depthwise-separable model built in
conftest.py, and the stand-ins for TFLM's person-detection and hello-world models (tests/models.py; the person
model carries person_detect's quirk, a bias quantized_dimension that LiteRT refuses).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from build_tools import require_tools
from engine_harness import build_executable, run_cases
from models import tflm_outputs, tflm_quantize

from edgeq.engine import generate, write_engine_project
from edgeq.errors import EmitError, UnsupportedOpError
from edgeq.tflite import read_model
from edgeq.tflite.golden import GoldenVector, golden_inputs, golden_vectors
from edgeq.tflite.runners import TFLMRunner

MODELS = ["digits_int8", "digits_float32", "digits_uint8", "resnet_style", "dw_separable"]


@pytest.fixture(scope="session")
def model_runs(engine_models, sine_int8_path, person_path, person_pair, tmp_path_factory, gcc):
    """name -> (model, build, inputs, TFLM outputs, engine outputs), every model in one sanitized build."""
    models = dict(engine_models)
    models["sine_int8"] = read_model(sine_int8_path)
    models["person"] = read_model(person_path)
    inputs = {name: golden_inputs(model, 4) for name, model in models.items()}
    images, _ = person_pair
    pictures = tflm_quantize(person_path, images[::-1])  # person first, then nobody
    inputs["person"] = [[x] for x in pictures] + inputs["person"][:1]
    builds = [generate(model, name) for name, model in models.items()]
    expected = {}
    for name, model in models.items():
        runner = TFLMRunner(model)
        expected[name] = [runner.run(x) for x in inputs[name]]
    exe = build_executable(builds, tmp_path_factory.mktemp("engine-models"), sanitize=True)
    got = run_cases(exe, builds, list(models.values()), [inputs[n] for n in models])
    return {name: (models[name], build, inputs[name], expected[name], g)
            for name, build, g in zip(models, builds, got, strict=True)}


@pytest.mark.parametrize("name", [*MODELS, "sine_int8", "person"])
def test_model_is_bit_exact_with_tflm(model_runs, name):
    model, build, _, expected, got = model_runs[name]
    for v, (e_vec, g_vec) in enumerate(zip(expected, got, strict=True)):
        for o, (e, g) in enumerate(zip(e_vec, g_vec, strict=True)):
            assert e.dtype == g.dtype and e.shape == g.shape
            assert np.array_equal(e, g), f"{name} vector {v} output {o}: {np.flatnonzero(e != g)[:10]}"
    assert build.arena_bytes >= build.lower_bound_bytes > 0


def test_person_model_recognises_the_person(model_runs, person_path, person_pair):
    got = model_runs["person"][4]
    (person,), (nobody,) = got[0], got[1]
    images, labels = person_pair
    tflm_nobody, tflm_person = tflm_outputs(person_path, tflm_quantize(person_path, images))
    assert labels.tolist() == [0, 1]  # (no person, person), class 1 = person
    # the scores tflite-micro's interpreter gives for the two images, unsaturated and on the right side
    assert person.tolist() == tflm_person.tolist() and nobody.tolist() == tflm_nobody.tolist()
    assert -127 < person[0, 0] < 0 < person[0, 1] < 127
    assert -127 < nobody[0, 1] < 0 < nobody[0, 0] < 127


def test_residual_adds_run_in_place_and_plan_reaches_the_bound(model_runs):
    _, build, *_ = model_runs["resnet_style"]
    model = model_runs["resnet_style"][0]
    in_place = {model.main.operators[i].opcode for i in build.inplace_ops}
    assert {"ADD", "SUB"} & in_place, build.inplace_ops
    for name in MODELS:
        b = model_runs[name][1]
        assert b.arena_bytes <= b.greedy_arena_bytes


def test_unsupported_op_names_it_and_points_to_tflm(lstm_path):
    lstm = read_model(lstm_path)
    with pytest.raises(UnsupportedOpError, match=r"UNIDIRECTIONAL_SEQUENCE_LSTM.*--runtime tflm"):
        generate(lstm, "lstm")


def test_int16x8_model_is_refused_with_the_ops_named(digits_int16x8):
    with pytest.raises(UnsupportedOpError, match=r"op 0 CONV_2D: int16 tensor .*--runtime tflm"):
        generate(digits_int16x8, "digits")


@pytest.mark.parametrize("name", ["1digits", "digits-model", "", "x" * 49, "d\n"])
def test_invalid_c_name_is_refused(engine_models, name):
    with pytest.raises(EmitError, match="not a C identifier"):
        generate(engine_models["digits_int8"], name)


@pytest.fixture(scope="session")
def digits_project(engine_models, digits_val, tmp_path_factory, gcc):
    """The float-I/O example as a project whose self-check runs six real validation digits."""
    model = engine_models["digits_float32"]
    out = tmp_path_factory.mktemp("digits-project")
    build = write_engine_project(model, "digits", golden_vectors(model, 6, digits_val), out)
    return out, build


def test_project_self_check_passes_under_sanitizers(digits_project):
    out, build = digits_project
    assert {"digits_model.c", "digits_model.h", "main.c", "Makefile", "CMakeLists.txt", "README.md"} <= set(build.files)
    proc = subprocess.run(["make", "-s", "sanitize"], cwd=out, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS: 6 vectors bit-exact" in proc.stdout
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr


def test_project_self_check_fails_on_wrong_golden_outputs(engine_models, tmp_path, gcc):
    model = engine_models["digits_int8"]
    good = golden_vectors(model, 2)
    bad = [good[0], GoldenVector(good[1].inputs, (good[1].outputs[0] + np.int8(1),))]
    write_engine_project(model, "digits", bad, tmp_path)
    proc = subprocess.run(["make", "-s", "check"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "FAIL: 10 output values differ" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.arm
def test_project_builds_for_cortex_m4_without_warnings(digits_project):
    out, _ = digits_project
    require_tools("arm-none-eabi-gcc")
    proc = subprocess.run(["make", "-s", "arm"], cwd=out, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "digits_model.o" in proc.stdout and "(TOTALS)" in proc.stdout


def test_project_builds_with_cmake(digits_project, tmp_path):
    out, _ = digits_project
    require_tools("cmake")
    build_dir = tmp_path / "build"
    for cmd in (["cmake", "-S", str(out), "-B", str(build_dir)], ["cmake", "--build", str(build_dir)],
                ["ctest", "--test-dir", str(build_dir), "--output-on-failure"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_memory_summary_puts_the_plan_next_to_tflms_arena(model_runs):
    from edgeq.check.arena import measure_arena
    from edgeq.check.c_engine import memory_summary

    model, build, *_ = model_runs["digits_int8"]
    summary = memory_summary(build, model)
    tflm = measure_arena(model).host_bytes
    assert summary["tflm_host_arena_bytes"] == tflm
    assert summary["arena_vs_tflm"] == round(build.arena_bytes / tflm, 3)
    assert summary["arena_bytes"] == build.arena_bytes >= summary["lower_bound_bytes"]
    assert summary["io_bytes"] == 8 * 8 + 10  # int8 image in, ten int8 scores out


@pytest.mark.arm
def test_project_cross_compiles_with_cmake_for_cortex_m4(digits_project, tmp_path):
    out, _ = digits_project
    require_tools("cmake", "arm-none-eabi-gcc")
    build_dir = tmp_path / "build-m4"
    configure = ["cmake", "-S", str(out), "-B", str(build_dir), "-DCMAKE_SYSTEM_NAME=Generic",
                 "-DCMAKE_C_COMPILER=arm-none-eabi-gcc", "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY",
                 "-DCMAKE_C_FLAGS=-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os"]
    for cmd in (configure, ["cmake", "--build", str(build_dir)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (build_dir / "libdigits_engine.a").exists()
    assert not (build_dir / "digits_selfcheck").exists()  # the host self-check is not cross-built
