"""Emulated on-target verification: build the emitted model (edgeq's compiled-C engine, or TensorFlow Lite Micro
with edgeq's resolver) for a target's core with arm-none-eabi-gcc, run it in qemu-system-arm on a board with
that core, and compare its outputs with the host TFLM interpreter.

    report = edgeq.emulate.verify("out/")                          # OUT from convert/emit --runtime c
    report = edgeq.emulate.verify("out/", tflm_tree="tflm-tree")   # OUT from convert/emit (TFLM)
    report.passed, report.to_dict()

Pieces: machines (QEMU memory maps), firmware (harness + start-up code + link), tflm (TFLM trees and the cached
library), tflm_firmware (the TFLM harness and link), plugin (the instruction-counting QEMU plugin), qemu
(running the guest under a time-out), verify (the comparison and the report).
"""

from edgeq.emit.boards import Machine, machine_for, machines
from edgeq.emulate.firmware import CProject, Firmware, ImageSizes, build_firmware, find_project
from edgeq.emulate.qemu import GuestRun
from edgeq.emulate.tools import DEBIAN_PACKAGES, Toolchain, find_toolchain
from edgeq.emulate.verify import (
    DEFAULT_SAMPLES,
    DEFAULT_TIMEOUT,
    EmulationReport,
    emulate_project,
    report_target,
    store_emulation,
    verify,
)

__all__ = [
    "DEBIAN_PACKAGES", "DEFAULT_SAMPLES", "DEFAULT_TIMEOUT", "CProject", "EmulationReport", "Firmware",
    "GuestRun", "ImageSizes", "Machine", "Toolchain", "build_firmware", "emulate_project", "find_project",
    "find_toolchain", "machine_for", "machines", "report_target", "store_emulation", "verify",
]
