"""One loader for edgeq's TOML data files: a frozen dataclass is the schema, and a file is read into it.

    settings = load_toml(path, BuildSettings)            # the whole file is one record
    entry = build(Machine, raw["mps2-an385"], "machines.toml [mps2-an385]")

Field types drive the conversion: bool, int, float (an int is accepted), str, `X | None`, `tuple[X, ...]`,
`dict[str, X]` and nested dataclasses (a TOML table). A field without a default is required. Every error names
the file and the key (`cortex-m4.toml [cpu] clock_mhz: expected float, got str 'fast'`) and is raised as the
caller's error class, so a bad target profile stays a TargetError and a bad template manifest an EmitError.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from edgeq.errors import EdgeqError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


class DataFileError(EdgeqError):
    """One of edgeq's data files (or a user's target profile) does not match its schema."""


def read_toml(path: Path, error: type[EdgeqError] = DataFileError, what: str = "file") -> dict[str, Any]:
    """The file as a dict; a missing, unreadable, non-UTF-8 or malformed file is `error` naming the file (`what`
    says what it is: "profile", "file")."""
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _table(where: str, key: str) -> str:
    """`where` one table deeper, in TOML's dotted notation: `f.toml` -> `f.toml [cpu]` -> `f.toml [code.m4]`."""
    return f"{where[:-1]}.{key}]" if where.endswith("]") else f"{where} [{key}]"


def _is_table(hint: Any) -> bool:
    return dataclasses.is_dataclass(hint) or typing.get_origin(hint) is dict


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert(value: Any, hint: Any, where: str, error: type[EdgeqError]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _convert(value, options[0], where, error)
    elif origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if isinstance(value, list):
            return tuple(_convert(v, args[0], f"{where}[{i}]", error) for i, v in enumerate(value))
    elif origin is dict and args and args[0] is str:
        if isinstance(value, dict):
            return {str(k): _convert(v, args[1], _table(where, str(k)) if _is_table(args[1]) else f"{where}: {k}",
                                     error) for k, v in value.items()}
    elif dataclasses.is_dataclass(hint):
        if isinstance(value, dict):
            return build(hint, value, where, error)
        raise error(f"{where}: must be a table")
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if _number(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Any:
        return value
    else:  # pragma: no cover - a field type this loader does not know is a bug in edgeq
        raise TypeError(f"no TOML conversion for {hint}")
    raise error(f"{where}: expected {_name(hint)}, got {type(value).__name__} {value!r}")


def build(cls: type[T], data: dict[str, Any], where: str, error: type[EdgeqError] = DataFileError,
          **fixed: Any) -> T:
    """A `cls` from one TOML table (`where` names file and table for errors); `fixed` fields are set by the
    caller (e.g. a name taken from the table's key) and may not appear in the table."""
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in fixed}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [name for name, f in known.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise error(f"{where}: missing key(s) {', '.join(missing)}")
    values = {}
    for key, value in data.items():
        inner = _table(where, key) if _is_table(hints[key]) else f"{where}: {key}"
        values[key] = _convert(value, hints[key], inner, error)
    return cls(**values, **fixed)


def load_toml(path: Path, cls: type[T], error: type[EdgeqError] = DataFileError) -> T:
    """The whole file as one `cls` record."""
    return build(cls, read_toml(path, error), Path(path).name, error)


def build_table(cls: type[T], data: Any, where: str, error: type[EdgeqError] = DataFileError,
                key_field: str = "name") -> dict[str, T]:
    """A TOML table of tables as {key: cls}, each record's `key_field` set from its key."""
    if not isinstance(data, dict):
        raise error(f"{where}: must be a table")
    return {str(k): build(cls, v if isinstance(v, dict) else _not_table(v, _table(where, str(k)), error),
                          _table(where, str(k)), error, **{key_field: str(k)})
            for k, v in data.items()}


def _not_table(value: Any, where: str, error: type[EdgeqError]) -> dict[str, Any]:
    raise error(f"{where}: must be a table, got {type(value).__name__} {value!r}")
