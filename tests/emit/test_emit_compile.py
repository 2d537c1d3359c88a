"""The generated C/C++ compiles with -Wall -Wextra -Werror as C11/C++17 under host gcc and arm-none-eabi-gcc
with each Cortex-M profile's flags. TFLM and the platform SDKs are stood in for by declaration-only shims."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from emit_cc import PLATFORM_SHIM, TFLM_SHIM, Job, project_jobs, run_jobs
from fake_tflm_tree import make_fake_tree

from edgeq.check.targets import available_targets, get_target
from edgeq.emit import write_project
from edgeq.emit.project import is_cortex_m, project_templates, select_template
from edgeq.errors import UsageError
from edgeq.tflite import read_model

MCU_TEMPLATES = sorted(name for name, info in project_templates().items() if info.runtime == "tflm")


def _m4_or_own_target(template: str):
    """The Cortex-M4, or the template's test target when it does not build for the M4 (esp-idf: ESP chips only;
    its portable sources still compile with the Cortex-M flags)."""
    m4 = get_target("cortex-m4")
    try:
        select_template(m4, template)
    except UsageError:
        return get_target(project_templates()[template].test_target)
    return m4


def cortex_m_flag_sets() -> dict[str, tuple[str, ...]]:
    """One profile per distinct set of Cortex-M compiler flags."""
    seen: dict[tuple[str, ...], str] = {}
    for name, profile in sorted(available_targets().items()):
        if is_cortex_m(profile):
            seen.setdefault(tuple(profile.cpu.cflags), name)
    return {name: flags for flags, name in seen.items()}


def test_every_cortex_m_core_is_covered() -> None:
    cores = {p.cpu.core for p in available_targets().values() if is_cortex_m(p)}
    assert {"cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"} <= cores
    assert len(cortex_m_flag_sets()) >= 5


@pytest.mark.arm
def test_tflm_cmake_compiles_for_every_cortex_m_core(tmp_path, tiny_int8, tools) -> None:
    jobs = []
    for target_name, flags in cortex_m_flag_sets().items():
        project = tmp_path / target_name
        write_project(tiny_int8, project, target=get_target(target_name), template="tflm-cmake", name="tiny")
        jobs += project_jobs(project, "tflm-cmake", "tiny", tools["arm-none-eabi-g++"], tools["arm-none-eabi-gcc"],
                             flags)
    run_jobs(jobs)


@pytest.mark.arm
@pytest.mark.parametrize("template", MCU_TEMPLATES)
def test_every_mcu_template_compiles_host_and_arm(tmp_path, tiny_int8, tiny_float_io, tools, template) -> None:
    m4 = get_target("cortex-m4")
    jobs = []
    for label, model in (("int8", tiny_int8), ("float_io", tiny_float_io)):
        project = tmp_path / label
        target = _m4_or_own_target(template)
        write_project(model, project, target=target, template=template, name="tiny")
        jobs += project_jobs(project, template, "tiny", tools["g++"], tools["gcc"])
        jobs += project_jobs(project, template, "tiny", tools["arm-none-eabi-g++"], tools["arm-none-eabi-gcc"],
                             m4.cpu.cflags)
    run_jobs(jobs)


@pytest.mark.arm
def test_real_models_compile(tmp_path, digits_int8, person_path, tools) -> None:
    """The example and a model with person_detect's layers and quirk (300 KB: AVERAGE_POOL_2D, ...)."""
    m7 = get_target("cortex-m7")
    jobs = []
    for label, model in (("digits", digits_int8), ("person", read_model(person_path))):
        project = tmp_path / label
        write_project(model, project, target=m7, template="tflm-cmake", name=label)
        jobs += project_jobs(project, "tflm-cmake", label, tools["arm-none-eabi-g++"], tools["arm-none-eabi-gcc"],
                             m7.cpu.cflags)
    run_jobs(jobs)


@pytest.mark.arm
def test_int8_registrations_can_be_switched_off(tmp_path, tiny_int8, tools) -> None:
    project = tmp_path / "p"
    write_project(tiny_int8, project, target=get_target("cortex-m4"), template="tflm-cmake", name="tiny")
    ops = (project / "src" / "model_ops.h").read_text()
    assert "AddFullyConnected(tflite::Register_FULLY_CONNECTED_INT8())" in ops
    assert "AddSoftmax(tflite::Register_SOFTMAX_INT8())" in ops
    run_jobs([Job(tools["g++"], project / "src" / "main.cc", "c++", ("-DTINY_INT8_KERNELS=0",),
                  (project / "src", TFLM_SHIM))])


@pytest.mark.arm
def test_cmake_project_configures_and_compiles(tmp_path, tiny_int8, tools) -> None:
    """CMake reads the generated CMakeLists.txt and toolchain file and builds the application's objects
    (a fake tree of declaration-only shims stands in for TFLM, so only compiling, not linking, is possible)."""
    cmake = shutil.which("cmake")
    assert cmake, "this test needs cmake (apt install cmake)"
    project = tmp_path / "project"
    write_project(tiny_int8, project, target=get_target("cortex-m4"), template="tflm-cmake", name="tiny")
    tree = make_fake_tree(tmp_path / "tree")
    build = tmp_path / "build"
    configure = subprocess.run(
        [cmake, "-S", str(project), "-B", str(build), "-G", "Unix Makefiles", f"-DTFLM_TREE={tree}",
         f"-DCMAKE_TOOLCHAIN_FILE={project / 'cmake' / 'arm-none-eabi.cmake'}", "-DCMAKE_CXX_FLAGS=-Werror"],
        capture_output=True, text=True, check=False)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    for obj in ("src/main.cc.obj", "src/model_data.cc.obj"):
        made = subprocess.run(["make", "-C", str(build), obj], capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stdout + made.stderr
        elf = (build / "CMakeFiles" / "tiny_firmware.dir" / obj).read_bytes()
        assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 40, f"{obj} is not an Arm object"
    flags = (build / "CMakeFiles" / "tiny_firmware.dir" / "flags.make").read_text()
    assert "-mcpu=cortex-m4" in flags and "-mfpu=fpv4-sp-d16" in flags and "TF_LITE_STATIC_MEMORY" in flags


def test_shims_are_marked() -> None:
    headers = [*TFLM_SHIM.rglob("*.h"), *PLATFORM_SHIM.rglob("*.h")]
    assert len(headers) > 20
    for header in headers:
        assert "DECLARATION-ONLY SHIM" in header.read_text(), header


ARDUINO_BOARDS = {  # board -> (the core's defines, the library header the sketch must include)
    "nano33ble": (("-DARDUINO=10819", "-DARDUINO_ARDUINO_NANO33BLE", "-DARDUINO_ARCH_MBED"), "TensorFlowLite.h"),
    "nano33ble, TINY_USE_CHIRALE": (("-DARDUINO=10819", "-DARDUINO_ARDUINO_NANO33BLE", "-DARDUINO_ARCH_MBED",
                                     "-DTINY_USE_CHIRALE=1"), "Chirale_TensorFlowLite.h"),
    "portenta_h7_m7": (("-DARDUINO=10819", "-DARDUINO_PORTENTA_H7_M7", "-DARDUINO_ARCH_MBED"),
                       "Chirale_TensorFlowLite.h"),
    "nano_esp32": (("-DARDUINO=10819", "-DARDUINO_NANO_ESP32", "-DARDUINO_ARCH_ESP32"), "Chirale_TensorFlowLite.h"),
}


def test_arduino_sketch_takes_the_library_that_builds_for_the_board(tmp_path, tiny_int8, tools) -> None:
    """Arduino_TensorFlowLite only on the Nano 33 BLE (its header stops other boards, see the shim); Chirale's
    library on the other mbed and ESP32 boards; the sketch compiles warning-free for each."""
    write_project(tiny_int8, tmp_path, target=get_target("cortex-m4"), template="arduino", name="tiny")
    sketch = tmp_path / "tiny" / "tiny.ino"
    headers = {"TensorFlowLite.h", "Chirale_TensorFlowLite.h"}
    jobs = []
    for board, (defines, header) in ARDUINO_BOARDS.items():
        job = Job(tools["g++"], sketch, "c++", (*defines, "-include", "Arduino.h"),
                  (sketch.parent, TFLM_SHIM, PLATFORM_SHIM))
        deps = subprocess.run([*job.command()[:-3], "-M", str(sketch)], capture_output=True, text=True, check=False)
        assert deps.returncode == 0, f"{board}: {deps.stderr}"
        included = {h for h in headers if re.search(rf"(^|[\s/]){re.escape(h)}\b", deps.stdout)}
        assert included == {header}, f"{board} includes {included}"
        jobs.append(job)
    run_jobs(jobs)


def test_arduino_sketch_refuses_a_board_no_library_serves(tmp_path, tiny_int8, tools) -> None:
    write_project(tiny_int8, tmp_path, target=get_target("cortex-m4"), template="arduino", name="tiny")
    sketch = tmp_path / "tiny" / "tiny.ino"
    for defines in (("-DARDUINO_AVR_UNO", "-DARDUINO_ARCH_AVR"), ("-DARDUINO_SAMD_ZERO", "-DARDUINO_ARCH_SAMD")):
        job = Job(tools["g++"], sketch, "c++", ("-DARDUINO=10819", *defines, "-include", "Arduino.h"),
                  (sketch.parent, TFLM_SHIM, PLATFORM_SHIM))
        proc = subprocess.run(job.command(), capture_output=True, text=True, check=False)
        assert proc.returncode != 0
        assert "edgeq: no Arduino TensorFlow Lite library builds for this board" in proc.stderr
        assert "unsupported board" not in proc.stderr  # stopped by the sketch, not deep inside a library


@pytest.mark.arm
def test_named_io_macros_compile_and_equal_the_index_macros(tmp_path, digits_int8, tools) -> None:
    """model_io.h names inputs and outputs after the Keras model (MODEL_INPUT_IMAGE_*, MODEL_OUTPUT_PROBS_*)
    next to the index macros; a program using both compiles with -Werror as C11 and C++17."""
    project = tmp_path / "p"
    write_project(digits_int8, project, target=get_target("cortex-m4"), template="tflm-cmake")
    header = (project / "src" / "model_io.h").read_text()
    assert '// Input 0: "image", int8 [1, 8, 8, 1]' in header and '// Output 0: "probs", int8 [1, 10]' in header
    assert "#define MODEL_OUTPUT_PROBS_ZERO_POINT MODEL_OUTPUT0_ZERO_POINT" in header
    use = tmp_path / "use_names.c"
    use.write_text(
        '#include "model_io.h"\n'
        "_Static_assert(MODEL_INPUT_IMAGE_INDEX == 0 && MODEL_OUTPUT_PROBS_INDEX == 0, \"indices\");\n"
        "_Static_assert(MODEL_INPUT_IMAGE_ELEMENTS == MODEL_INPUT0_ELEMENTS, \"elements\");\n"
        "_Static_assert(MODEL_OUTPUT_PROBS_ZERO_POINT == MODEL_OUTPUT0_ZERO_POINT, \"zero point\");\n"
        "float scale_ratio(void) { return MODEL_INPUT_IMAGE_SCALE / MODEL_OUTPUT_PROBS_SCALE; }\n"
        "int probs_elements(void) { return (int)MODEL_OUTPUT_PROBS_ELEMENTS; }\n")
    use_cc = tmp_path / "use_names.cc"
    use_cc.write_text(use.read_text().replace("_Static_assert", "static_assert"))
    run_jobs([Job(tools["gcc"], use, "c", (), (project / "src",)),
              Job(tools["g++"], use_cc, "c++", (), (project / "src",)),
              Job(tools["arm-none-eabi-gcc"], use, "c", tuple(get_target("cortex-m4").cpu.cflags),
                  (project / "src",))])


def test_c_engine_makefile_uses_each_targets_core_and_fpu(tmp_path, tiny_int8) -> None:
    """`make arm` and the README's CMake line carry the profile's own -mcpu/-mfloat-abi/-mfpu, for every core."""
    for target_name, flags in cortex_m_flag_sets().items():
        project = tmp_path / target_name
        write_project(tiny_int8, project, target=get_target(target_name), runtime="c", name="tiny")
        makefile = (project / "Makefile").read_text()
        line = re.search(r"^ARM_CFLAGS \?= (.*)$", makefile, re.MULTILINE)
        assert line is not None and line.group(1).split()[:len(flags)] == list(flags), (target_name, line)
        assert f"make arm        {get_target(target_name).cpu.core} static library" in makefile
        assert f'-DCMAKE_C_FLAGS="{" ".join(flags)} -Os"' in (project / "README.md").read_text()


@pytest.mark.arm
@pytest.mark.parametrize(("target_name", "arch", "hard_float"), [("cortex-m0plus", "v6S-M", False),
                                                                 ("cortex-m7", "v7E-M", True)])
def test_c_engine_make_arm_builds_for_the_targets_core(tmp_path, tiny_int8, tools, target_name, arch,
                                                      hard_float) -> None:
    """`make arm` of the compiled-C project, as generated: every object's build attributes name the target's
    architecture, and its float ABI (soft on the M0+, FPU registers on the M7)."""
    readelf = shutil.which("arm-none-eabi-readelf")
    assert readelf is not None and shutil.which("make") is not None
    write_project(tiny_int8, tmp_path, target=get_target(target_name), runtime="c", name="tiny")
    build = subprocess.run(["make", "-s", "-C", str(tmp_path), "arm"], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    objects = sorted((tmp_path / "build-arm").glob("*.o"))
    assert len(objects) >= 2
    for obj in objects:
        attributes = subprocess.run([readelf, "-A", str(obj)], capture_output=True, text=True, check=True).stdout
        assert f"Tag_CPU_arch: {arch}\n" in attributes, (obj.name, attributes)
        assert ("Tag_ABI_VFP_args: VFP registers" in attributes) == hard_float, (obj.name, attributes)
