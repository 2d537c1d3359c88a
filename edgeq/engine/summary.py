"""The engine's memory numbers next to TFLM's, for reports."""

from __future__ import annotations

from typing import Any

from edgeq.engine.codegen import EngineBuild
from edgeq.errors import EdgeqError
from edgeq.tflite import TFLiteModel


def memory_summary(build: EngineBuild, model: TFLiteModel, measure_tflm: bool = True) -> dict[str, Any]:
    """Arena (planned peak), its lower bound, greedy-by-size's peak, weight bytes and, when `measure_tflm`,
    the smallest host TFLM arena for the same model and the ratio. The engine's model inputs and outputs
    live in caller buffers (`io_bytes`), TFLM's inside its arena; the host TFLM arena overstates a 32-bit
    target's by ~12% (64-bit pointers in its bookkeeping)."""
    summary = build.to_dict()
    if measure_tflm:
        from edgeq.check.arena import measure_arena

        try:
            tflm = measure_arena(model).host_bytes
        except EdgeqError as exc:
            summary.update(tflm_host_arena_bytes=None, tflm_error=str(exc))
        else:
            summary.update(tflm_host_arena_bytes=tflm, arena_vs_tflm=round(build.arena_bytes / tflm, 3),
                           arena_and_io_vs_tflm=round((build.arena_bytes + summary["io_bytes"]) / tflm, 3))
    return summary
