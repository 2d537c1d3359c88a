"""The `edgeq` command line: a thin layer over the Python API. EdgeqError is caught once, in main()."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgeq.errors import EdgeqError
from edgeq.version import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _stderr_console() -> Console:
    """A console on the real stderr: TensorFlow's fd-level log capture must not swallow our progress."""
    try:
        if sys.stderr.fileno() == 2:
            return Console(file=os.fdopen(os.dup(2), "w", buffering=1), stderr=True)
    except (AttributeError, OSError, ValueError):
        pass
    return Console(file=sys.stderr, stderr=True)


class State:
    """Per-invocation settings shared by the commands."""

    def __init__(self, debug: bool, quiet: bool) -> None:
        self.debug = debug
        self.quiet = quiet
        self._err: Console | None = None
        self.out = Console(highlight=False)

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _stderr_console()
            self._err.quiet = self.quiet
        return self._err


class RichProgress:
    """Progress for long steps: a line per step, a bar while calibration runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bar: Progress | None = None
        self._task: Any = None

    def step(self, message: str) -> None:
        self.close()
        self.console.print(f"[bold cyan]•[/] {message}")

    def calibration(self, done: int, total: int) -> None:
        self._advance("calibrating", done, total)

    def validation(self, done: int, total: int) -> None:
        self._advance("validating", done, total)

    def _advance(self, label: str, done: int, total: int) -> None:
        if not self.console.is_terminal:  # a bar in a log file is noise; the step lines say enough
            return
        if self._bar is None:
            self._bar = Progress(TextColumn(f"  {label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        self._bar.update(self._task, completed=done)

    def warn(self, message: str) -> None:
        self.close()
        self.console.print(f"[bold yellow]warning:[/] {message}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="edgeq")
@click.option("--debug", is_flag=True, help="Show tracebacks and TensorFlow's own logs.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output (errors and results only).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """edgeq: Keras/TensorFlow models to verified integer-only TFLite for Cortex-M and Android.

    \b
    Typical use:
      edgeq convert model.keras --target cortex-m4 --calib calib.npz -o out/
      edgeq validate out/model.tflite --reference model.keras --data val.npz
    """
    ctx.obj = State(debug=debug, quiet=quiet)
    if debug:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def _print_json(data: Any) -> None:
    from edgeq.output import json_text

    click.echo(json_text(data), nl=False)


def _parse_floats(value: str | None, option: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}", param_hint=option) from None


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


def _gate_options(command: Any) -> Any:
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


def _validation_options(max_drop: float | None, min_agreement: float | None, max_error: float | None,
                        min_sqnr: float | None, min_accuracy: float | None, tflm_samples: int, **extra: Any) -> Any:
    from edgeq.validate import Thresholds, ValidationOptions

    thresholds = Thresholds(max_drop=max_drop, min_agreement=min_agreement, max_error=max_error, min_sqnr=min_sqnr,
                            min_accuracy=min_accuracy)
    return ValidationOptions(thresholds=thresholds, tflm_samples=tflm_samples, **extra)


def _summary_table(result: Any) -> Table:
    report = result.report
    table = Table(title=f"edgeq convert → {result.out_dir}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("target", report["target"]["name"])
    table.add_row("mode", f"{report['quantization']['mode']} (I/O {report['quantization']['io_type']})")
    table.add_row("model.tflite", f"{report['model']['size_bytes']:,} bytes")
    table.add_row("ops", ", ".join(f"{name}×{count}" for name, count in report["model"]["ops"].items()))
    for kind in ("inputs", "outputs"):
        for t in report["model"][kind]:
            quant = f" scale={t['scale']:.6g} zp={t['zero_point']}" if isinstance(t.get("scale"), float) else ""
            table.add_row(kind[:-1], f"{t['name']} {t['shape']} {t['dtype']}{quant}")
    calibration = report.get("calibration")
    if calibration:
        table.add_row("calibration", f"{calibration['source']} ({calibration['samples']} samples)")
    fit = report["target"]
    if "flash" in fit:  # the target check (edgeq check)
        arena = f", arena {fit['arena']['recommended_bytes']:,} B" if fit.get("arena") else ""
        table.add_row("fits", f"flash {fit['flash']['used_bytes'] / 1024:,.1f} of "
                              f"{fit['flash']['capacity_bytes'] / 1024:,.0f} KiB, RAM "
                              f"{fit['ram']['used_bytes'] / 1024:,.1f} of {fit['ram']['capacity_bytes'] / 1024:,.0f} "
                              f"KiB{arena}; ~{fit['latency']['ms']:,.2f} ms (estimate)")
    project = report.get("project")
    if project:
        table.add_row("project", f"{project['dir']}/ ({project['template']}, {len(project['files'])} files, "
                                 f"symbol prefix {project['name']})")
    validation = report.get("validation")
    if validation:
        checks = validation["checks"]
        passed = sum(c["status"] == "passed" for c in checks)
        table.add_row("validation", f"{'passed' if validation['passed'] else 'FAILED'}: {passed} of {len(checks)} "
                                    "checks held (validation.html, validation.junit.xml)")
    return table


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", default="cortex-m4", show_default=True, help="Target profile (see `edgeq targets`).")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), default=Path("edgeq-out"),
              show_default=True, help="Output directory (must be empty or absent unless --force).")
@click.option("--calib", type=click.Path(path_type=Path),
              help="Calibration data: .npy [N,*shape], .npz (key x, or one key per input) or an image folder.")
@click.option("--calib-samples", type=click.IntRange(min=1), help="Use at most N samples (seeded selection).")
@click.option("--synthetic-calib", is_flag=True, help="Calibrate on random data (NOT recommended; warns).")
@click.option("--mode", type=click.Choice(["int8", "int16x8", "float16", "dynamic"]), default="int8",
              show_default=True, help="Quantization: int8 / int16x8 (MCU and Android); float16 / dynamic (Android).")
@click.option("--io-type", type=click.Choice(["int8", "uint8", "float32"]), default="int8", show_default=True,
              help="Model input/output type (int8 means int16 for int16x8).")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Preprocess: multiply samples by this.")
@click.option("--mean", help="Preprocess: subtract (after --scale), comma-separated per channel.")
@click.option("--std", help="Preprocess: divide by (after --mean), comma-separated per channel.")
@click.option("--channel-order", type=click.Choice(["rgb", "bgr"]), default="rgb", show_default=True,
              help="Preprocess: reverse the channels of 3-channel samples when bgr.")
@click.option("--unsafe-load", is_flag=True,
              help="Allow Keras unsafe deserialization (Lambda layers). Trusted files only.")
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@click.option("--template", help="Firmware project template (see `edgeq templates`; default: the target's).")
@click.option("--name", default="model", show_default=True,
              help="C symbol prefix of the generated sources (sanitized to a C identifier).")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="tflm: a TensorFlow Lite Micro project from --template; c: edgeq's compiled-C engine.")
@click.option("--val", type=click.Path(path_type=Path),
              help="Validation data (.npz with x and optional labels y): validate float vs LiteRT vs TFLM after "
                   "quantizing; results in report.json, OUT/validation.html and OUT/validation.junit.xml.")
@_gate_options
@click.option("--verify", is_flag=True,
              help="With --runtime c: build for the target's core and run on an emulated board (QEMU); "
                   "fails on any output that differs from the host TFLM interpreter.")
@click.option("--verify-samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Golden inputs to run on the emulated board with --verify.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary table.")
@click.pass_obj
def convert(state: State, model: Path, target: str, out_dir: Path, calib: Path | None, calib_samples: int | None,
            synthetic_calib: bool, mode: str, io_type: str, scale: float, mean: str | None, std: str | None,
            channel_order: str, unsafe_load: bool, force: bool, template: str | None, name: str, runtime: str,
            val: Path | None, verify: bool, verify_samples: int, as_json: bool, **gates: Any) -> None:
    """Convert MODEL (.keras, .h5 or SavedModel dir) to a full-integer .tflite for a target.

    Writes OUT/model.tflite, OUT/report.json and a firmware project in OUT/<template>/ (OUT/compiled-c/ with
    --runtime c); nothing is written unless every step succeeds.
    """
    from edgeq.calibration import Preprocess
    from edgeq.pipeline import ConvertOptions
    from edgeq.pipeline import convert as run_convert

    ctx = click.get_current_context()
    given = [f"--{n.replace('_', '-')}" for n in gates
             if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]
    if given and val is None:
        raise click.UsageError(f"{', '.join(given)}: validation thresholds apply only with --val (validation data)")

    preprocess = Preprocess(scale=scale, mean=_parse_floats(mean, "--mean") or (0.0,),
                            std=_parse_floats(std, "--std") or (1.0,), channel_order=channel_order)
    options = ConvertOptions(target=target, mode=mode, io_type=io_type, calib=calib, calib_samples=calib_samples,
                             synthetic_calib=synthetic_calib, preprocess=preprocess, unsafe_load=unsafe_load,
                             force=force, template=template, name=name, runtime=runtime, val=val,
                             verify=verify, verify_samples=verify_samples,
                             validation=_validation_options(**gates))
    progress = RichProgress(state.err)
    try:
        result = run_convert(model, out_dir, options, progress)
    finally:
        progress.close()
    if as_json:
        _print_json(result.report)
    else:
        state.out.print(_summary_table(result))


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
    from edgeq.emit import emit

    state.err.print(f"[bold cyan]•[/] Emitting {model.name} for {target} into {out_dir}")
    result = emit(model, out_dir, target=target, template=template, name=name, runtime=runtime, force=force)
    arena = f", arena {result.arena_size:,} bytes" if result.arena_size else ""
    state.out.print(f"{result.template} project in {out_dir}: {len(result.files)} files, symbol prefix "
                    f"{result.name}{arena}")


@cli.command("templates", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
@click.pass_obj
def templates_command(state: State, as_json: bool) -> None:
    """List the firmware project templates `edgeq emit --template` and `edgeq convert --template` take."""
    from edgeq.emit.project import TEMPLATES
    from edgeq.targets import available_targets

    defaults: dict[str, list[str]] = {}
    for target_name, profile in sorted(available_targets().items()):
        defaults.setdefault(profile.default_template, []).append(target_name)
    rows = [{"name": t.name, "targets": list(t.kinds), "default_for": defaults.get(t.name, []),
             "description": t.description} for t in TEMPLATES.values()]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Firmware templates", title_justify="left")
    for column in ("template", "targets", "default for", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], "/".join(row["targets"]), ", ".join(row["default_for"]) or "-",
                      row["description"])
    state.out.print(table)


@cli.group("targets", invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print every profile as JSON.")
@click.pass_context
def targets_command(ctx: click.Context, as_json: bool) -> None:
    """List the target profiles; `edgeq targets show NAME` prints one."""
    if ctx.invoked_subcommand is not None:
        return
    from edgeq.target_tables import targets_table
    from edgeq.targets import available_targets

    targets = available_targets()
    if as_json:
        _print_json({name: p.to_dict() for name, p in sorted(targets.items())})
    else:
        ctx.obj.out.print(targets_table(targets))


@targets_command.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved profile as JSON.")
@click.pass_obj
def targets_show(state: State, name: str, as_json: bool) -> None:
    """Print one profile: CPU, clock, flash, RAM, reserved budgets, kernels and supported ops."""
    from edgeq.target_tables import target_detail
    from edgeq.targets import get_target

    profile = get_target(name)
    if as_json:
        _print_json(profile.to_dict())
    else:
        state.out.print(target_detail(profile))


@cli.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", required=True, help="Target profile (see `edgeq targets`).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON instead of tables.")
@click.pass_obj
def check_command(state: State, model: Path, target: str, as_json: bool) -> None:
    """Check that MODEL.tflite fits and runs on a target: ops, flash, RAM, estimated latency.

    Exits 1 when it does not fit or uses an op the target's runtime lacks.
    """
    from edgeq.check import check, target_report
    from edgeq.errors import CheckFailed
    from edgeq.target_tables import check_tables

    result = check(model, target)
    if as_json:
        _print_json({"model": {"file": model.name, "sha256": result.model.sha256, "size_bytes": result.model.size},
                     "target": target_report(result)})
    else:
        state.out.print(check_tables(result, model.name))
    if not result.ok:
        raise CheckFailed(result.summary())


@cli.command("inspect", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--no-arena", is_flag=True, help="Skip measuring the arena in the host TFLM interpreter.")
@click.pass_obj
def inspect_command(state: State, model: Path, as_json: bool, no_arena: bool) -> None:
    """Show what is inside any .tflite: ops, tensors, quantization, MACs, arena size and memory peak."""
    from edgeq.inspect_model import inspect
    from edgeq.target_tables import inspect_tables

    data = inspect(model, measure=not no_arena).to_dict()
    if as_json:
        _print_json(data)
    else:
        state.out.print(inspect_tables(data))


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

    state.err.print(f"[bold cyan]•[/] Building and running {out_dir} on an emulated board")
    report = verify(out_dir, samples=samples, timeout=timeout, target=target)
    store_emulation(out_dir, report)
    if as_json:
        _print_json(report.to_dict())
    else:
        table = Table(title=f"edgeq verify → {out_dir}", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for label, value in report.rows():
            table.add_row(label, value)
        state.out.print(table)
    if not report.passed:
        raise VerifyError(report.summary())


def _write_new_file(path: Path, text: str) -> None:
    """Write a report file in one step (temp file + rename), so CI never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.edgeq-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@cli.command("validate", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-d", "--data", required=True, type=click.Path(path_type=Path),
              help="Validation samples: .npz with x (or one key per input) and optional integer labels y, .npy, "
                   "or an image folder. Values as the float model takes them.")
@click.option("-r", "--reference", type=click.Path(path_type=Path),
              help="The float model (.keras, .h5, SavedModel dir) MODEL was converted from; every float-vs-integer "
                   "metric and the per-layer table need it.")
@_gate_options
@click.option("--samples", type=click.IntRange(min=1), metavar="N",
              help="Use at most N samples of the data (seeded selection).")
@click.option("--no-layers", is_flag=True, help="Skip the per-layer comparison.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Preprocess: multiply samples by this.")
@click.option("--mean", help="Preprocess: subtract (after --scale), comma-separated per channel.")
@click.option("--std", help="Preprocess: divide by (after --mean), comma-separated per channel.")
@click.option("--channel-order", type=click.Choice(["rgb", "bgr"]), default="rgb", show_default=True,
              help="Preprocess: reverse the channels of 3-channel samples when bgr.")
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False),
              help="Write JUnit XML: one test case per metric and threshold.")
@click.option("--report", "html", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a self-contained HTML report with plots (opens offline).")
@click.option("--json", "as_json", is_flag=True, help="Print the validation report as JSON instead of the tables.")
@click.option("--unsafe-load", is_flag=True,
              help="Allow Keras unsafe deserialization of --reference. Trusted files only.")
@click.option("--force", is_flag=True, help="Overwrite existing --junit/--report files.")
@click.pass_obj
def validate_command(state: State, model: Path, data: Path, reference: Path | None, samples: int | None,
                     no_layers: bool, scale: float, mean: str | None, std: str | None, channel_order: str,
                     junit: Path | None, html: Path | None, as_json: bool, unsafe_load: bool, force: bool,
                     **gates: Any) -> None:
    """Run the float model, LiteRT and the TFLM interpreter on the same samples and compare them.

    Prints per-output metrics (top-1 accuracy and agreement, max/mean abs error, SQNR) per interpreter, the
    LiteRT-vs-TFLM difference in LSB, the worst layers, and the checks. Exits 1 when a threshold is missed,
    naming the metric. LiteRT runs with its reference kernels (no XNNPACK) so it can be compared bit by bit.
    """
    from edgeq.calibration import Preprocess
    from edgeq.errors import OutputExistsError, ValidationFailed
    from edgeq.html_report import render_html
    from edgeq.junit import junit_xml
    from edgeq.validate import validate
    from edgeq.validation_report import terminal_tables

    for path in (junit, html):
        if path is not None and path.exists() and not force:
            raise OutputExistsError(f"{path} exists; use --force to overwrite it")
    preprocess = Preprocess(scale=scale, mean=_parse_floats(mean, "--mean") or (0.0,),
                            std=_parse_floats(std, "--std") or (1.0,), channel_order=channel_order)
    options = _validation_options(**gates, samples=samples, per_layer=not no_layers, preprocess=preprocess,
                                  unsafe_load=unsafe_load)
    progress = RichProgress(state.err)
    progress.step(f"Validating {model.name} (float vs LiteRT vs TFLM)")
    try:
        report = validate(model, data, reference, options, progress=progress.validation)
    finally:
        progress.close()
    if junit is not None:
        _write_new_file(junit, junit_xml(report))
    if html is not None:
        _write_new_file(html, render_html(report))
    if as_json:
        _print_json(report.to_dict())
    else:
        for renderable in terminal_tables(report):
            state.out.print(renderable)
    if not report.passed:
        raise ValidationFailed(report.failure_message())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors, exit 1 (2 for usage), no traceback unless --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="edgeq", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except EdgeqError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug in edgeq or a library: still one line, traceback with --debug
        if debug:
            traceback.print_exc()
        click.echo(f"error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
                   "re-run with --debug and report it", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
