"""The tflm-cmake project against TFLM trees, without TFLM: fake trees (fake_tflm_tree.py) decide which files the
build compiles and what it says when one is missing; edgeq's device header is compiled for every Cortex-M
profile; the -DEDGEQ_BOARD=qemu start-up code and linker script boot every QEMU machine with the README's
command; and the TFLM_ROOT route passes the project's toolchain to create_tflm_tree.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_tflm_tree import NOT_SOURCES, SOURCES, make_fake_tree
from test_emit_compile import cortex_m_flag_sets

from edgeq.check.targets import get_target
from edgeq.emit import write_project
from edgeq.emit.boards import machines
from edgeq.emit.tflm_build import build_settings
from edgeq.emulate.tflm import check_tree, tree_digest, tree_sources
from edgeq.errors import VerifyError

QEMU_TARGETS = {"mps2-an385": "cortex-m3", "mps2-an386": "cortex-m4", "mps2-an500": "cortex-m7",
                "mps2-an505": "cortex-m33", "mps3-an547": "cortex-m55"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"this test needs {name} (apt install cmake make gcc-arm-none-eabi libnewlib-arm-none-eabi " \
                 "libstdc++-arm-none-eabi-newlib qemu-system-arm)"
    return path


def _configure(project: Path, build: Path, *options: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("cmake"), "-S", str(project), "-B", str(build), "-G", "Unix Makefiles",
         f"-DCMAKE_TOOLCHAIN_FILE={project / 'cmake' / 'arm-none-eabi.cmake'}", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
         *options], capture_output=True, text=True, check=False, env=env)


def _build(build: Path, target: str) -> None:
    made = subprocess.run([_tool("cmake"), "--build", str(build), "--target", target, "-j2"], capture_output=True,
                          text=True, check=False)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]


def _compiled_files(build: Path) -> dict[str, str]:
    """File -> compile command, from CMake's compile_commands.json."""
    entries = json.loads((build / "compile_commands.json").read_text())
    return {Path(e["file"]).resolve().as_posix(): e["command"] for e in entries}


def test_tree_sources_are_the_c_and_cc_files_under_the_source_directories(tmp_path) -> None:
    tree = make_fake_tree(tmp_path / "tree")
    assert tree_sources(tree) == sorted(SOURCES)
    assert check_tree(tree) == tree.resolve()
    before = tree_digest(tree)
    (tree / "signal/src/fake_signal.cc").write_text("int edgeq_fake_signal = 4;\n")
    assert tree_digest(tree) != before, "the library cache key must follow the tree's content"


@pytest.mark.parametrize("missing", [*build_settings().required, *build_settings().required_cmsis_nn])
def test_a_tree_without_a_required_file_is_refused_naming_it(tmp_path, missing: str) -> None:
    tree = make_fake_tree(tmp_path / "tree")
    (tree / missing).unlink()
    with pytest.raises(VerifyError, match=f"is not a TFLM tree.*: {missing} is missing; make one") as raised:
        check_tree(tree)
    assert "\n" not in str(raised.value)
    if missing in build_settings().required_cmsis_nn:
        assert check_tree(tree, cmsis_nn=False) == tree.resolve()  # reference kernels do without them


@pytest.mark.arm
def test_cmake_compiles_exactly_the_tree_sources_with_edgeq_device_header(tmp_path, tiny_int8) -> None:
    """For every Cortex-M flag set: the library is every tree source and nothing else, micro_time.cc (as TFLM
    uses it) compiles against port/edgeq_cmsis_device.h, and the application sees the library's definitions."""
    tree = make_fake_tree(tmp_path / "tree")
    for target_name in cortex_m_flag_sets():
        project = tmp_path / target_name
        write_project(tiny_int8, project, target=get_target(target_name), template="tflm-cmake", name="tiny")
        build = project / "build"
        configure = _configure(project, build, f"-DTFLM_TREE={tree}")
        assert configure.returncode == 0, configure.stdout + configure.stderr
        compiled = _compiled_files(build)
        expected = {(tree / s).resolve().as_posix() for s in SOURCES}
        own = {(project / s).resolve().as_posix() for s in ("src/main.cc", "src/model_data.cc")}
        assert set(compiled) == expected | own, target_name
        assert not {(tree / s).resolve().as_posix() for s in NOT_SOURCES} & set(compiled)
        micro_time = compiled[(tree / "tensorflow/lite/micro/cortex_m_generic/micro_time.cc").resolve().as_posix()]
        assert '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE=\\"edgeq_cmsis_device.h\\"' in micro_time
        assert f"-isystem {project / 'port'}" in micro_time
        main = compiled[(project / "src/main.cc").resolve().as_posix()]
        for define in ("-DTF_LITE_STATIC_MEMORY", "-DCMSIS_NN", "-DKERNELS_OPTIMIZED_FOR_SPEED"):
            assert define in main and define in micro_time, (target_name, define)
        _build(build, "tflm")  # the fake sources, micro_time.cc with edgeq's device header included
        assert (build / "libtflm.a").is_file()


@pytest.mark.arm
def test_cmake_names_the_missing_file_of_an_incomplete_tree(tmp_path, tiny_int8) -> None:
    project = tmp_path / "project"
    write_project(tiny_int8, project, target=get_target("cortex-m4"), template="tflm-cmake", name="tiny")
    tree = make_fake_tree(tmp_path / "tree", cmsis_nn=False)
    refused = _configure(project, tmp_path / "build-cmsis", f"-DTFLM_TREE={tree}")
    assert refused.returncode != 0
    assert "is not a TFLM tree (with cmsis_nn kernels): tensorflow/lite/micro/kernels/cmsis_nn/conv.cc is" in \
        " ".join(refused.stderr.split())
    reference = _configure(project, tmp_path / "build-ref", f"-DTFLM_TREE={tree}", "-DTFLM_KERNELS=reference")
    assert reference.returncode == 0, reference.stderr
    assert "-DCMSIS_NN" not in " ".join(_compiled_files(tmp_path / "build-ref").values())
    (tree / "tensorflow/lite/micro/micro_interpreter.h").unlink()
    broken = _configure(project, tmp_path / "build-broken", f"-DTFLM_TREE={tree}", "-DTFLM_KERNELS=reference")
    assert broken.returncode != 0
    assert "tensorflow/lite/micro/micro_interpreter.h is missing" in " ".join(broken.stderr.split())


@pytest.mark.arm
@pytest.mark.qemu
@pytest.mark.parametrize("machine", sorted(QEMU_TARGETS))
def test_qemu_board_boots_every_machine_with_the_readme_command(tmp_path, tiny_int8, machine: str) -> None:
    """-DEDGEQ_BOARD=qemu: CMake compiles board/qemu/startup.c; linked with board/qemu/link.ld and a small main
    (semihosting printf), the README's qemu-system-arm command prints its line and exits with main's status."""
    profile = get_target(QEMU_TARGETS[machine])
    project = tmp_path / "project"
    write_project(tiny_int8, project, target=profile, template="tflm-cmake", name="tiny")
    readme = (project / "README.md").read_text()
    command = f"qemu-system-arm -M {machine} -nographic -semihosting -kernel build-qemu/tiny_firmware.elf"
    assert command in readme and "-DEDGEQ_BOARD=qemu" in readme
    assert f"ORIGIN = {machines()[machine].ram.origin:#010x}" in (project / "board/qemu/link.ld").read_text()
    build = tmp_path / "build"
    configure = _configure(project, build, f"-DTFLM_TREE={make_fake_tree(tmp_path / 'tree')}", "-DEDGEQ_BOARD=qemu")
    assert configure.returncode == 0, configure.stdout + configure.stderr
    _build(build, "tiny_board")
    startup = build / "CMakeFiles" / "tiny_board.dir" / "board" / "qemu" / "startup.c.obj"
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\nint main(void) { printf("edgeq board %s\\n", "ok"); return 7; }\n')
    elf = tmp_path / "board.elf"
    link = subprocess.run([_tool("arm-none-eabi-gcc"), *profile.cpu.cflags, "-O2", "-nostartfiles",
                           "--specs=nano.specs", "--specs=rdimon.specs", f"-T{project / 'board/qemu/link.ld'}",
                           str(startup), str(main), "-o", str(elf)], capture_output=True, text=True, check=False)
    assert link.returncode == 0, link.stderr
    run = subprocess.run([_tool("qemu-system-arm"), "-M", machine, "-nographic", "-semihosting", "-kernel", str(elf)],
                         capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    assert "edgeq board ok" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 7, "QEMU exits with main's return value (the self-check's status)"


@pytest.mark.arm
def test_qemu_board_is_refused_where_qemu_has_no_machine(tmp_path, tiny_int8) -> None:
    project = tmp_path / "project"
    write_project(tiny_int8, project, target=get_target("cortex-m0plus"), template="tflm-cmake", name="tiny")
    assert not (project / "board").exists() and "Run on QEMU" not in (project / "README.md").read_text()
    tree = make_fake_tree(tmp_path / "tree")
    refused = _configure(project, tmp_path / "build", f"-DTFLM_TREE={tree}", "-DEDGEQ_BOARD=qemu")
    assert refused.returncode != 0
    assert "EDGEQ_BOARD=qemu: cortex-m0plus has no QEMU machine: QEMU 7.2 has no Cortex-M0+" in \
        " ".join(refused.stderr.split())
    unknown = _configure(project, tmp_path / "build2", f"-DTFLM_TREE={tree}", "-DEDGEQ_BOARD=nucleo")
    assert unknown.returncode != 0 and "the only board edgeq provides is qemu" in " ".join(unknown.stderr.split())


def _fake_checkout(root: Path, tree: Path) -> Path:
    """A tflite-micro checkout whose create_tflm_tree.py records its arguments and copies `tree`."""
    script = root / "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py"
    script.parent.mkdir(parents=True)
    script.write_text(
        "import json, shutil, sys\n"
        f"shutil.copytree({str(tree)!r}, sys.argv[-1])\n"
        f"open({str(root / 'args.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    return root


@pytest.mark.arm
def test_tflm_root_generates_the_tree_with_the_projects_toolchain(tmp_path, tiny_int8) -> None:
    """-DTFLM_ROOT: create_tflm_tree.py runs in the checkout with TARGET_TOOLCHAIN_ROOT set to the configured
    compiler's directory (so TFLM's Makefile downloads no toolchain), with the python3 on PATH, which must have
    Pillow and numpy."""
    project = tmp_path / "project"
    write_project(tiny_int8, project, target=get_target("cortex-m7"), template="tflm-cmake", name="tiny")
    checkout = _fake_checkout(tmp_path / "tflite-micro", make_fake_tree(tmp_path / "tree"))
    tools = tmp_path / "bin"  # python3 = this interpreter, with a stand-in Pillow
    tools.mkdir()
    (tools / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (tools / "python3").chmod(0o755)
    (tmp_path / "site" / "PIL").mkdir(parents=True)
    (tmp_path / "site" / "PIL" / "__init__.py").write_text("")
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path / "site")}
    build = tmp_path / "build"
    configure = _configure(project, build, f"-DTFLM_ROOT={checkout}", env=env)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    arguments = json.loads((checkout / "args.json").read_text())
    gcc_dir = Path(shutil.which("arm-none-eabi-g++") or "").resolve().parent
    options = arguments[0].removeprefix("--makefile_options=").split()
    assert options == ["TARGET=cortex_m_generic", "TARGET_ARCH=project_generation",
                       f"TARGET_TOOLCHAIN_ROOT={gcc_dir}/", "OPTIMIZED_KERNEL_DIR=cmsis_nn"]
    assert arguments[1] == str(build / "tflm-tree")
    assert (build / "tflm-tree" / "tensorflow/lite/micro/cortex_m_generic/micro_time.cc").is_file()

    without_pillow = {**env, "PYTHONPATH": ""}
    refused = _configure(project, tmp_path / "build2", f"-DTFLM_ROOT={checkout}", env=without_pillow)
    assert refused.returncode != 0
    assert "need Pillow and numpy" in " ".join(refused.stderr.split())
