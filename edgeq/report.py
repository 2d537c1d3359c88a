"""What `edgeq convert` produced, as typed results, and the one function that turns them into report.json.

Inside edgeq the steps hand each other typed results (LoadedModel, SampleSet, TFLiteModel, ValidationReport,
CheckResult, RecoveryReport, EmitResult, EmulationReport); JSON exists only at the edge: `ConvertResult.to_dict()` is
OUT/report.json, deterministic (no timestamps, no absolute paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.check.arena import TargetArena
from edgeq.check.rules import CheckResult, target_identity, target_report
from edgeq.check.targets import TargetProfile
from edgeq.emit import EmitResult
from edgeq.emulate import EmulationReport
from edgeq.load.loader import LoadedModel
from edgeq.quantize.converter import QuantizeOptions
from edgeq.recover import RecoveryReport
from edgeq.samples import SampleSet
from edgeq.tflite import TFLiteModel
from edgeq.tflite.describe import model_info
from edgeq.validate.results import ValidationReport
from edgeq.version import __version__


def project_entry(project: EmitResult) -> dict[str, Any]:
    """report.json's `project` block: where the project went inside OUT and what it holds."""
    entry: dict[str, Any] = {"dir": project.out_dir.name, "template": project.template, "runtime": project.runtime,
                             "name": project.name, "arena_bytes": project.arena_size, "files": project.files}
    if project.memory is not None:  # the compiled-C engine's arena plan next to TFLM's arena
        entry["engine_memory"] = project.memory
    return entry


@dataclass
class ConvertResult:
    """What convert produced: the parsed .tflite and every step's typed result."""

    out_dir: Path
    source: LoadedModel
    target: TargetProfile
    quantization: QuantizeOptions
    samples: SampleSet | None
    tflite: TFLiteModel
    warnings: list[str] = field(default_factory=list)
    validation: ValidationReport | None = None
    check: CheckResult | None = None
    project: EmitResult | None = None
    emulation: EmulationReport | None = None
    target_arena: TargetArena | None = None  # the arena TFLM needed on the emulated core (verify --tflm-tree)
    recovery: RecoveryReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """report.json."""
        source = self.source
        report: dict[str, Any] = {
            "edgeq_version": __version__,
            "source": {"file": source.path.name, "format": source.format, "loader": source.loader,
                       "sha256": source.sha256,
                       "inputs": [s.to_dict() for s in source.inputs],
                       "outputs": [s.to_dict() for s in source.outputs], "compat_fixes": source.compat_fixes},
            "target": target_report(self.check) if self.check is not None else target_identity(self.target),
            "quantization": {"mode": self.quantization.mode, "io_type": self.quantization.effective_io_type,
                             "integer_only": self.target.is_mcu},
            "calibration": self.samples.to_dict() if self.samples is not None else None,
            "model": {"file": "model.tflite", **model_info(self.tflite)},
            "warnings": list(self.warnings),
        }
        if self.target_arena is not None:  # measured on the core: replaces the host-based recommendation
            report["target"]["arena"] = self.target_arena.to_dict(report["target"].get("arena"))
        if self.recovery is not None:
            report["recovery"] = self.recovery.to_dict()
        if self.validation is not None:
            report["validation"] = self.validation.to_dict()
        if self.project is not None:
            report["project"] = project_entry(self.project)
        if self.emulation is not None:
            report["emulation"] = self.emulation.to_dict()
        return report

    @property
    def report(self) -> dict[str, Any]:
        """report.json as a dict (the same as `to_dict()`)."""
        return self.to_dict()
