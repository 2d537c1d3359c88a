"""The compiled-C engine's own figures, for judging a target with `--runtime c`.

They are worked out above this layer (edgeq.emulate.engine_fit: the engine is generated, its code measured with
arm-none-eabi-gcc or estimated from fitted data) and judged here like TFLM's: flash = the engine's code + the
weights + per-channel tables, RAM = the engine's arena + the caller's input and output buffers, latency from
instructions (QEMU's count after --verify, else the fitted per-kernel model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeq.check.macs import LatencyEstimate

RUNTIME = "c"
KERNELS = "compiled-c"


@dataclass(frozen=True)
class EngineFigures:
    """What the engine generated for one model needs on one target. `unsupported` (non-empty) says why the
    engine cannot generate the model at all; the other figures are then zero."""

    path: str                    # "dsp" (kernels for the DSP extension) or "portable"
    code_bytes: int              # kernels, the invoke function and the operators' parameter structs
    weights_bytes: int           # filters and biases as the kernels read them
    tables_bytes: int            # per-channel multipliers/shifts and other lookup tables
    arena_bytes: int
    io_bytes: int                # the caller's input and output buffers
    code_measured: bool          # code_bytes from a linked arm-none-eabi-gcc image (else the fitted estimate)
    code_method: str
    latency: LatencyEstimate
    unsupported: str = ""

    @property
    def flash_bytes(self) -> int:
        return self.code_bytes + self.weights_bytes + self.tables_bytes

    @property
    def ram_bytes(self) -> int:
        return self.arena_bytes + self.io_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "code_bytes": self.code_bytes, "code_measured": self.code_measured,
                "code_method": self.code_method, "weights_bytes": self.weights_bytes,
                "tables_bytes": self.tables_bytes, "flash_bytes": self.flash_bytes,
                "arena_bytes": self.arena_bytes, "io_bytes": self.io_bytes, "ram_bytes": self.ram_bytes,
                "unsupported": self.unsupported or None}
