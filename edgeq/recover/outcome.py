"""What `--recover` tried and chose: report.json's `recovery` block, the summary line and the HTML rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeq.quantize.converter import QuantizeOptions
from edgeq.recover.score import GapClosed, Scores
from edgeq.tflite import TFLiteModel
from edgeq.validate.results import fmt, json_number

TECHNIQUES = {
    "plain": "plain int8 (min/max ranges)",
    "percentile": "percentile clipping of activation ranges",
    "mse": "MSE-optimal clipping of activation ranges",
    "bias_correction": "bias correction of the int8 weights' expected error",
    "equalization": "cross-layer equalization of conv/depthwise pairs",
    "int16x8": "int16x8 (16-bit activations, last resort)",
}


@dataclass
class Candidate:
    """One technique's model and its scores. status: scored, not applicable, not tried or failed."""

    technique: str
    status: str
    detail: str = ""
    model: TFLiteModel | None = field(default=None, repr=False)
    float_model: Any = field(default=None, repr=False)  # the transformed float model (a LoadedModel) it came from
    selection: Scores | None = None
    validation: Scores | None = None
    cost: str = ""

    @property
    def title(self) -> str:
        return TECHNIQUES[self.technique]

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"technique": self.technique, "title": self.title, "status": self.status,
                                 "detail": self.detail}
        if self.model is not None:
            entry["size_bytes"] = self.model.size
            entry["sha256"] = self.model.sha256
        if self.selection is not None:
            entry["selection"] = self.selection.to_dict()
        if self.validation is not None:
            entry["validation"] = self.validation.to_dict()
        if self.cost:
            entry["cost"] = self.cost
        return entry


def _scores_text(before: Scores, after: Scores) -> str:
    parts = []
    if before.agreement is not None and after.agreement is not None:
        parts.append(f"top-1 agreement {fmt(before.agreement, 3)} → {fmt(after.agreement, 3)}")
    parts.append(f"SQNR {fmt(before.sqnr_db, 3)} → {fmt(after.sqnr_db, 3)} dB")
    return ", ".join(parts)


@dataclass
class RecoveryReport:
    """Every candidate, the one chosen (on held-out calibration samples) and the gap to float it closes."""

    candidates: list[Candidate]
    chosen: str
    calibration_samples: int
    selection_samples: int
    total_samples: int
    selection_gap: GapClosed
    quantization: QuantizeOptions = field(default_factory=QuantizeOptions)  # how the shipped model is quantized
    validation_source: str | None = None
    float_accuracy: float | None = None
    validation_gap: GapClosed | None = None

    def candidate(self, technique: str) -> Candidate:
        return next(c for c in self.candidates if c.technique == technique)

    @property
    def kept_plain(self) -> bool:
        return self.chosen == "plain"

    def summary(self) -> str:
        """One line for the terminal: which technique won and what it bought, or that plain int8 was kept."""
        tried = [c.technique for c in self.candidates[1:] if c.status == "scored"]
        if self.kept_plain:
            return (f"plain int8 kept: no technique beat it on {self.selection_samples} held-out calibration "
                    f"samples (tried: {', '.join(tried) or 'none applicable'})")
        chosen, plain = self.candidate(self.chosen), self.candidate("plain")
        assert chosen.selection is not None and plain.selection is not None
        text = (f"{chosen.title} won ({chosen.detail}): {_scores_text(plain.selection, chosen.selection)} on "
                f"{self.selection_samples} held-out calibration samples")
        if self.validation_gap is not None:
            text += f"; {self.validation_gap.describe()} on {self.validation_source}"
        else:
            text += f"; {self.selection_gap.describe()}"
        if chosen.cost:
            text += f"; cost: {chosen.cost}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """report.json's `recovery`."""
        data: dict[str, Any] = {
            "chosen": self.chosen,
            "kept_plain_int8": self.kept_plain,
            "summary": self.summary(),
            "selection": {"method": "top-1 agreement, then SQNR, against the float model (no labels); a "
                                    "technique must beat plain int8 (agree on 2 more samples, or as many and "
                                    "+1 dB SQNR)",
                          "held_out_samples": self.selection_samples,
                          "calibration_samples": self.calibration_samples, "of": self.total_samples},
            "gap_closed": {"selection": self.selection_gap.to_dict()},
            "candidates": [c.to_dict() for c in self.candidates],
        }
        if self.kept_plain:
            data["shipped"] = f"the plain int8 model calibrated on all {self.total_samples} samples"
        else:
            data["shipped"] = f"the {self.chosen} model calibrated on {self.calibration_samples} samples"
        if self.validation_source is not None:
            data["validation"] = {"source": self.validation_source,
                                  "float_top1_accuracy": json_number(self.float_accuracy)}
            if self.validation_gap is not None:
                data["gap_closed"]["validation"] = self.validation_gap.to_dict()
        return data

    def rows(self) -> list[dict[str, str]]:
        """The HTML table: one row per candidate."""
        rows = []
        for c in self.candidates:
            def cell(scores: Scores | None, key: str) -> str:
                return "" if scores is None else fmt(getattr(scores, key), 4)

            rows.append({"technique": c.technique, "title": c.title, "status": c.status, "detail": c.detail,
                         "chosen": "yes" if c.technique == self.chosen else "",
                         "sel_agreement": cell(c.selection, "agreement"), "sel_sqnr": cell(c.selection, "sqnr_db"),
                         "val_agreement": cell(c.validation, "agreement"), "val_sqnr": cell(c.validation, "sqnr_db"),
                         "val_accuracy": cell(c.validation, "accuracy"), "cost": c.cost})
        return rows
