"""Terminal tables for `edgeq validate`: metrics per interpreter and output, the worst layers, the checks.

File and tensor names go in as rich `Text`, never read as markup.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from edgeq.validate.gates import METRICS
from edgeq.validate.results import ValidationReport, fmt


def validation_tables(report: ValidationReport, layers: int = 5) -> list[Any]:
    """rich renderables for the terminal: metrics per interpreter/output, worst layers, checks."""
    samples = f"{report.data['samples']} samples" + (" with labels" if report.data["labels"] else "")
    reference = f" vs {report.reference['file']}" if report.reference else " (no float reference)"
    title = f"edgeq validate {report.model['file']}{reference} on {report.data['source']}, {samples}"
    metrics = Table(title=Text(title),  # Text: file and tensor names are never read as rich markup
                    title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("run", "output", "n"):
        metrics.add_column(column, justify="right" if column == "n" else "left")
    for metric in METRICS:
        metrics.add_column(metric.column, justify="right")
    keys = [metric.key for metric in METRICS]
    for name, output, values in report.metric_rows():
        blank = "" if name == "float" else "n/a"  # the float model has only its accuracy
        metrics.add_row(name, Text(output.name), str(values["samples"]),
                        *[fmt(values[k], 3) if k in values else blank for k in keys])
    notes = Table.grid(padding=(0, 1))
    for name, info in report.interpreters.items():
        notes.add_row(Text(name, style="bold"), Text(info.detail) if info.ran else Text(f"skipped: {info.reason}",
                                                                                         style="yellow"))
    cross = report.litert_vs_tflm
    if cross.get("compared"):
        for o in cross["outputs"]:
            lsb = f", max {o['max_difference_lsb']} LSB" if o["max_difference_lsb"] is not None else ""
            notes.add_row(Text("litert vs tflm", style="bold"),
                          Text(f"{o['output']}: {o['differing_values']} of {o['compared_values']} values differ{lsb}"))
    rates = report.throughput()
    if rates:
        notes.add_row(Text("throughput", style="bold"),
                      ", ".join(f"{name} {rate:,.0f} samples/s" for name, rate in rates.items()))
    renderables: list[Any] = [metrics, notes]
    rows = report.worst_layers(layers)
    if rows:
        worst = Table(title=f"Worst layers ({report.layers['interpreter']}, {report.layers['samples']} samples)",
                      title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("layer", "op", "SQNR dB", "max err", "max err LSB"):
            worst.add_column(column, justify="left" if column in ("layer", "op") else "right")
        for r in rows:
            worst.add_row(Text(r["layer"]), r["op"], fmt(r["sqnr_db"], 3), fmt(r["max_abs_error"], 3),
                          fmt(r["max_error_lsb"], 3))
        renderables.append(worst)
    checks = Table(title="Checks", title_justify="left", show_header=False, box=None)
    styles = {"passed": "[green]✓ pass[/]", "failed": "[bold red]✗ FAIL[/]", "skipped": "[dim]– skip[/]"}
    for check in report.checks:
        checks.add_row(styles[check.status], Text(check.describe()))
    if not report.checks:
        checks.add_row("[dim]–[/]", "no threshold applies (no reference, no labels, or all gates disabled)")
    renderables.append(checks)
    renderables.append(Text(f"validation {report.verdict()}", style="bold green" if report.passed else "bold red"))
    return renderables
