"""`edgeq emit`, `edgeq templates` and `edgeq verify`: firmware sources and emulated runs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgeq.cli.app import CONTEXT_SETTINGS, State, cli, print_json


@cli.command("emit", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", default="cortex-m4", show_default=True, help="Target profile (see `edgeq targets`).")
@click.option("--template", help="Project template (see `edgeq templates`; default: the target's).")
@click.option("--name", default="model", show_default=True,
              help="C symbol prefix of the generated sources (sanitized to a C identifier).")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="tflm: a TensorFlow Lite Micro project from --template; c: edgeq's compiled-C engine.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output directory for the project (must be empty or absent unless --force).")
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@click.pass_obj
def emit_command(state: State, model: Path, target: str, template: str | None, name: str, runtime: str,
                 out_dir: Path, force: bool) -> None:
    """Emit a firmware project (C sources, op resolver, I/O header, golden vectors) for MODEL.tflite.

    Works for any integer .tflite; the golden vector is a seeded random input run through the host TFLM
    interpreter.
    """

    from edgeq.emit import emit_project

    # paths and names are the user's text, not rich markup (`[/x]` in a file name would crash the print)
    state.err.print(f"[bold cyan]•[/] Emitting {escape(model.name)} for {escape(target)} into {escape(str(out_dir))}")
    result = emit_project(model, out_dir, target=target, template=template, name=name, runtime=runtime, force=force)
    arena = f", arena {result.arena_size:,} bytes" if result.arena_size else ""
    state.out.print(f"{result.template} project in {escape(str(out_dir))}: {len(result.files)} files, symbol prefix "
                    f"{result.name}{arena}")


@cli.command("templates", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
@click.pass_obj
def templates_command(state: State, as_json: bool) -> None:
    """List the firmware project templates `edgeq emit --template` and `edgeq convert --template` take."""
    from edgeq.check.targets import available_targets
    from edgeq.emit.project import project_templates, select_template

    defaults: dict[str, list[str]] = {}
    for target_name, profile in sorted(available_targets().items()):
        defaults.setdefault(select_template(profile, None).name, []).append(target_name)
    rows = [{"name": t.name, "targets": list(t.kinds), "default_for": defaults.get(t.name, []),
             "description": t.description} for t in project_templates().values()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Firmware templates", title_justify="left")
    for column in ("template", "targets", "default for", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], "/".join(row["targets"]), ", ".join(row["default_for"]) or "-",
                      row["description"])
    state.out.print(table)


@cli.command("verify", context_settings=CONTEXT_SETTINGS)
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Golden inputs to run on the emulated board.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds the emulated run may take before it counts as hung.")
@click.option("-t", "--target", help="Target profile (default: the one in OUT/report.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the emulation report as JSON.")
@click.pass_obj
def verify_command(state: State, out_dir: Path, samples: int, timeout: float, target: str | None,
                   as_json: bool) -> None:
    """Run OUT's compiled-C model (from --runtime c) on an emulated board of its target (QEMU).

    Builds the firmware with arm-none-eabi-gcc for the target's core, runs it in qemu-system-arm on golden
    inputs and compares every output with the host TFLM interpreter; stores the result in
    OUT/report.json under "emulation". Exits 1 on a mismatch, a fault or a time-out.
    """
    from edgeq.emulate import store_emulation, verify
    from edgeq.errors import VerifyError

    state.err.print(f"[bold cyan]•[/] Building and running {escape(str(out_dir))} on an emulated board")
    report = verify(out_dir, samples=samples, timeout=timeout, target=target)
    store_emulation(out_dir, report)
    if as_json:
        print_json(report.to_dict())
    else:
        table = Table(title=Text(f"edgeq verify → {out_dir}"), show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for label, value in report.rows():
            table.add_row(label, Text(value))
        state.out.print(table)
        if report.per_op:
            ops = Table(title="instructions per operator", title_justify="left")
            for column in ("op", "type", "instructions", "share", "MACs", "instr/MAC"):
                ops.add_column(column, justify="left" if column == "type" else "right")
            for row in report.op_rows():
                ops.add_row(*row)
            state.out.print(ops)
    if not report.passed:
        raise VerifyError(report.summary())
