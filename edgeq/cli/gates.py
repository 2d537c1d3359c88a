"""Validation thresholds as options, shared by `edgeq validate` and `edgeq convert --val`."""

from __future__ import annotations

from typing import Any

import click


class _Gate(click.ParamType):
    """A threshold: a number, or `off` to disable that gate."""

    name = "NUMBER|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | None:
        if value is None or isinstance(value, float):
            return value
        if str(value).lower() in ("off", "none"):
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"expected a number or 'off', got {value!r}", param, ctx)


def gate_options(command: Any) -> Any:
    """The validation thresholds and TFLM sample count, shared by `validate` and `convert --val`."""
    gate = _Gate()
    options = [
        click.option("--max-drop", type=gate, default=1.0, show_default=True, metavar="PP",
                     help="Fail when top-1 accuracy drops more than PP percentage points below the float model's "
                          "(needs labels y; 'off' disables)."),
        click.option("--min-agreement", type=gate, default=0.97, show_default=True, metavar="F",
                     help="Fail when less than this share of top-1 decisions agree with the float model "
                          "(outputs with >= 2 classes)."),
        click.option("--max-error", type=gate, default=None, metavar="X",
                     help="Fail when any dequantized output differs from float by more than X (regression models). "
                          "[default: off]"),
        click.option("--min-sqnr", type=gate, default=20.0, show_default=True, metavar="DB",
                     help="Fail when a regression output's (1 value per position) SQNR vs float is below DB."),
        click.option("--min-accuracy", type=gate, default=None, metavar="F",
                     help="Fail when top-1 accuracy against the labels is below F (needs no --reference). "
                          "[default: off]"),
        click.option("--tflm-samples", type=click.IntRange(min=0), default=200, show_default=True, metavar="N",
                     help="TFLM runs one sample per invoke: run it (and the per-layer comparison) on a seeded "
                          "subset of N samples; 0 skips TFLM."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def validation_options(max_drop: float | None, min_agreement: float | None, max_error: float | None,
                        min_sqnr: float | None, min_accuracy: float | None, tflm_samples: int, **extra: Any) -> Any:
    """The ValidationOptions the gate options describe; `extra` passes further ValidationOptions fields."""
    from edgeq.validate.session import Thresholds, ValidationOptions

    thresholds = Thresholds(max_drop=max_drop, min_agreement=min_agreement, max_error=max_error, min_sqnr=min_sqnr,
                            min_accuracy=min_accuracy)
    return ValidationOptions(thresholds=thresholds, tflm_samples=tflm_samples, **extra)
