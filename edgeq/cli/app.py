"""The click group, per-invocation state, progress output and the one place errors are turned into exit codes."""

from __future__ import annotations

import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgeq.errors import EdgeqError
from edgeq.version import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LOG_WIDTH = 1_000_000  # a CI log or a file has no width: print every name and number whole, on one line


def console(file: Any = None, stderr: bool = False) -> Console:
    """A rich console; when it writes to a pipe or a file (not a terminal), nothing is wrapped or cut at 80
    columns: tables take their natural width so a log keeps whole tensor names and numbers."""
    terminal = Console(file=file, stderr=stderr, highlight=False)
    if terminal.is_terminal:
        return terminal
    return Console(file=file, stderr=stderr, highlight=False, width=LOG_WIDTH, soft_wrap=True)


def stderr_console() -> Console:
    """A console on the real stderr: TensorFlow's fd-level log capture must not swallow our progress."""
    try:
        if sys.stderr.fileno() == 2:
            return console(file=os.fdopen(os.dup(2), "w", buffering=1), stderr=True)
    except (AttributeError, OSError, ValueError):
        pass
    return console(file=sys.stderr, stderr=True)


class State:
    """Per-invocation settings shared by the commands."""

    def __init__(self, debug: bool, quiet: bool) -> None:
        self.debug = debug
        self.quiet = quiet
        self._err: Console | None = None
        self.out = console()

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = stderr_console()
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
        self.console.print(f"[bold cyan]•[/] {escape(message)}")

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
        """Warnings are shown even with -q (which hides progress only): they are about the result."""
        self.close()
        quiet, self.console.quiet = self.console.quiet, False
        try:
            self.console.print(f"[bold yellow]warning:[/] {escape(message)}")
        finally:
            self.console.quiet = quiet

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(State).debug = True
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        state = ctx.find_object(State)
        state.quiet = True
        if state._err is not None:
            state._err.quiet = True


DEBUG_HELP = "Show tracebacks and TensorFlow's own logs."
QUIET_HELP = "No progress output (errors, warnings and results only)."


def common_options(command: Any) -> Any:
    """-q/--quiet and --debug on a subcommand too: `edgeq convert ... -q` works like `edgeq -q convert ...`."""
    command = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug, help=DEBUG_HELP)(command)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
                        help=QUIET_HELP)(command)


class OutputPath(click.ParamType):
    """A path to write to: an empty value is a usage error (click would read '' as the current folder)."""

    def __init__(self, metavar: str = "PATH") -> None:
        self.name = metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        if isinstance(value, Path):
            return value
        if str(value).strip() == "":
            self.fail("is empty; name a new folder or file", param, ctx)
        return Path(value)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="edgeq")
@click.option("--debug", is_flag=True, help=DEBUG_HELP)
@click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """edgeq: Keras/TensorFlow models to verified integer-only TFLite for Cortex-M and Android.

    \b
    Typical use:
      edgeq convert model.keras --target cortex-m4 --calib calib.npz --val val.npz -o out/
      edgeq validate out/model.tflite --reference model.keras --val val.npz
    """
    ctx.obj = State(debug=debug, quiet=quiet)
    if debug:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def print_json(data: Any) -> None:
    """A report on stdout as deterministic JSON (progress and errors go to stderr)."""
    from edgeq.staging import json_text

    click.echo(json_text(data), nl=False)


def parse_number(text: str) -> float:
    """'0.5', '1e-3' or a fraction '1/255' -> float; ValueError otherwise (and for a zero denominator)."""
    numerator, slash, denominator = text.strip().partition("/")
    if not slash:
        return float(numerator)
    value = float(numerator) / float(denominator) if float(denominator) != 0 else math.nan
    if math.isnan(value):
        raise ValueError(text)
    return value


class Number(click.ParamType):
    """A float that may be written as a fraction (`--scale 1/255`)."""

    name = "number"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, float | int):
            return float(value)
        try:
            return parse_number(value)
        except ValueError:
            self.fail(f"expected a number or a fraction such as 1/255, got {value!r}", param, ctx)


def parse_floats(value: str | None, option: str) -> tuple[float, ...] | None:
    """'0.5,0.4,0.3' (or fractions, '123.7/255,...') -> (0.5, 0.4, 0.3); a usage error naming `option` otherwise."""
    if value is None:
        return None
    try:
        return tuple(parse_number(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers or fractions, got {value!r}",
                                 param_hint=option) from None


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




class AliasOption(click.Option):
    """An option whose later names are older spellings: accepted, but --help shows only the first `shown`."""

    def __init__(self, *args: Any, shown: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown = shown

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        names = self.opts
        self.opts = names[:self.shown]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = names
