"""`edgeq convert`: the whole pipeline, and its summary table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from edgeq.cli.app import CONTEXT_SETTINGS, OutputPath, RichProgress, State, cli, common_options, print_json
from edgeq.cli.options import options_from, spec_options
from edgeq.options import ConvertOptions

if TYPE_CHECKING:
    from edgeq.report import ConvertResult


def _used_of(used: int, capacity: int) -> str:
    """'22.0 of 256 KiB', '4.0 of 4,096 MiB'; a use too small for the capacity's unit gets its own
    ('2.5 KiB of 4,096 MiB', not '0.0 of 4,096 MiB')."""
    unit, scale = ("MiB", 1024 * 1024) if capacity >= 16 * 1024 * 1024 else ("KiB", 1024)
    if unit == "MiB" and used < 0.1 * scale:
        return f"{used / 1024:,.1f} KiB of {capacity / scale:,.0f} {unit}"
    return f"{used / scale:,.1f} of {capacity / scale:,.0f} {unit}"


def _milliseconds(ms: float) -> str:
    """'1.71 ms', '0.0032 ms': three significant digits below 1 ms, so a phone's microseconds are not '0.00'."""
    return f"{ms:,.2f} ms" if ms >= 1 else f"{ms:.3g} ms"


def _summary_table(result: ConvertResult) -> Table:
    """The terminal summary of a conversion, from its typed results."""
    table = Table(title=Text(f"edgeq convert → {result.out_dir}"), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str) -> None:
        table.add_row(label, Text(value))  # Text: names from the model are never read as rich markup

    tflite = result.tflite
    row("target", result.target.name)
    row("mode", f"{result.quantization.mode} (I/O {result.quantization.effective_io_type})")
    row("model.tflite", f"{tflite.size:,} bytes")
    row("ops", ", ".join(f"{name}×{count}" for name, count in tflite.op_counts().items()))
    from edgeq.tflite.signature import io_names

    names = io_names(tflite)
    for kind, tensors, labels in (("input", tflite.main.input_tensors(), names[0]),
                                  ("output", tflite.main.output_tensors(), names[1])):
        for t, label in zip(tensors, labels, strict=True):
            q = t.quantization
            quant = f" scale={float(q.scale[0]):.6g} zp={int(q.zero_point[0])}" if q is not None and \
                len(q.scale) == 1 else ""
            tensor = f" (tensor {t.name})" if t.name != label else ""
            row(kind, f"{label}: {list(t.shape)} {t.dtype}{quant}{tensor}")
    if result.samples is not None:
        row("calibration", f"{result.samples.source} ({result.samples.count} samples)")
        for stat in result.samples.stats():
            row("calib input", f"{stat.name}: {stat.describe()}")
    check = result.check
    if check is not None:
        arena = "" if check.arena is None else (
            f", arena {check.arena.recommended_bytes:,} B recommended "
            f"(host TFLM measured {check.arena.measured.host_bytes:,} B + kernel buffers + margin)")
        row("fits" if check.ok else "DOES NOT FIT", f"flash {_used_of(check.flash.used, check.flash.capacity)}, "
                    f"RAM {_used_of(check.ram.used, check.ram.capacity)}{arena}; "
                    f"~{_milliseconds(check.latency.ms)} ({check.latency.label})")
    project = result.project
    if project is not None:
        row("project", f"{project.out_dir.name}/ ({project.template}, {len(project.files)} files, "
                       f"symbol prefix {project.name})")
    if result.recovery is not None:
        row("recovery", result.recovery.summary())
    validation = result.validation
    if validation is not None:
        held = sum(c.status == "passed" for c in validation.checks)
        row("validation", f"{'passed' if validation.passed else 'FAILED'}: {held} of {len(validation.checks)} "
                          "checks held (validation.html, validation.junit.xml)")
    emulation = result.emulation
    if emulation is not None:
        instructions = emulation.instructions_per_inference
        counted = f", {instructions:,} instructions/inference" if instructions else ""
        row("emulation", f"{emulation.status} on {emulation.machine}: max diff {emulation.max_abs_diff} over "
                         f"{emulation.samples} samples{counted}")
    return table


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", type=OutputPath("DIR"), default="edgeq-out", show_default=True,
              help="Output folder: absent, empty, or an earlier edgeq output with --force.")
@spec_options(ConvertOptions)  # every ConvertOptions field, from the one spec in edgeq/options.py
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary table.")
@common_options
@click.pass_obj
def convert(state: State, model: Path, out_dir: Path, as_json: bool, **params: Any) -> None:
    """Convert MODEL (.keras, .h5 or SavedModel dir) to a full-integer .tflite for a target.

    Writes OUT/model.tflite, OUT/report.json and a firmware project in OUT/<template>/ (OUT/compiled-c/ with
    --runtime c). Nothing is written when a step fails; a model that converts but misses a validation gate,
    does not fit the target or differs on the emulated board still gets OUT (to inspect), and exit code 1.
    """
    from edgeq.pipeline import convert as run_convert
    from edgeq.pipeline import convert_failure

    options = options_from(ConvertOptions, params)  # the rules between options: edgeq.options.check_options
    progress = RichProgress(state.err)
    try:
        result = run_convert(model, out_dir, options, progress, raise_failures=False)
    finally:
        progress.close()
    if as_json:
        print_json(result.report)
    else:
        state.out.print(_summary_table(result))
    failure = convert_failure(result)  # a missed gate still shows the summary first, then the one-line error
    if failure is not None:
        raise failure
