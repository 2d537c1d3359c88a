"""The firmware harness in QEMU with hand-written C models: outputs, faults, hangs, instruction counts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from fakes import (
    FAULT_TRIGGER,
    HANG_TRIGGER,
    IN_BYTES,
    OUT_BYTES,
    expected_fake_outputs,
    fake_samples,
    write_fake_model,
)

from edgeq.check.targets import get_target
from edgeq.emulate import emulate_project, find_project
from edgeq.emulate.firmware import EXIT_FAULT, EXIT_SETUP
from edgeq.emulate.qemu import COMPLETED, ERROR, FAULT, TIMEOUT

pytestmark = pytest.mark.qemu


def _run(tmp_path: Path, toolchain, samples: list[np.ndarray], behaviour: str = "ok", target: str = "cortex-m4",
         timeout: float = 30, **fake):
    project = find_project(write_fake_model(tmp_path / "model", behaviour, **fake))
    return emulate_project(project, get_target(target), [[x.tobytes()] for x in samples], [OUT_BYTES], timeout,
                           tmp_path / "work", toolchain)


def _outputs(run) -> list[np.ndarray]:
    return [np.frombuffer(s.outputs[0], dtype=np.int8) for s in run.samples]


def test_guest_outputs_equal_the_host_computation(tmp_path, toolchain):
    samples = fake_samples(5)
    firmware, run = _run(tmp_path, toolchain, samples)
    assert run.status == COMPLETED, run.detail
    assert run.exit_code == 0
    assert [s.rc for s in run.samples] == [0] * 5
    for got, x in zip(_outputs(run), samples, strict=True):
        np.testing.assert_array_equal(got, expected_fake_outputs(x))
    # Sizes come from the linked image; the model's own share is a small part of it.
    sizes = firmware.sizes
    assert 0 < sizes.model_flash_bytes < sizes.flash_bytes
    assert sizes.ram_bytes == sizes.static_ram_bytes + sizes.stack_reserved_bytes + sizes.heap_reserved_bytes
    assert 0 < run.stack_used_bytes < sizes.stack_reserved_bytes


def test_instruction_counts_cover_exactly_the_inference(tmp_path, toolchain):
    # Byte 1 sets the length of a 2-instruction assembly loop inside the model, so counts must differ by
    # exactly 2 per extra iteration; anything outside the markers (I/O, printing) would blur that.
    samples = fake_samples(3)
    for x, spins in zip(samples, (0, 10, 110), strict=True):
        x[1] = spins
    _, run = _run(tmp_path, toolchain, samples)
    assert run.status == COMPLETED, run.detail
    zero, ten, hundred_ten = run.instructions
    assert ten - zero > 0  # the loop's set-up
    assert hundred_ten - ten == 2 * 100
    assert run.marker_overhead is not None and run.marker_overhead < 10


def test_instruction_counts_repeat_exactly_across_runs(tmp_path, toolchain):
    samples = fake_samples(4)
    _, first = _run(tmp_path / "a", toolchain, samples)
    _, second = _run(tmp_path / "b", toolchain, samples)
    assert first.instructions == second.instructions
    assert len(first.instructions) == 4 and min(first.instructions) > 50


def test_verify_counts_a_one_lsb_difference_as_a_mismatch(tmp_path, toolchain):
    """verify's comparator on a real guest run: the host expectation moved by +-1 LSB in one value, at
    either end of the sample list, is one mismatched value with a max difference of 1."""
    from edgeq.emulate.verify import _compare

    samples = fake_samples(3)
    _, run = _run(tmp_path, toolchain, samples)
    assert run.status == COMPLETED, run.detail
    expected = [(expected_fake_outputs(x),) for x in samples]
    assert _compare(expected, run) == (True, 0, 0, 3 * OUT_BYTES)
    for sample, index, delta in ((0, 0, 1), (2, OUT_BYTES - 1, -1), (1, 2, 1), (1, 2, -1)):
        moved = [tuple(a.copy() for a in want) for want in expected]
        value = int(moved[sample][0][index])
        moved[sample][0][index] = value + delta if -128 < value + delta < 127 else value - delta
        assert _compare(moved, run) == (False, 1, 1, 3 * OUT_BYTES), (sample, index, delta)


def test_verify_compares_float_outputs_to_the_ulp():
    from edgeq.emulate.qemu import GuestRun, SampleOutput
    from edgeq.emulate.verify import _compare

    # A float output compared by value: one ulp off is a mismatch, NaN one with no finite max difference.
    want = np.array([0.25, -1.5, 3.0], np.float32)
    guest = want.copy()
    guest[1] = np.nextafter(guest[1], np.float32(0))
    run = GuestRun(COMPLETED, 0, [SampleOutput(0, {0: guest.tobytes()})], [1], 0, 0)
    equal, max_diff, mismatched, compared = _compare([(want,)], run)
    assert (equal, mismatched, compared) == (False, 1, 3) and max_diff == abs(float(want[1]) - float(guest[1]))
    guest[1] = np.nan
    run = GuestRun(COMPLETED, 0, [SampleOutput(0, {0: guest.tobytes()})], [1], 0, 0)
    assert _compare([(want,)], run) == (False, None, 1, 3)


def test_a_faulting_model_is_reported_as_a_fault(tmp_path, toolchain):
    samples = fake_samples(3, first=[5, FAULT_TRIGGER, 5])
    _, run = _run(tmp_path, toolchain, samples, behaviour="fault")
    assert run.status == FAULT
    assert run.exit_code == EXIT_FAULT
    assert "UNDEFINSTR" in run.detail and "fake_invoke" in run.detail
    assert len(run.samples) == 1  # the first sample finished before the fault


def test_a_hanging_model_times_out_and_leaves_no_qemu_behind(tmp_path, toolchain):
    samples = fake_samples(2, first=[5, HANG_TRIGGER])
    firmware, run = _run(tmp_path, toolchain, samples, behaviour="hang", timeout=3)
    assert run.status == TIMEOUT
    assert run.exit_code is None
    assert "no result within 3 s" in run.detail and "1 sample(s) had finished" in run.detail
    elf = str(firmware.elf).encode()
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if elf in fh.read():
                        left.append(entry)
            except OSError:
                pass
    assert left == []


def test_io_sizes_that_differ_from_the_model_stop_the_harness(tmp_path, toolchain):
    # The C model claims 17 input bytes; the host (model.tflite) says 16.
    _, run = _run(tmp_path, toolchain, fake_samples(1), in_bytes=IN_BYTES + 1)
    assert run.status == ERROR
    assert run.exit_code == EXIT_SETUP
    assert run.detail == "input 0 of the C model has 17 bytes, model.tflite has 16"


def test_a_nonzero_invoke_result_is_passed_through(tmp_path, toolchain):
    _, run = _run(tmp_path, toolchain, fake_samples(2, first=[1, 5]), behaviour="fails")
    assert run.status == COMPLETED
    assert [s.rc for s in run.samples] == [7, 0]


def test_a_host_main_in_the_project_is_left_out_of_the_link(tmp_path, toolchain):
    samples = fake_samples(1)
    _, run = _run(tmp_path, toolchain, samples, with_host_main=True)
    assert run.status == COMPLETED, run.detail
    np.testing.assert_array_equal(_outputs(run)[0], expected_fake_outputs(samples[0]))


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_every_emulated_core_runs_the_harness(tmp_path, toolchain, target):
    samples = fake_samples(2)
    firmware, run = _run(tmp_path, toolchain, samples, target=target)
    assert run.status == COMPLETED, run.detail
    for got, x in zip(_outputs(run), samples, strict=True):
        np.testing.assert_array_equal(got, expected_fake_outputs(x))
    assert firmware.machine.cpu == target
    assert all(n > 50 for n in run.instructions)


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_edgeq_own_c_compiles_warning_free(tmp_path, toolchain, target):
    from edgeq.emit.boards import data_dir
    from edgeq.emulate.firmware import render_harness
    from edgeq.emulate.tools import run_tool

    write_fake_model(tmp_path)
    harness = tmp_path / "edgeq_harness.c"
    harness.write_text(render_harness("fake", [IN_BYTES], [OUT_BYTES]))
    strict = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-DEDGEQ_EXIT_SETUP={EXIT_SETUP}",
              f"-DEDGEQ_EXIT_FAULT={EXIT_FAULT}", f"-I{tmp_path}", "-c", "-o", str(tmp_path / "x.o")]
    for source in (harness, data_dir() / "startup.c"):
        run_tool([toolchain.gcc, *get_target(target).cpu.cflags, *strict, str(source)], f"compiling {source.name}")
    run_tool([toolchain.host_cc, "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-std=c99", "-pedantic",
              "-o", str(tmp_path / "plugin.so"), str(data_dir() / "icount_plugin.c")], "compiling the plugin")
