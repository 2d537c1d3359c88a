"""`--runtime c` judges a target with the compiled-C engine's own figures (edgeq.check.c_engine, the code
measured by edgeq.emulate.engine_size): flash as measured (or estimated from edgeq/data/engine_fit.toml)
against the self-check firmware's linked image, RAM against the image's model RAM, and the fitted latency
against the instructions QEMU counts."""

from __future__ import annotations

import pytest

from edgeq.check.rules import check_model
from edgeq.check.targets import get_target
from edgeq.emulate import build_firmware, find_project, machine_for, verify
from edgeq.emulate.engine_size import measured_engine_figures as engine_figures

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

# Per operator call, the self-check firmware's invoke also calls edgeq_mark_op (-DEDGEQ_OP_MARKERS): a BL and
# at most a register move or two, which the measured figure (built without markers) does not have.
MARKER_BYTES_PER_OP = 10
ESTIMATE_TOLERANCE = 0.05    # estimated / measured engine code (seen: within 1.5%)
LATENCY_TOLERANCE = 0.15     # fitted / counted instructions on models unlike the fitted ones (seen: 5%)


@pytest.fixture(scope="module")
def person_int8(person_clean_path):
    from edgeq.tflite import read_model

    return read_model(person_clean_path)


@pytest.fixture(scope="module", params=[("digits", "cortex-m4"), ("digits", "cortex-m3"), ("person", "cortex-m4"),
                                        ("person", "cortex-m3")], ids=lambda p: f"{p[0]}-{p[1]}")
def engine_case(request, digits_int8, person_int8, tmp_path_factory, toolchain):
    """A model on a DSP core (M4) or not (M3): its figures measured and estimated, the self-check firmware's
    image, and one verified run."""
    from edgeq.engine import write_engine_project
    from edgeq.tflite.golden import golden_vectors

    name, core = request.param
    model = digits_int8 if name == "digits" else person_int8
    target = get_target(core)
    out = tmp_path_factory.mktemp(f"fit-{name}-{core}")
    (out / "model.tflite").write_bytes(model.data)
    build = write_engine_project(model, "m", golden_vectors(model, 1), out, dsp=target.cpu.dsp)
    vectors = golden_vectors(model, 1)[0]
    firmware = build_firmware(find_project(out), machine_for(target), target.cpu.cflags,
                              [int(x.nbytes) for x in vectors.inputs], [int(y.nbytes) for y in vectors.outputs],
                              out / "firmware", toolchain)
    return {"model": model, "target": target, "build": build, "firmware": firmware, "out": out,
            "measured": engine_figures(model, target, name="m"),
            "estimated": engine_figures(model, target, name="m", measure=False)}


def test_measured_flash_and_ram_are_the_linked_images(engine_case):
    measured, build, sizes = engine_case["measured"], engine_case["build"], engine_case["firmware"].sizes
    assert measured.code_measured and measured.code_method.startswith("measured")
    assert measured.path == ("dsp" if engine_case["target"].cpu.dsp else "portable")
    calls = sum(len(k.functions) for k in build.op_kernels)
    assert 0 <= sizes.model_flash_bytes - measured.flash_bytes <= MARKER_BYTES_PER_OP * (calls + 1), \
        (sizes.model_flash_bytes, measured.flash_bytes)
    assert sizes.model_ram_bytes == measured.arena_bytes == build.arena_bytes
    assert measured.weights_bytes == build.weights_bytes and measured.tables_bytes == build.tables_bytes
    assert measured.io_bytes == sum(build.input_bytes) + sum(build.output_bytes)


def test_estimated_code_is_close_to_the_measured_and_labelled(engine_case):
    measured, estimated = engine_case["measured"], engine_case["estimated"]
    assert not estimated.code_measured and estimated.code_method.startswith("estimated")
    assert abs(estimated.code_bytes - measured.code_bytes) <= ESTIMATE_TOLERANCE * measured.code_bytes, \
        (estimated.code_bytes, measured.code_bytes)
    assert (estimated.weights_bytes, estimated.tables_bytes, estimated.ram_bytes) == \
        (measured.weights_bytes, measured.tables_bytes, measured.ram_bytes)
    flash = check_model(engine_case["model"], engine_case["target"], engine=estimated).flash.to_dict()
    assert flash["estimated_parts"] == ["engine code"]
    assert flash["parts_bytes"]["engine code"] == estimated.code_bytes


def test_fitted_latency_is_near_the_counted_instructions(engine_case):
    report = verify(engine_case["out"], samples=1, target=engine_case["target"].name)
    assert report.passed, report.summary()
    fitted = engine_case["measured"].latency
    assert not fitted.instructions_counted
    ratio = fitted.instructions / report.instructions_per_inference
    assert abs(ratio - 1) <= LATENCY_TOLERANCE, ratio
    target = engine_case["target"]
    assert fitted.ms == pytest.approx(fitted.cycles / (target.cpu.clock_mhz * 1e3), rel=1e-4)


def test_check_judges_the_engine_not_tflm(digits_int8):
    target = get_target("cortex-m4")
    figures = engine_figures(digits_int8, target, name="m")
    result = check_model(digits_int8, target, engine=figures)
    report = result.to_dict()
    assert result.ok and result.arena is None
    assert report["flash"]["parts_bytes"] == {"engine code": figures.code_bytes, "weights": figures.weights_bytes,
                                              "tables": figures.tables_bytes, "reserved": 32 * 1024}
    assert report["ram"]["parts_bytes"]["arena"] == figures.arena_bytes
    assert report["engine"]["path"] == "dsp" and report["latency"]["instructions"] == figures.latency.instructions
    tflm = check_model(digits_int8, target).to_dict()
    assert "runtime code" in tflm["flash"]["parts_bytes"] and report["flash"]["used_bytes"] < \
        tflm["flash"]["used_bytes"]
