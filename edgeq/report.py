"""What `edgeq convert` produced, as typed results, and the one function that turns them into report.json.

Inside edgeq the steps hand each other typed results (LoadedModel, SampleSet, TFLiteModel, ValidationReport,
CheckResult, RecoveryReport, EmitResult, EmulationReport); JSON exists only at the edge: `ConvertResult.record()` is
OUT/report.json as the typed record of edgeq/record.py, deterministic (no timestamps, no absolute paths).
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
from edgeq.record import (
    CalibrationRecord,
    EmulationRecord,
    ModelRecord,
    ProjectRecord,
    QuantizationRecord,
    RecoveryRecord,
    Report,
    SourceRecord,
    TargetRecord,
    ValidationRecord,
    section,
)
from edgeq.recover import RecoveryReport
from edgeq.samples import SampleSet
from edgeq.tflite import TFLiteModel
from edgeq.tflite.describe import model_info
from edgeq.validate.results import ValidationReport
from edgeq.version import __version__


def project_entry(project: EmitResult) -> ProjectRecord:
    """report.json's `project` block: where the project went inside OUT and what it holds."""
    return ProjectRecord(dir=project.out_dir.name, template=project.template, runtime=project.runtime,
                         name=project.name, arena_bytes=project.arena_size, files=list(project.files),
                         engine_memory=project.memory)  # the compiled-C engine's arena plan next to TFLM's arena


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

    def record(self) -> Report:
        """report.json as the typed record (edgeq/record.py)."""
        source = self.source
        target = target_report(self.check) if self.check is not None else target_identity(self.target)
        report = Report(
            edgeq_version=__version__, written_by="edgeq convert",
            source=SourceRecord(file=source.path.name, format=source.format, loader=source.loader,
                                sha256=source.sha256, inputs=[s.to_dict() for s in source.inputs],
                                outputs=[s.to_dict() for s in source.outputs], compat_fixes=list(source.compat_fixes)),
            target=section(TargetRecord, target),
            quantization=QuantizationRecord(mode=self.quantization.mode,
                                            io_type=self.quantization.effective_io_type,
                                            integer_only=self.target.is_mcu),
            calibration=section(CalibrationRecord, self.samples.to_dict()) if self.samples is not None else None,
            model=section(ModelRecord, {"file": "model.tflite", **model_info(self.tflite)}),
            warnings=list(self.warnings),
            recovery=section(RecoveryRecord, self.recovery.to_dict()) if self.recovery is not None else None,
            validation=section(ValidationRecord, self.validation.to_dict()) if self.validation is not None else None,
            project=project_entry(self.project) if self.project is not None else None,
            emulation=section(EmulationRecord, self.emulation.to_dict()) if self.emulation is not None else None)
        if self.target_arena is not None:  # measured on the core: replaces the host-based recommendation
            report.target.arena = self.target_arena.to_dict(report.target.arena)
        return report

    def to_dict(self) -> dict[str, Any]:
        """report.json."""
        return self.record().to_dict()

    @property
    def report(self) -> dict[str, Any]:
        """report.json as a dict (the same as `to_dict()`)."""
        return self.to_dict()
