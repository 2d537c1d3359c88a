"""Click options built from the option spec (edgeq.optspec fields on ConvertOptions, ValidationOptions, ...).

`spec_options(ConvertOptions)` decorates a command with one click option per spec entry (flags, help, default
and type from the field); `spec_values` turns the parsed parameters back into field values for `optspec.build`.
A new option is one field in its dataclass: nothing here changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from edgeq.cli.app import AliasOption, Number, parse_floats
from edgeq.optspec import Entry, Option, build, entries


class Gate(click.ParamType):
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


def _click_type(spec: Option) -> Any:
    kinds: dict[str, Callable[[], Any]] = {
        "text": lambda: None,
        "int": lambda: click.IntRange(min=spec.minimum) if spec.minimum is not None else int,
        "number": Number,
        "numbers": lambda: None,
        "path": lambda: click.Path(path_type=Path),
        "dir": lambda: click.Path(path_type=Path, file_okay=False),
        "choice": lambda: click.Choice(list(spec.choices)),
        "gate": Gate,
    }
    return kinds[spec.kind]()


def click_option(entry: Entry, default: Any = dataclasses.MISSING) -> Callable[[Any], Any]:
    """The click option of one spec entry (its field's default unless `default` is given)."""
    spec = entry.spec
    value = entry.default if default is dataclasses.MISSING else default
    settings: dict[str, Any] = {"help": spec.help}
    if spec.kind in ("flag", "off-flag"):
        settings.update(is_flag=True, default=False)  # off-flag: --no-layers given means per_layer False
    else:
        settings["type"] = _click_type(spec)
        if spec.kind == "numbers":
            settings["default"] = None  # "0.5,0.4,0.3" when given; the field's default when not
        else:
            settings["default"] = value
            settings["show_default"] = value is not None
    if spec.metavar:
        settings["metavar"] = spec.metavar
    if spec.envvar:
        settings["envvar"] = spec.envvar
    if spec.shown:
        settings.update(cls=AliasOption, shown=spec.shown)
    return click.option(*spec.flags, entry.dest, **settings)


def spec_options(cls: type, only: Iterable[str] | None = None, exclude: Iterable[str] = (),
                 overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Callable[[Any], Any]:
    """Decorate a command with the options of `cls` (every dest, or those in `only`, in spec order).
    `overrides[dest]` replaces Option attributes and/or the default (key 'default') for this command."""
    found = entries(cls)
    names = [d for d in found if d not in set(exclude)] if only is None else list(only)

    def decorate(command: Any) -> Any:
        for dest in reversed(names):
            entry = found[dest]
            change = dict((overrides or {}).get(dest, {}))
            default = change.pop("default", dataclasses.MISSING)
            if change:
                entry = dataclasses.replace(entry, spec=dataclasses.replace(entry.spec, **change))
            command = click_option(entry, default)(command)
        return command

    return decorate


def spec_values(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    """Pop `cls`'s options from a command's parameters: dest -> the field's value (comma lists parsed, an
    absent one left to its default, --no-layers turned into per_layer False)."""
    values: dict[str, Any] = {}
    for dest, entry in entries(cls).items():
        if dest not in params:
            continue
        value = params.pop(dest)
        if entry.spec.kind == "numbers":
            if value is None:
                continue
            value = parse_floats(value, entry.spec.flag)
        elif entry.spec.kind == "off-flag":
            value = not value
        values[dest] = value
    return values


def options_from(cls: type, params: dict[str, Any], **fixed: Any) -> Any:
    """The `cls` (ConvertOptions, ValidationOptions) a command's parsed parameters describe."""
    return build(cls, spec_values(cls, params), **fixed)
