"""Target profiles: the built-in set, inheritance (a board inherits its core), and validation errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeq.check.targets import KERNEL_CLASSES, available_targets, get_target, load_targets
from edgeq.errors import TargetError

CORES = ["cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"]
BOARDS = {  # board -> (core it must inherit, clock MHz, flash KiB, RAM KiB): the boards' datasheet numbers
    "nrf52840-dk": ("cortex-m4", 64, 1024, 256),
    "arduino-nano-33-ble-sense": ("cortex-m4", 64, 1024, 256),
    "stm32f746-disco": ("cortex-m7", 216, 1024, 320),
    "stm32l4r5-nucleo": ("cortex-m4", 120, 2048, 640),
    "rp2040-pico": ("cortex-m0plus", 133, 2048, 264),
    "esp32-s3": ("xtensa-lx7", 240, 8192, 512),
}


def test_builtin_profiles_cover_the_cores_boards_and_android():
    targets = available_targets()
    assert set(CORES) | set(BOARDS) | {"android-arm64"} <= set(targets)
    assert not any(p.abstract for p in targets.values())
    assert {"cortex-m", "xtensa-lx7"} <= set(available_targets(include_abstract=True)) - set(targets)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_boards_inherit_their_core_and_override_what_differs(board):
    core, clock, flash, ram = BOARDS[board]
    profile = get_target(board)
    base = available_targets(include_abstract=True)[core]
    assert profile.cpu.core == base.cpu.core
    assert profile.cpu.cflags == base.cpu.cflags
    assert profile.latency == base.latency  # cycles per MAC belong to the core
    assert (profile.cpu.clock_mhz, profile.memory.flash_kb, profile.memory.ram_kb) == (clock, flash, ram)
    assert profile.description != base.description  # descriptions are never inherited


def test_two_level_inheritance_takes_the_nearest_value():
    nano = get_target("arduino-nano-33-ble-sense")
    dk = get_target("nrf52840-dk")
    m4 = get_target("cortex-m4")
    assert nano.inherit == "nrf52840-dk" and dk.inherit == "cortex-m4"
    assert nano.cpu.clock_mhz == dk.cpu.clock_mhz == 64 != m4.cpu.clock_mhz
    assert nano.memory.reserved_flash_kb > dk.memory.reserved_flash_kb  # the bootloader + Mbed OS
    assert nano.runtime == dk.runtime == m4.runtime


@pytest.mark.parametrize("name", sorted(available_targets()))
def test_every_profile_states_runtime_budgets_and_latency_source(name):
    p = get_target(name)
    assert p.runtime.name in ("tflm", "litert") and p.runtime.kernels
    assert p.memory.flash_kb > p.memory.reserved_flash_kb + p.runtime.code_flash_kb
    assert p.memory.ram_kb > p.memory.reserved_ram_kb
    assert set(p.latency.cycles_per_mac) == set(KERNEL_CLASSES)
    assert p.latency.source and p.runtime.code_flash_source
    if p.is_mcu:
        assert p.runtime.name == "tflm"
        # optimized kernels must be estimated faster than the reference ones
        assert max(v for k, v in p.latency.cycles_per_mac.items() if k != "reference") < \
            p.latency.cycles_per_mac["reference"]


def test_android_profile_runs_litert():
    p = get_target("android-arm64")
    assert (p.kind, p.runtime.name, p.runtime.kernels) == ("android", "litert", "xnnpack")
    assert "float16" in p.modes


# --- loading a directory of profiles written by a test ------------------------------------------------------

BASE = """
name = "base"
abstract = true
kind = "mcu"
[runtime]
name = "tflm"
kernels = "cmsis-nn"
code_flash_kb = 100
code_flash_source = "test"
[memory]
reserved_flash_kb = 10
reserved_ram_kb = 4
[latency]
source = "test"
cycles_per_mac = { conv = 2, depthwise = 3, fully_connected = 1.5, reference = 10 }
cycles_per_element = 4
"""
CORE = """
name = "core"
description = "a core"
inherit = "base"
[cpu]
core = "cortex-m4"
clock_mhz = 80
cflags = ["-mcpu=cortex-m4"]
[memory]
flash_kb = 512
ram_kb = 128
"""
BOARD = """
name = "board"
inherit = "core"
[cpu]
clock_mhz = 100
[latency]
cycles_per_mac = { conv = 1.5 }
"""


def _write(directory: Path, **files: str) -> Path:
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return directory


def test_inheritance_merges_tables_key_by_key(tmp_path):
    targets = load_targets(_write(tmp_path, base=BASE, core=CORE, board=BOARD))
    board, core = targets["board"], targets["core"]
    assert targets["base"].abstract and not core.abstract and not board.abstract
    assert board.cpu.clock_mhz == 100.0 and core.cpu.clock_mhz == 80.0
    assert board.cpu.cflags == ("-mcpu=cortex-m4",)
    assert board.memory.flash_kb == 512 and board.memory.reserved_ram_kb == 4
    # a nested table overrides one key and keeps the others
    assert board.latency.cycles_per_mac == {"conv": 1.5, "depthwise": 3.0, "fully_connected": 1.5, "reference": 10.0}
    assert board.description == "" and core.description == "a core"


@pytest.mark.parametrize(("board", "message"), [
    (BOARD + 'colour = "red"\n', "unknown key(s) colour"),
    (BOARD.replace("[cpu]", "[cpu]\nfrequency = 3"), "[cpu]: unknown key(s) frequency"),
    (BOARD + "[flash]\nsize = 1\n", "unknown key(s) flash"),
    (BOARD.replace("clock_mhz = 100", 'clock_mhz = "fast"'), "clock_mhz: expected float, got str"),
    (BOARD.replace('inherit = "core"', 'inherit = "nowhere"'), "inherits unknown target 'nowhere'"),
    (BOARD.replace('name = "board"', 'name = "other"'), "must match the file name"),
    (BOARD + '[runtime]\nkernels = "magic"\n', "kernels for tflm must be one of"),
    (BOARD + "[memory]\nreserved_ram_kb = 200\n", "reserved_ram_kb leaves no RAM"),
    (BOARD + "[memory]\nflash_kb = 100\n", "leave no flash for a model"),
    (BOARD.replace("clock_mhz = 100", "clock_mhz = 0"), "clock_mhz must be > 0"),
    (BOARD.replace("cycles_per_mac = { conv = 1.5 }", "cycles_per_mac = { winograd = 1 }"),
     "unknown kernel class(es) winograd"),
    ('modes = ["int3"]\n' + BOARD, "unknown mode(s) int3"),
    (BOARD + "[cpu\n", "invalid TOML"),
    (BOARD + '[sdk]\nzephyr = "nrf52840dk"\n',
     "board.toml: [sdk] has unknown key(s) zephyr; the templates read: arduino_fqbn, idf_target, zephyr_board"),
    (BOARD + "[sdk]\nzephyr_board = 3\n", "board.toml [sdk]: zephyr_board: expected str, got int 3"),
])
def test_malformed_profiles_are_target_errors_naming_the_problem(tmp_path, board, message):
    with pytest.raises(TargetError, match=re.escape(message)):
        load_targets(_write(tmp_path, base=BASE, core=CORE, board=board))


def test_concrete_profile_without_latency_is_refused(tmp_path):
    base = BASE.split("[latency]")[0]
    with pytest.raises(TargetError, match="needs cycles_per_mac"):
        load_targets(_write(tmp_path, base=base, core=CORE))


def test_inheritance_cycle_is_refused(tmp_path):
    a = 'name = "a"\ninherit = "b"\n'
    b = 'name = "b"\ninherit = "a"\n'
    with pytest.raises(TargetError, match="inheritance cycle"):
        load_targets(_write(tmp_path, a=a, b=b))


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(TargetError, match="unknown target 'cortex-m99'.*cortex-m4"):
        get_target("cortex-m99")


def test_user_profiles_from_the_target_path_inherit_builtin_ones(tmp_path, monkeypatch):
    from edgeq.check.targets import TARGET_PATH_VARIABLE, available_targets, get_target

    (tmp_path / "my-board.toml").write_text(
        'name = "my-board"\ndescription = "an STM32H7 board"\ninherit = "cortex-m7"\n\n'
        "[cpu]\nclock_mhz = 480\n\n[memory]\nflash_kb = 2048\nram_kb = 1024\n")
    assert "my-board" not in available_targets()
    monkeypatch.setenv(TARGET_PATH_VARIABLE, str(tmp_path))
    board = get_target("my-board")
    assert (board.cpu.core, board.cpu.clock_mhz, board.memory.ram_kb) == ("cortex-m7", 480, 1024)
    assert board.emulator.qemu_machine == get_target("cortex-m7").emulator.qemu_machine
    monkeypatch.setenv(TARGET_PATH_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(TargetError, match="does not exist"):
        available_targets()
