"""Real TFLM (from $EDGEQ_TFLM_TREE) with CMSIS-NN kernels on QEMU's Cortex-M4 and Cortex-M7: `edgeq verify` on
the example and on a depthwise-separable model equals the host TFLM interpreter, counts instructions, and
measures the arena TFLM uses on the core; the recommendation made from it covers the real need within 10%;
and the tflm-cmake project's own main.cc, linked with -DEDGEQ_BOARD=qemu's files, prints what its README says.
Run with -s to see the figures."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeq.check.arena import measure_arena
from edgeq.check.targets import get_target
from edgeq.emit import emit_project, write_project
from edgeq.emulate import store_emulation, verify

pytestmark = [pytest.mark.qemu, pytest.mark.arm, pytest.mark.slow]
TARGETS = ("cortex-m4", "cortex-m7")


def _depthwise_keras(keras):
    """MobileNet-style: a strided conv, depthwise convs (multiplier 1 and 2, stride 2), 1x1 convs, average
    pooling and a softmax head."""
    layers = keras.layers
    x = keras.Input((24, 24, 3), batch_size=1, name="image")
    y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    y = layers.Conv2D(16, 1, activation="relu6")(y)
    y = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu6")(y)
    y = layers.Conv2D(24, 1, activation="relu6")(y)
    y = layers.AveragePooling2D(6)(y)
    y = layers.Flatten()(y)
    return keras.Model(x, layers.Dense(5, activation="softmax")(y), name="depthwise")


@pytest.fixture(scope="session")
def tflm_models(tmp_path_factory, digits_int8):
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import synthetic_samples
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(12)
    path = tmp_path_factory.mktemp("tflm-models") / "depthwise.keras"
    _depthwise_keras(k).save(path)
    loaded = load_model(path)
    depthwise = quantize(loaded, QuantizeOptions("int8", "int8"), synthetic_samples(loaded.inputs, 32, seed=5),
                         integer_only=True)
    assert "DEPTHWISE_CONV_2D" in depthwise.op_counts()
    return {"digits": digits_int8, "depthwise": depthwise}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model_name", ["digits", "depthwise"])
def test_tflm_on_the_emulated_core_equals_the_host(tmp_path, tflm_models, tflm_tree, toolchain, target,
                                                   model_name) -> None:
    model = tflm_models[model_name]
    out = tmp_path / "out"
    emit_project(model, out, target=target, name=model_name)
    report = verify(out, samples=4, timeout=300, tflm_tree=tflm_tree)
    assert report.passed, report.summary()
    outputs = sum(int(np.prod(t.shape)) for t in model.main.output_tensors())
    assert report.outputs_equal and report.max_abs_diff == 0 and report.values_compared == 4 * outputs
    assert (report.runtime, report.kernels) == ("tflm", "cmsis-nn")
    assert report.instructions_per_inference > 1000
    assert report.arena_used_bytes <= report.arena_needed_bytes <= report.arena_used_bytes + 64
    again = verify(out, samples=1, timeout=300, tflm_tree=tflm_tree)
    assert again.tflm["library_built_now"] is False and again.instructions[0] == report.instructions[0]

    host = measure_arena(model).host_bytes
    macro_before = json.loads((out / "report.json").read_text())["project"]["arena_bytes"]
    store_emulation(out, report)
    stored = json.loads((out / "report.json").read_text())
    arena = stored["target"]["arena"]
    used, needed = report.arena_used_bytes, report.arena_needed_bytes
    margin = get_target(target).runtime.arena_margin_bytes
    assert needed <= arena["recommended_bytes"] <= 1.10 * needed + margin
    assert stored["emulation"]["runtime"] == "tflm" and stored["emulation"]["kernels"] == "cmsis-nn"
    print(f"\n{model_name} on {target}: {report.instructions_per_inference:,} instructions per inference; arena "
          f"{used:,} B used ({needed:,} B needed) on the core, {host:,} B on the 64-bit host, macro {macro_before:,} B "
          "(host-based) -> "
          f"{arena['recommended_bytes']:,} B (target-based); flash {report.sizes.flash_bytes:,} B")


def test_convert_verify_puts_the_target_arena_into_the_project(tmp_path, digits_keras_path, tflm_tree) -> None:
    """`edgeq convert --verify --tflm-tree`: the project's arena macro is the one measured on the M4."""
    from edgeq.cli import main

    out = tmp_path / "out"
    calib = digits_keras_path.parent / "digits_calib.npz"
    try:
        main(["-q", "convert", str(digits_keras_path), "--calib", str(calib), "-o", str(out), "--verify",
              "--tflm-tree", str(tflm_tree), "--verify-samples", "2"])
    except SystemExit as done:
        assert done.code in (0, None)
    report = json.loads((out / "report.json").read_text())
    used, needed = report["emulation"]["arena"]["used_bytes"], report["emulation"]["arena"]["needed_bytes"]
    macro = int(re.search(r"#define MODEL_ARENA_SIZE (\d+)u", (out / "tflm-cmake/src/model_io.h").read_text())[1])
    assert macro == report["target"]["arena"]["recommended_bytes"] == report["project"]["arena_bytes"]
    assert needed <= macro <= 1.10 * needed + 16
    assert f"edgeq: arena used {used} of {macro} bytes" in (out / "tflm-cmake/README.md").read_text()


def test_project_main_on_the_qemu_board_prints_what_the_readme_says(tmp_path, digits_int8, tflm_tree,
                                                                   toolchain) -> None:
    """The tflm-cmake project's main.cc + model sources + board/qemu files, linked with the cached TFLM library,
    run with the README's qemu-system-arm command: the output is the README's block, line for line."""
    from edgeq.emulate.firmware import EXIT_FAULT
    from edgeq.emulate.tflm import compilers, tflm_library
    from edgeq.emulate.verify import measured_arena

    profile = get_target("cortex-m4")
    probe = tmp_path / "probe"
    emit_project(digits_int8, probe, target=profile, name="digits")
    arena = measured_arena(verify(probe, samples=1, tflm_tree=tflm_tree))
    assert arena is not None
    project = tmp_path / "project"
    write_project(digits_int8, project, target=profile, name="digits", target_arena=arena)
    library = tflm_library(tflm_tree, profile, toolchain)
    gxx, _ = compilers(toolchain)
    flags = [*library.build.flags("c++", library=False), "-O2", "-DEDGEQ_NO_DWT", f"-I{project / 'src'}",
             "-Wall", "-Wextra"]
    objects = []
    for source in ("src/main.cc", "src/model_data.cc"):
        obj = tmp_path / (Path(source).stem + ".o")
        subprocess.run([gxx, *flags, "-c", str(project / source), "-o", str(obj)], check=True)
        objects.append(obj)
    startup = tmp_path / "startup.o"
    subprocess.run([toolchain.gcc, *profile.cpu.cflags, "-O2", f"-DEDGEQ_EXIT_FAULT={EXIT_FAULT}", "-c",
                    str(project / "board/qemu/startup.c"), "-o", str(startup)], check=True)
    elf = project / "build-qemu" / "digits_firmware.elf"
    elf.parent.mkdir()
    subprocess.run([gxx, *profile.cpu.cflags, "-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs",
                    f"-T{project / 'board/qemu/link.ld'}", "-Wl,--gc-sections", str(startup), *map(str, objects),
                    str(library.path), "-lm", "-o", str(elf)], check=True)
    readme = (project / "README.md").read_text()
    command = re.search(r"^qemu-system-arm .*$", readme, re.MULTILINE)[0]
    run = subprocess.run(command.split(), cwd=project, capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    expected = readme.split("It prints\n\n```\n")[1].split("```")[0]
    print(f"\n$ {command}\n{run.stdout}(exit {run.returncode})")
    assert run.stdout.replace("\r\n", "\n") == expected and run.returncode == 0
