"""The budget arithmetic at its edges: the compiled-C engine's RAM counts the caller's I/O buffers, a budget filled
to the exact byte fits (one byte more does not), and the recommended arena is rounded up to 16 from a need that
is not a multiple of 16."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgeq.check.arena import ArenaMeasurement, kernel_buffers, recommended_arena, target_arena
from edgeq.check.c_engine import EngineFigures
from edgeq.check.macs import LatencyEstimate
from edgeq.check.rules import check_model
from edgeq.check.targets import get_target
from edgeq.tflite import read_model

KIB = 1024


@pytest.fixture(scope="module")
def model(tflite_builder):
    """A small int8 FULLY_CONNECTED model (no TensorFlow: these tests are cheap enough to mutation-test)."""
    return read_model(tflite_builder.fully_connected(units=10, depth=32))


def _engine(arena: int, io: int, code: int = 6000, weights: int = 10000, tables: int = 321) -> EngineFigures:
    latency = LatencyEstimate(ms=1.0, cycles=100_000, clock_mhz=100.0, source="test", per_op=())
    return EngineFigures(path="portable", code_bytes=code, weights_bytes=weights, tables_bytes=tables,
                         arena_bytes=arena, io_bytes=io, code_measured=True, code_method="test", latency=latency)


def _board(ram_bytes: int, reserved_ram: int, flash_bytes: int = 1 << 20, reserved_flash: int = 0):
    m4 = get_target("cortex-m4")
    # Byte counts as KiB: a multiple of 1/1024 is exact in binary floating point.
    memory = replace(m4.memory, ram_kb=ram_bytes / KIB, reserved_ram_kb=reserved_ram / KIB,
                     flash_kb=flash_bytes / KIB, reserved_flash_kb=reserved_flash / KIB)
    return replace(m4, name="edge-board", memory=memory)


def _rule(result, name: str):
    return next(r for r in result.rules if r.rule == name)


def test_c_engine_ram_counts_the_io_buffers(model) -> None:
    arena, io, reserved = 3000, 4200, 2048
    engine = _engine(arena, io)
    # RAM that holds arena + reserved but not the I/O buffers as well.
    board = _board(ram_bytes=arena + reserved + io - 1, reserved_ram=reserved)
    result = check_model(model, board, engine=engine)
    ram = _rule(result, "ram_fits")
    assert not ram.ok and not result.ok
    assert result.ram.used == arena + io + reserved and result.ram.exceeded_by == 1
    assert result.ram.to_dict()["parts_bytes"] == {"arena": arena, "inputs/outputs": io, "reserved": reserved}
    assert "inputs/outputs 4.1 KiB" in ram.detail
    fits = check_model(model, _board(arena + reserved + io, reserved), engine=engine)
    assert _rule(fits, "ram_fits").ok and fits.ram.to_dict()["free_bytes"] == 0


@pytest.mark.parametrize("spare", [0, -1])
def test_a_budget_filled_to_the_exact_byte_fits(model, spare) -> None:
    engine = _engine(arena=5000, io=810)
    ram_used = 5000 + 810 + 1000
    flash_used = 6000 + 10000 + 321 + 4096
    board = _board(ram_bytes=ram_used + spare, reserved_ram=1000, flash_bytes=flash_used + spare,
                   reserved_flash=4096)
    result = check_model(model, board, engine=engine)
    assert result.ram.used == ram_used and result.flash.used == flash_used
    assert _rule(result, "ram_fits").ok is (spare == 0)
    assert _rule(result, "flash_fits").ok is (spare == 0)
    assert result.ram.exceeded_by == result.flash.exceeded_by == -spare
    assert result.ok is (spare == 0)


def test_tflm_flash_filled_to_the_exact_byte_fits(model) -> None:
    m4 = get_target("cortex-m4")
    used = model.size + int(m4.runtime.code_flash_kb * KIB) + int(m4.memory.reserved_flash_kb * KIB)
    exact = replace(m4, name="exact", memory=replace(m4.memory, flash_kb=used / KIB))
    short = replace(m4, name="short", memory=replace(m4.memory, flash_kb=(used - 1) / KIB))
    assert _rule(check_model(model, exact), "flash_fits").ok
    assert not _rule(check_model(model, short), "flash_fits").ok


@pytest.mark.parametrize(("host", "margin", "percent", "want"), [
    (4757, 3, 0.0, 4768),    # 4760 -> next multiple of 16
    (4765, 3, 0.0, 4768),    # 4768 already: not one more block
    (4766, 3, 0.0, 4784),    # 4769 -> 4784
    (1001, 0, 10.0, 1104),   # 1001 + ceil(100.1) = 1102 -> 1104
])
def test_the_recommended_arena_is_rounded_up_to_16(model, host, margin, percent, want) -> None:
    m4 = get_target("cortex-m4")
    board = replace(m4, runtime=replace(m4.runtime, kernels="reference", arena_margin_bytes=margin,
                                        arena_margin_percent=percent))
    assert kernel_buffers(model, board).total == 0  # reference kernels ask for no scratch buffers
    plan = recommended_arena(model, board, ArenaMeasurement(host_bytes=host, recorded_bytes=host - 40,
                                                                  probes=1))
    assert plan.recommended_bytes == want
    assert plan.recommended_bytes % 16 == 0 and 0 <= want - (host + plan.margin_bytes) < 16
    measured = target_arena(host, host - 12, board, "QEMU test")
    assert measured.recommended_bytes == want and measured.margin_bytes == plan.margin_bytes
