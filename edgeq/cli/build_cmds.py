"""`edgeq emit`, `edgeq templates` and `edgeq verify`: firmware sources and emulated runs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgeq.cli.app import CONTEXT_SETTINGS, OutputPath, State, cli, common_options, print_json
from edgeq.cli.options import spec_options
from edgeq.options import ConvertOptions


@cli.command("emit", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@spec_options(ConvertOptions, only=("target", "template", "name", "runtime"))  # as convert's (edgeq/options.py)
@click.option("-o", "--output", "out_dir", type=OutputPath("DIR"), required=True,
              help="Output folder for the project: absent, empty, or an earlier edgeq output with --force.")
@spec_options(ConvertOptions, only=("force",))
@common_options
@click.pass_obj
def emit_command(state: State, model: Path, target: str, template: str | None, name: str, runtime: str,
                 out_dir: Path, force: bool) -> None:
    """Emit a firmware project (C sources, op resolver, I/O header, golden vectors) for MODEL.tflite.

    Works for any integer .tflite; the golden vector is a seeded random input run through the host TFLM
    interpreter.
    """

    from edgeq.check.targets import get_target
    from edgeq.emit import emit_project, project_name, template_warnings
    from edgeq.staging import check_output_dir

    profile = get_target(target)
    project_name(profile, template, runtime)  # every cheap check before reading the model
    check_output_dir(out_dir, force, [model])
    for warning in template_warnings(profile, template, runtime):
        state.err.print(f"[bold yellow]warning:[/] {escape(warning)}")
    # paths and names are the user's text, not rich markup (`[/x]` in a file name would crash the print)
    state.err.print(f"[bold cyan]•[/] Emitting {escape(model.name)} for {escape(target)} into {escape(str(out_dir))}")
    result = emit_project(model, out_dir, target=profile, template=template, name=name, runtime=runtime, force=force,
                          warn=lambda message: state.err.print(f"[bold yellow]warning:[/] {escape(message)}"))
    arena = f", arena {result.arena_size:,} bytes" if result.arena_size else ""
    state.out.print(f"{result.template} project in {escape(str(out_dir))}: {len(result.files)} files, symbol prefix "
                    f"{result.name}{arena}")


@cli.command("templates", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
@common_options
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
@spec_options(ConvertOptions, only=("verify_samples",), overrides={"verify_samples": {
    "flags": ("--verify-samples", "--samples"), "shown": 1,
    "help": "Golden inputs to run on the emulated board (as convert --verify-samples)."}})
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds the emulated run may take before it counts as hung.")
@spec_options(ConvertOptions, only=("target", "tflm_tree"), overrides={
    "target": {"default": None, "help": "Target profile (default: the one in OUT/report.json)."},
    "tflm_tree": {"help": "For a TFLM project: a tree made by tflite-micro's create_tflm_tree.py "
                          "[env: EDGEQ_TFLM_TREE]."}})
@click.option("--json", "as_json", is_flag=True, help="Print the emulation report as JSON.")
@common_options
@click.pass_obj
def verify_command(state: State, out_dir: Path, verify_samples: int, timeout: float, target: str | None,
                   tflm_tree: Path | None, as_json: bool) -> None:
    """Run OUT's firmware (edgeq convert or edgeq emit output) on an emulated board of its target (QEMU).

    Builds the model for the target's core with arm-none-eabi-gcc (the compiled-C engine, or TensorFlow Lite
    Micro from --tflm-tree with edgeq's resolver; TFLM is compiled once per tree and core, then cached), runs
    it in qemu-system-arm on golden inputs and compares every output with the host TFLM interpreter. Stores
    the result in OUT/report.json under "emulation" (for TFLM also the arena it used on the core, as the
    recommendation under "target"). Exits 1 on a mismatch, a fault or a time-out.
    """
    from edgeq.emulate import store_emulation, verify
    from edgeq.emulate.verify import measured_arena
    from edgeq.errors import VerifyError

    def building(files: int, where: Path) -> None:
        state.err.print(f"[bold cyan]•[/] Compiling TensorFlow Lite Micro for this core once ({files} files, about "
                        f"25 minutes on 2 cores; cached in {escape(str(where))})")

    def cleaned(folder: Path) -> None:
        state.err.print(f"[bold cyan]•[/] Removed {escape(str(folder))}: a TFLM library a stopped run left half-built")

    state.err.print(f"[bold cyan]•[/] Building and running {escape(str(out_dir))} on an emulated board")
    report = verify(out_dir, samples=verify_samples, timeout=timeout, target=target, tflm_tree=tflm_tree,
                    on_build=building, on_clean=cleaned)
    store_emulation(out_dir, report)
    arena = measured_arena(report)
    if arena is not None:
        state.err.print(f"[bold cyan]•[/] Arena: the model runs in {arena.needed_bytes:,} bytes on the {report.core} "
                        f"(arena_used_bytes() {arena.used_bytes:,}); recommended {arena.recommended_bytes:,} "
                        "(report.json target.arena; edgeq convert --verify --tflm-tree writes it into the project)")
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
            for column in ("op", "type", "kernel", "instructions", "share", "MACs", "instr/MAC"):
                ops.add_column(column, justify="left" if column in ("type", "kernel") else "right")
            for row in report.op_rows():
                ops.add_row(*row)
            state.out.print(ops)
    if not report.passed:
        raise VerifyError(report.summary())
