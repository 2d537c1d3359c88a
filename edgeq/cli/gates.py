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
    """The validation thresholds (one option per gate of edgeq.validate.gates.GATES), the sample counts and
    --no-layers, shared by `validate` and `convert --val` (same names, same meaning)."""
    from edgeq.cli.app import AliasOption
    from edgeq.validate.gates import GATES  # a table without numpy or TensorFlow: --help stays fast

    gate = _Gate()
    options = [click.option(g.flag, g.option, type=gate, default=g.default, show_default=g.default is not None,
                            metavar=g.metavar, help=g.help + ("" if g.default is not None else " [default: off]"))
               for g in GATES]
    options.append(click.option(
        "--tflm-samples", type=click.IntRange(min=0), default=200, show_default=True, metavar="N",
        help="TFLM runs one sample per invoke: run it (and the per-layer comparison) on a seeded subset of N "
             "samples; 0 skips TFLM."))
    options.append(click.option(
        "--val-samples", "--samples", "samples", cls=AliasOption, type=click.IntRange(min=1), metavar="N",
        help="Use at most N samples of the validation data (seeded selection)."))
    options.append(click.option("--no-layers", is_flag=True, help="Skip the per-layer comparison."))
    for option in reversed(options):
        command = option(command)
    return command


def jobs_option(command: Any) -> Any:
    """--jobs, shared by `validate` and `convert`: processes that run the interpreters."""
    return click.option(
        "--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
        help="Run LiteRT and TFLM in N processes (this one and N-1 workers), the samples split between them "
             "(results identical to one job) [default: the number of cores; runs too short to repay starting "
             "workers use one].")(command)


VALIDATION_KEYS = ("tflm_samples", "samples", "no_layers")


def validation_options(tflm_samples: int, samples: int | None, no_layers: bool, **values: Any) -> Any:
    """The ValidationOptions the gate options describe; other keywords pass further ValidationOptions fields."""
    from edgeq.validate.gates import GATES
    from edgeq.validate.session import Thresholds, ValidationOptions

    thresholds = Thresholds(**{g.option: values.pop(g.option) for g in GATES})
    return ValidationOptions(thresholds=thresholds, tflm_samples=tflm_samples, samples=samples,
                             per_layer=not no_layers, **values)


def gate_names() -> tuple[str, ...]:
    """The parameter names gate_options adds (to tell them apart from a command's other options)."""
    from edgeq.validate.gates import GATES

    return (*(g.option for g in GATES), *VALIDATION_KEYS)
