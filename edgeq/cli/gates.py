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
    """The validation thresholds (one option per gate of edgeq.validate.gates.GATES) and the TFLM sample count,
    shared by `validate` and `convert --val`."""
    from edgeq.validate.gates import GATES  # a table without numpy or TensorFlow: --help stays fast

    gate = _Gate()
    options = [click.option(g.flag, g.option, type=gate, default=g.default, show_default=g.default is not None,
                            metavar=g.metavar, help=g.help + ("" if g.default is not None else " [default: off]"))
               for g in GATES]
    options.append(click.option(
        "--tflm-samples", type=click.IntRange(min=0), default=200, show_default=True, metavar="N",
        help="TFLM runs one sample per invoke: run it (and the per-layer comparison) on a seeded subset of N "
             "samples; 0 skips TFLM."))
    for option in reversed(options):
        command = option(command)
    return command


def validation_options(tflm_samples: int, **values: Any) -> Any:
    """The ValidationOptions the gate options describe; other keywords pass further ValidationOptions fields."""
    from edgeq.validate.gates import GATES
    from edgeq.validate.session import Thresholds, ValidationOptions

    thresholds = Thresholds(**{g.option: values.pop(g.option) for g in GATES})
    return ValidationOptions(thresholds=thresholds, tflm_samples=tflm_samples, **values)
