"""The SDK projects say what their SDKs need today: versions written against, board names, units, kernels."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from edgeq.check.targets import available_targets, get_target
from edgeq.emit import write_project
from edgeq.emit.project import project_templates

# The templates that build with a platform SDK (they read profile [sdk] keys, or run LiteRT), for their test targets
SDK_TEMPLATES = {name: info.test_target for name, info in project_templates().items()
                 if info.sdk or info.runtime == "litert"}


@pytest.fixture(scope="module")
def projects(tmp_path_factory, tiny_int8) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sdk")
    for template, target in SDK_TEMPLATES.items():
        write_project(tiny_int8, out / template, target=get_target(target), template=template, name="tiny")
    return {template: out / template for template in SDK_TEMPLATES}


@pytest.mark.parametrize("template", sorted(SDK_TEMPLATES))
def test_readme_states_the_sdk_versions(projects, template: str) -> None:
    readme = (projects[template] / "README.md").read_text()
    assert "\nWritten against: " in readme, f"{template}/README.md names no SDK versions"
    section = readme.split("\nWritten against: ", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"\d+\.\d+", section), section


def test_zephyr_board_names_use_hardware_model_v2(tmp_path, tiny_int8) -> None:
    """`west build -b` takes board[/soc[/variant]] names since Zephyr 3.7 (nrf52840dk_nrf52840 is gone)."""
    write_project(tiny_int8, tmp_path, target=get_target("nrf52840-dk"), template="zephyr", name="tiny")
    readme = (tmp_path / "README.md").read_text()
    assert "west build -b nrf52840dk/nrf52840 path/to/this/folder" in readme
    for name, profile in available_targets().items():
        board = profile.sdk.get("zephyr_board", "")
        assert board == "" or re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+){0,2}", board), f"{name}: {board!r}"
    assert "zephyr_board" not in get_target("cortex-m4").sdk  # a core names no board


def test_zephyr_prints_microseconds_and_says_which_kernels_run(projects) -> None:
    main = (projects["zephyr"] / "src" / "main.cc").read_text()
    assert 'run_self_check(print_line, read_us, "us")' in main and "k_cyc_to_us_floor32(" in main
    conf = (projects["zephyr"] / "prj.conf").read_text()
    assert "CONFIG_REQUIRES_FULL_LIBCPP" not in conf  # the module's Kconfig selects it
    assert "CONFIG_TENSORFLOW_LITE_MICRO_CMSIS_NN_KERNELS=y" in conf
    readme = " ".join((projects["zephyr"] / "README.md").read_text().split())
    assert "edgeq: inference took N us" in readme
    assert "defines `CMSIS_NN` for its own library only" in readme


def test_esp_idf_needs_idf_5_1(projects) -> None:
    manifest = (projects["esp-idf"] / "main" / "idf_component.yml").read_text()
    assert re.search(r'^  idf: ">=5\.1"$', manifest, re.MULTILINE)
    readme = (projects["esp-idf"] / "README.md").read_text()
    assert "ESP-IDF 5.1 or newer" in readme and "5.0 or newer" not in readme
    assert "idf.py set-target esp32s3" in readme


def test_arduino_readme_names_each_librarys_header_and_install(projects) -> None:
    readme = (projects["arduino"] / "README.md").read_text()
    assert "git clone https://github.com/tensorflow/tflite-micro-arduino-examples Arduino_TensorFlowLite" in readme
    assert "`Chirale_TensorFlowLite.h`" in readme
    assert "Both provide `TensorFlowLite.h`" not in readme


def test_zephyr_timer_counts_microseconds_across_a_counter_wrap(projects, tools, tmp_path) -> None:
    """read_us() from the generated main.cc, run on the host against a counter of 32.768 kHz that wraps between
    the two reads: the elapsed time comes out in microseconds."""
    main = (projects["zephyr"] / "src" / "main.cc").read_text()
    read_us = re.search(r"^uint32_t read_us\(void\) \{.*?^\}", main, re.DOTALL | re.MULTILINE)
    assert read_us is not None
    harness = tmp_path / "read_us.cc"
    harness.write_text(
        "#include <stdint.h>\n#include <stdio.h>\n"
        "static uint32_t g_cycles = 0xFFFFF000u;  // 4096 ticks before the wrap\n"
        "static uint32_t k_cycle_get_32(void) { return g_cycles; }\n"
        "static uint32_t k_cyc_to_us_floor32(uint64_t t) { return (uint32_t)(t * 1000000u / 32768u); }\n"
        + read_us.group(0) + "\n"
        "int main(void) {\n"
        "  uint32_t start = read_us();\n"
        "  g_cycles += 32768u;  // one second later, across the wrap\n"
        "  printf(\"%lu\\n\", (unsigned long)(read_us() - start));\n"
        "  return 0;\n}\n")
    exe = tmp_path / "read_us"
    subprocess.run([tools["g++"], "-std=c++17", "-Wall", "-Wextra", "-Werror", str(harness), "-o", str(exe)],
                   check=True, capture_output=True)
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip() == "1000000"


def test_zephyr_readme_says_what_a_build_needs_and_what_the_estimate_holds(projects) -> None:
    """What a Zephyr 4.2 build with Debian's toolchain needed (cmsis-dsp with CMSIS-NN, picolibc), and the flash/RAM
    estimate spelled out with the profile's own figures."""
    profile = get_target(SDK_TEMPLATES["zephyr"])
    readme = " ".join((projects["zephyr"] / "README.md").read_text().split())
    assert "west config manifest.project-filter -- +tflite-micro,+cmsis-nn,+cmsis-dsp" in readme
    for fragment in ("picolibc-arm-none-eabi", "libstdc++-arm-none-eabi-picolibc", "-DTOOLCHAIN_HAS_PICOLIBC=ON",
                     "ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb"):
        assert fragment in readme, fragment
    assert (f"+ {profile.runtime.code_flash_kb:g} KiB for TFLM's interpreter and kernels" in readme
            and f"+ {profile.memory.reserved_flash_kb:g} KiB the profile keeps" in readme
            and f"+ {profile.memory.reserved_ram_kb:g} KiB for the application" in readme)
