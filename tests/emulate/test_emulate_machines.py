"""Machine table, target mapping, tool discovery and bounded runs (no emulator needed)."""

from __future__ import annotations

import re
import time

import pytest

from edgeq.check.targets import available_targets, get_target
from edgeq.emulate import DEBIAN_PACKAGES, find_toolchain, machine_for, machines
from edgeq.emulate.firmware import render_harness, render_linker_script
from edgeq.emulate.tools import first_error, run_bounded
from edgeq.errors import TargetError, ToolMissingError, VerifyError

EXPECTED = {"cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500",
            "cortex-m33": "mps2-an505", "cortex-m55": "mps3-an547"}


@pytest.mark.parametrize(("core", "machine"), sorted(EXPECTED.items()))
def test_each_core_runs_on_the_qemu_board_with_that_core(core, machine):
    chosen = machine_for(get_target(core))
    assert chosen.name == machine
    assert chosen.cpu == core


def test_every_mcu_target_has_a_machine_or_says_why_not():
    for name, profile in available_targets().items():
        if not profile.is_mcu:
            continue
        if profile.emulator.qemu_machine:
            assert machine_for(profile).cpu == profile.cpu.core
        else:
            assert len(profile.emulator.note) > 40, f"{name} has no emulator and no note saying why"
            with pytest.raises(VerifyError, match=re.escape(profile.emulator.note[:30])):
                machine_for(profile)


def test_cortex_m0plus_explains_the_missing_emulator():
    with pytest.raises(VerifyError, match="no Cortex-M0\\+ CPU model.*microbit"):
        machine_for(get_target("cortex-m0plus"))


def test_android_target_is_refused():
    with pytest.raises(VerifyError, match="cannot be emulated: it is not a microcontroller"):
        machine_for(get_target("android-arm64"))


def test_a_profile_naming_a_board_with_another_core_is_an_error():
    from dataclasses import replace

    from edgeq.check.targets import Emulator

    profile = replace(get_target("cortex-m4"), emulator=Emulator(qemu_machine="mps2-an385"))
    with pytest.raises(TargetError, match="cortex-m4 but QEMU machine mps2-an385 has a cortex-m3"):
        machine_for(profile)


@pytest.mark.parametrize("name", sorted(EXPECTED.values()))
def test_linker_script_places_code_and_data_in_the_machine_map(name):
    machine = machines()[name]
    script = render_linker_script(machine)
    flash = re.search(r"FLASH \(rx\)\s*: ORIGIN = (0x[0-9a-f]+), LENGTH = (0x[0-9a-f]+)", script)
    ram = re.search(r"RAM \(rwx\)\s*: ORIGIN = (0x[0-9a-f]+), LENGTH = (0x[0-9a-f]+)", script)
    assert (int(flash[1], 16), int(flash[2], 16)) == (machine.flash.origin, machine.flash.length)
    assert (int(ram[1], 16), int(ram[2], 16)) == (machine.ram.origin, machine.ram.length)
    # Armv8-M boards boot Secure: everything must sit at a Secure alias (address bit 28 set).
    if machine.cpu in ("cortex-m33", "cortex-m55"):
        assert machine.flash.origin & 0x10000000 and machine.ram.origin & 0x10000000
    assert "{{" not in script and "{%" not in script


def test_harness_template_uses_the_model_interface():
    text = render_harness("kws", [490], [12, 4])
    assert '#include "kws_model.h"' in text
    assert "KWS_NUM_INPUTS != 1" in text and "KWS_NUM_OUTPUTS != 2" in text
    assert "kws_invoke(" in text and "kws_input_bytes[i]" in text
    assert "edgeq_input_sizes[1] = { 490 }" in text and "edgeq_output_sizes[2] = { 12, 4 }" in text


def test_missing_tools_name_the_debian_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError) as info:
        find_toolchain()
    message = str(info.value)
    assert "arm-none-eabi-gcc" in message
    assert DEBIAN_PACKAGES in message
    assert DEBIAN_PACKAGES == "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
    assert "\n" not in message


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie is dead, only not reaped yet
    except OSError:
        return False


def test_run_bounded_kills_the_whole_process_group_on_time_out():
    started = time.monotonic()
    # The shell prints its background child's pid, then waits: both must die at the time-out.
    done = run_bounded(["sh", "-c", "sleep 300 & echo $!; wait"], timeout=0.5)
    assert done.timed_out
    assert time.monotonic() - started < 10
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_first_error_prefers_the_compiler_error_over_collect2():
    text = ("/usr/bin/ld: x.o: in function `f':\nx.c:(.text+0x4): undefined reference to `g'\n"
            "collect2: error: ld returned 1 exit status\n")
    assert first_error(text) == "x.c:(.text+0x4): undefined reference to `g'"


def test_console_parsing_keeps_samples_and_flags_garbage():
    from edgeq.emulate.qemu import parse_console, parse_op_markers

    text = ("EDGEQ OPS 0:CONV_2D 2:ADD\nEDGEQ BEGIN\nEDGEQ SAMPLE 0 RC 0\nEDGEQ OUT 0 0 80ff7f\nEDGEQ OUT 0 1 \n"
            "EDGEQ SAMPLE 1 RC 3\nEDGEQ OUT 1 0 zz\nEDGEQ OUT 5 0 00\nEDGEQ STACK 96\nEDGEQ ARENA 4756 65536\n"
            "EDGEQ ARENA_NEEDED 4784\nEDGEQ LOG a TFLM message\nEDGEQ END 2\nsome other text\n")
    samples, numbers, errors = parse_console(text)
    assert parse_op_markers(text) == [(0, "CONV_2D"), (2, "ADD")]
    assert parse_op_markers("EDGEQ BEGIN\n") == []
    assert samples[0].rc == 0 and samples[0].outputs == {0: b"\x80\xff\x7f", 1: b""}
    assert samples[1].rc == 3 and samples[1].outputs == {}
    assert numbers == {"STACK": 96, "ARENA": 4756, "ARENA_NEEDED": 4784, "END": 2}
    assert len(errors) == 2 and all(e.startswith("unreadable line from the guest") for e in errors)


def test_count_file_splits_inferences_by_operator_markers(tmp_path):
    from edgeq.emulate.qemu import read_counts

    # begin/end alone cost 2, one operator marker 2 more; two inferences with 3 marks each.
    path = tmp_path / "counts.txt"
    path.write_text("2\nop 3\n4\nop 10\nop 60\nop 100\n130\nop 10\nop 70\nop 100\n140\ntotal 9999\n")
    overhead, totals, splits = read_counts(path)
    assert overhead == 2
    assert totals == [130 - 2 - 3 * 2, 140 - 2 - 3 * 2]
    assert splits == [[8, 48, 38, 28], [8, 58, 28, 38]]
    assert [sum(s) for s in splits] == totals
    # TFLM's harness has no operator-marker pair: every measurement after the first is an inference.
    path.write_text("2\n130\n140\n")
    assert read_counts(path, op_pair=False) == (2, [128, 138], [[], []])


def test_fault_lines_are_decoded_with_the_function_name():
    from pathlib import Path

    from edgeq.emulate import Firmware, ImageSizes
    from edgeq.emulate.qemu import describe_fault

    firmware = Firmware(elf=Path("x.elf"), machine=machines()["mps2-an386"], cflags=(), begin_marker=0,
                        end_marker=0, sizes=ImageSizes(0, 0, 0, 0, 0, 0, 0),
                        functions={"main": 0x101, "conv_kernel": 0x401, "__aeabi_idiv": 0x431})
    line = ("EDGEQ FAULT busfault exception=0x00000005 pc=0x00000420 lr=0x00000111 cfsr=0x00008200 "
            "hfsr=0x00000000 mmfar=0x00000000 bfar=0xf0000000 exc_return=0xfffffff9")
    assert describe_fault(line, firmware) == ("busfault at pc 0x00000420 in conv_kernel+0x20: PRECISERR "
                                              "(bus address 0xf0000000)")
