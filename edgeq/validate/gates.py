"""The one table of validation metrics and their CI gates.

Everything else is built from it: the `Thresholds` dataclass, the checks a report evaluates, the terminal and
HTML metric columns, and the `--max-drop`/`--min-agreement`/... options of `edgeq validate` and `convert --val`.
"""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from typing import Any

from edgeq.errors import UsageError
from edgeq.optspec import option


@dataclass(frozen=True)
class Metric:
    """One metric of an interpreter's output: its report.json key and how people see it."""

    key: str      # report.json key
    title: str    # in check messages ("top-1 agreement with float 0.95 < 0.97")
    column: str   # terminal table column
    heading: str  # HTML table column


@dataclass(frozen=True)
class Gate:
    """A threshold on one metric. `applies`: which outputs it judges ('labelled' — the output the labels belong
    to, 'classification' — >= 2 classes, 'regression', 'every'); `needs_reference`: compares with the float
    model; `fraction`: the value is a share in [0, 1] (else it must not be negative, where `nonnegative`)."""

    metric: str
    option: str   # the Thresholds field; its CLI flag is --option-with-dashes
    operator: str  # "<=": fail above the threshold; ">=": fail below it
    default: float | None
    metavar: str
    help: str
    applies: str
    needs_reference: bool = True
    fraction: bool = False
    nonnegative: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-")

    def applies_to(self, output: Any) -> bool:
        """Whether the gate judges `output` (an OutputInfo)."""
        return {"labelled": output.labelled, "classification": output.kind == "classification",
                "regression": output.kind == "regression", "every": True}[self.applies]

    def holds(self, value: float, threshold: float) -> bool:
        """The gate passes for `value` (a tolerance of 1e-9 absorbs float noise at value == threshold)."""
        return value <= threshold + 1e-9 if self.operator == "<=" else value >= threshold - 1e-9


METRICS: tuple[Metric, ...] = (
    Metric("top1_accuracy", "top-1 accuracy", "acc", "top-1 accuracy"),
    Metric("accuracy_drop_pp", "top-1 accuracy drop vs float (pp)", "drop pp", "accuracy drop vs float (pp)"),
    Metric("top1_agreement", "top-1 agreement with float", "agree", "top-1 agreement with float"),
    Metric("max_abs_error", "max abs error vs float", "max err", "max abs error"),
    Metric("mean_abs_error", "mean abs error vs float", "mean err", "mean abs error"),
    Metric("sqnr_db", "SQNR vs float (dB)", "SQNR dB", "SQNR (dB)"),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}

# In the order checks are evaluated and reported.
GATES: tuple[Gate, ...] = (
    Gate("accuracy_drop_pp", "max_drop", "<=", 1.0, "PP",
         "Fail when top-1 accuracy drops more than PP percentage points below the float model's "
         "(needs labels y; 'off' disables).", applies="labelled", nonnegative=True),
    Gate("top1_agreement", "min_agreement", ">=", 0.97, "F",
         "Fail when less than this share of top-1 decisions agree with the float model (outputs with >= 2 "
         "classes).", applies="classification", fraction=True),
    Gate("max_abs_error", "max_error", "<=", None, "X",
         "Fail when any dequantized output differs from float by more than X (regression models).",
         applies="every", nonnegative=True),
    Gate("sqnr_db", "min_sqnr", ">=", 20.0, "DB",
         "Fail when a regression output's (1 value per position) SQNR vs float is below DB.", applies="regression"),
    Gate("top1_accuracy", "min_accuracy", ">=", None, "F",
         "Fail when top-1 accuracy against the labels is below F (needs no --reference).", applies="labelled",
         needs_reference=False, fraction=True),
)


def _check_thresholds(self: Any) -> None:
    for gate in GATES:
        value = getattr(self, gate.option)
        if value is None:
            continue
        if gate.fraction and not 0.0 <= value <= 1.0:
            raise UsageError(f"{gate.flag} is a fraction between 0 and 1, not {value}")
        if gate.nonnegative and value < 0:
            raise UsageError(f"{gate.flag} must not be negative, not {value}")


Thresholds = make_dataclass(
    "Thresholds", [(g.option, "float | None", option(
        g.flag, help=g.help + ("" if g.default is not None else " [default: off]"), default=g.default, kind="gate",
        metavar=g.metavar, group="validation")) for g in GATES], frozen=True,
    namespace={"__post_init__": _check_thresholds, "__module__": __name__,
               "__doc__": "The CI gates, one field per gate of GATES (None disables it); defaults are the CLI's."})
