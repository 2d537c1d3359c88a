"""`edgeq validate`: float vs LiteRT vs TFLM on the same samples, with CI gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgeq.cli.app import (
    CONTEXT_SETTINGS,
    AliasOption,
    OutputPath,
    RichProgress,
    State,
    cli,
    common_options,
    print_json,
)
from edgeq.cli.options import options_from, spec_options
from edgeq.validate.options import ValidationOptions


@cli.command("validate", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--val", "-d", "--data", "data", cls=AliasOption, required=True, type=click.Path(path_type=Path),
              help="Validation data: .npz with x (or one key per input) and optional integer labels y, .npy, or an "
                   "image folder. Values as the float model takes them (-d/--data: the older spelling).")
@click.option("-r", "--reference", type=click.Path(path_type=Path),
              help="The float model (.keras, .h5, SavedModel dir) MODEL was converted from; every float-vs-integer "
                   "metric and the per-layer table need it.")
@spec_options(ValidationOptions, exclude=("unsafe_load",))  # the gates, sample counts and preprocessing
@click.option("--junit", type=OutputPath("FILE"),
              help="Write JUnit XML: one test case per metric and threshold.")
@click.option("--report", "html", type=OutputPath("FILE"),
              help="Write a self-contained HTML report with plots (opens offline).")
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as JSON instead of the tables.")
@spec_options(ValidationOptions, only=("unsafe_load",))
@click.option("--force", is_flag=True, help="Overwrite --junit/--report files an earlier edgeq validate wrote.")
@common_options
@click.pass_obj
def validate_command(state: State, model: Path, data: Path, reference: Path | None, junit: Path | None,
                     html: Path | None, as_json: bool, force: bool, **params: Any) -> None:
    """Run the float model, LiteRT and the TFLM interpreter on the same samples and compare them.

    Prints per-output metrics (top-1 accuracy and agreement, max/mean abs error, SQNR) per interpreter, the
    LiteRT-vs-TFLM difference in LSB, the worst layers, and the checks. Exits 1 when a threshold is missed,
    naming the metric. LiteRT runs with its reference kernels (no XNNPACK) so it can be compared bit by bit.
    """
    from edgeq.cli.validation_tables import validation_tables
    from edgeq.errors import UsageError, ValidationFailed
    from edgeq.staging import HTML_SIGNATURE, JUNIT_SIGNATURE, check_output_file, write_text_atomic
    from edgeq.validate.session import validate_model

    inputs = [model, data, reference]
    if junit is not None and html is not None and Path(junit).resolve() == Path(html).resolve():
        raise UsageError(f"--junit and --report both name {junit}; give two files")
    check_output_file(junit, force, inputs, JUNIT_SIGNATURE, "--junit")  # before any work: no wasted validation
    check_output_file(html, force, inputs, HTML_SIGNATURE, "--report")
    settings = options_from(ValidationOptions, params)
    progress = RichProgress(state.err)
    progress.step(f"Validating {model.name} (float vs LiteRT vs TFLM)")
    try:
        report = validate_model(model, data, reference, settings, progress=progress.validation)
        for message in report.warnings:
            progress.warn(message)
    finally:
        progress.close()
    check_output_file(junit, force, inputs, JUNIT_SIGNATURE, "--junit")  # again: minutes may have passed
    check_output_file(html, force, inputs, HTML_SIGNATURE, "--report")
    if junit is not None:
        from edgeq.validate.junit import junit_xml

        write_text_atomic(junit, junit_xml(report))
    if html is not None:  # jinja2 and the plots are loaded only for a report that was asked for
        from edgeq.validate.html import render_html

        write_text_atomic(html, render_html(report))
    if as_json:
        print_json(report.to_dict())
    else:
        for renderable in validation_tables(report):
            state.out.print(renderable)
    if not report.passed:
        raise ValidationFailed(report.failure_message())
