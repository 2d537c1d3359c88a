"""The emulated boards: the QEMU machines firmware runs on (edgeq/data/emulate/machines.toml), the choice of one
for a target profile, and what a firmware for one needs (linker script, exit codes, stack and heap). Both the
`-DEDGEQ_BOARD=qemu` project files (emit) and `edgeq verify` (emulate) use it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from edgeq import resources
from edgeq.check.targets import TargetProfile
from edgeq.errors import TargetError, VerifyError
from edgeq.render import render
from edgeq.schema import build_table, read_toml
from edgeq.version import __version__

# Exit codes the guest reports through semihosting (QEMU itself exits 1 on its own errors).
EXIT_SETUP = 3   # the harness could not start: I/O sizes differ from model.tflite, no input file
EXIT_FAULT = 4   # a HardFault/MemManage/BusFault/UsageFault/SecureFault handler ran
STACK_BYTES = 32 * 1024
HEAP_BYTES = 16 * 1024  # newlib's stdio buffers for the semihosting console and the input file

@dataclass(frozen=True)
class Region:
    """A span of the machine's memory map."""

    origin: int
    length: int
    note: str

    def contains(self, address: int) -> bool:
        return self.origin <= address < self.origin + self.length


@dataclass(frozen=True)
class Machine:
    """A QEMU machine: its core and where code (flash), variables (ram) and the vector table (boot) go."""

    name: str
    cpu: str
    source: str
    flash: Region
    ram: Region
    boot: Region | None = None


def data_dir() -> Path:
    """Directory of the emulator's fixed sources and tables (startup code, plugin source, machine table)."""
    return resources.data_dir("emulate")


@cache
def machines() -> dict[str, Machine]:
    """Every machine edgeq has a memory map for, by QEMU machine name."""
    path = data_dir() / "machines.toml"
    return build_table(Machine, read_toml(path, TargetError), path.name, TargetError)


def machine_for(profile: TargetProfile) -> Machine:
    """The QEMU machine that emulates `profile`'s core; VerifyError (with the profile's note) if none does."""
    if not profile.is_mcu:
        raise VerifyError(f"target {profile.name} cannot be emulated: it is not a microcontroller (emulated "
                          "verification is for Cortex-M targets)")
    name = profile.emulator.qemu_machine
    if not name:
        why = profile.emulator.note or "its profile names no [emulator] qemu_machine"
        raise VerifyError(f"target {profile.name} cannot be emulated (it has no QEMU machine): {why}")
    table = machines()
    if name not in table:
        raise TargetError(f"target {profile.name}: qemu_machine {name!r} has no memory map in edgeq; "
                          f"known machines: {', '.join(sorted(table))}")
    machine = table[name]
    if profile.cpu.core and profile.cpu.core != machine.cpu:
        raise TargetError(f"target {profile.name} is a {profile.cpu.core} but QEMU machine {name} has a "
                          f"{machine.cpu}; fix [emulator] qemu_machine in {profile.name}.toml")
    return machine


def render_linker_script(machine: Machine, stack_bytes: int = STACK_BYTES, heap_bytes: int = HEAP_BYTES) -> str:
    """The linker script placing code, data, heap and stack in `machine`'s memory map."""
    return render("_emulate/link.ld.j2", {"version": __version__, "machine": machine,
                                          "stack_bytes": stack_bytes, "heap_bytes": heap_bytes})
