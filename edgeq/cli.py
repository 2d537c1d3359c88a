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
        if self._bar is None:
            self._bar = Progress(TextColumn("  calibrating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("calibrating", total=total)
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
@click.option("--unsafe-load", is_flag=True, help="Allow Keras unsafe deserialization (Lambda layers). Trusted files only.")
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary table.")
@click.pass_obj
def convert(state: State, model: Path, target: str, out_dir: Path, calib: Path | None, calib_samples: int | None,
            synthetic_calib: bool, mode: str, io_type: str, scale: float, mean: str | None, std: str | None,
            channel_order: str, unsafe_load: bool, force: bool, as_json: bool) -> None:
    """Convert MODEL (.keras, .h5 or SavedModel dir) to a full-integer .tflite for a target.

    Writes OUT/model.tflite and OUT/report.json; nothing is written unless every step succeeds.
    """
    from edgeq.calibration import Preprocess
    from edgeq.pipeline import ConvertOptions, convert as run_convert

    preprocess = Preprocess(scale=scale, mean=_parse_floats(mean, "--mean") or (0.0,),
                            std=_parse_floats(std, "--std") or (1.0,), channel_order=channel_order)
    options = ConvertOptions(target=target, mode=mode, io_type=io_type, calib=calib, calib_samples=calib_samples,
                             synthetic_calib=synthetic_calib, preprocess=preprocess, unsafe_load=unsafe_load,
                             force=force)
    progress = RichProgress(state.err)
    try:
        result = run_convert(model, out_dir, options, progress)
    finally:
        progress.close()
    if as_json:
        _print_json(result.report)
    else:
        state.out.print(_summary_table(result))


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
