"""`edgeq targets`, `edgeq check` and `edgeq inspect`: what a model needs and what a board offers."""

from __future__ import annotations

from pathlib import Path

import click

from edgeq.cli.app import CONTEXT_SETTINGS, State, cli, common_options, print_json
from edgeq.cli.options import spec_options
from edgeq.options import ConvertOptions


@cli.group("targets", invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print every profile as JSON.")
@common_options
@click.pass_context
def targets_command(ctx: click.Context, as_json: bool) -> None:
    """List the target profiles; `edgeq targets show NAME` prints one."""
    if ctx.invoked_subcommand is not None:
        return
    from edgeq.check.targets import available_targets, target_errors
    from edgeq.cli.app import RichProgress
    from edgeq.cli.tables import targets_table

    targets = available_targets()
    for message in target_errors().values():  # a bad user profile is left out of the list, and said so
        RichProgress(ctx.obj.err).warn(f"{message} (left out)")
    if as_json:
        print_json({name: p.to_dict() for name, p in sorted(targets.items())})
    else:
        ctx.obj.out.print(targets_table(targets))


@targets_command.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved profile as JSON.")
@common_options
@click.pass_obj
def targets_show(state: State, name: str, as_json: bool) -> None:
    """Print one profile: CPU, clock, flash, RAM, reserved budgets, kernels and supported ops."""
    from edgeq.check.targets import get_target
    from edgeq.cli.tables import target_detail

    profile = get_target(name)
    if as_json:
        print_json(profile.to_dict())
    else:
        state.out.print(target_detail(profile))


@cli.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@spec_options(ConvertOptions, only=("target",))
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="Judge the profile's runtime (TFLM; LiteRT on Android) or edgeq's compiled-C engine (c).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON instead of tables.")
@common_options
@click.pass_obj
def check_command(state: State, model: Path, target: str, runtime: str, as_json: bool) -> None:
    """Check that MODEL.tflite fits and runs on a target: ops, flash, RAM, estimated latency.

    With --runtime c the compiled-C engine is generated and judged instead (its code measured with
    arm-none-eabi-gcc when installed, else estimated). Exits 1 when it does not fit or uses an op the runtime
    lacks.
    """
    from edgeq.check.rules import check_model, target_report
    from edgeq.check.targets import get_target
    from edgeq.cli.tables import check_tables
    from edgeq.errors import CheckFailed, UsageError
    from edgeq.tflite import read_model

    engine = None
    if runtime == "c":
        from edgeq.emulate.engine_size import measured_engine_figures

        profile = get_target(target)
        if not profile.is_mcu:
            raise UsageError(f"--runtime c generates MCU firmware; {profile.name} is a {profile.kind} target")
        parsed = read_model(model)
        engine = measured_engine_figures(parsed, profile)
        result = check_model(parsed, profile, engine=engine)
    else:
        result = check_model(model, target)
    if as_json:
        print_json({"model": {"file": model.name, "sha256": result.model.sha256, "size_bytes": result.model.size},
                     "target": target_report(result)})
    else:
        state.out.print(check_tables(result, model.name))
    if not result.ok:
        raise CheckFailed(result.summary())


@cli.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--no-arena", is_flag=True, help="Skip measuring the arena in the host TFLM interpreter.")
@common_options
@click.pass_obj
def inspect_command(state: State, model: Path, as_json: bool, no_arena: bool) -> None:
    """Show what is inside any .tflite: ops, tensors, quantization, MACs, arena size and memory peak."""
    from edgeq.check.inspection import inspect
    from edgeq.cli.tables import inspect_tables

    data = inspect(model, measure=not no_arena).to_dict()
    if as_json:
        print_json(data)
    else:
        state.out.print(inspect_tables(data))
