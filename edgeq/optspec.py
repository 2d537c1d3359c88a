"""The option spec: a command-line option described once, as metadata on the dataclass field it sets.

A field declared with `option(...)` carries its flags, help text and kind; its default is the field's own
default. `cli/` builds click options from these entries (`walk`), and `build` turns the values the command line
gave back into the (nested) dataclass, so a new option is one field in one dataclass. This module knows nothing
of click and imports nothing of edgeq: every layer may describe its options with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any

KEY = "edgeq.option"  # the field metadata key
NESTED = "edgeq.nested"  # a field holding another dataclass whose options belong to the same command
KINDS = ("text", "int", "number", "numbers", "path", "dir", "choice", "flag", "off-flag", "gate")


@dataclass(frozen=True)
class Option:
    """How a field looks on the command line. `kind`: text, int (>= `minimum`), number (a float or a fraction
    such as 1/255), numbers (comma-separated), path, dir, choice (one of `choices`), flag (sets True), off-flag
    (sets False: `--no-layers` for per_layer), gate (a number or 'off' for None). `flags[shown:]` are older
    spellings, accepted and hidden from --help. `group` 'validation': meaningful only with validation data."""

    flags: tuple[str, ...]
    help: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    metavar: str | None = None
    envvar: str | None = None
    dest: str | None = None
    group: str = ""
    shown: int = 0  # 0: every flag is shown

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.flags}: unknown kind {self.kind!r}")

    @property
    def flag(self) -> str:
        """The long flag users see in messages (--val-samples, not -d)."""
        return next(f for f in self.flags if f.startswith("--"))


def option(*flags: str, help: str, default: Any = MISSING, default_factory: Any = MISSING,  # noqa: A002
           **spec: Any) -> Any:
    """A dataclass field with its command-line option: `target: str = option("-t", "--target", help=...,
    default="cortex-m4")`."""
    metadata = {KEY: Option(tuple(flags), help, **spec)}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def nested(factory: Any) -> Any:
    """A field holding a dataclass whose own option fields belong to the same command (`preprocess`)."""
    return field(default_factory=factory, metadata={NESTED: True})


@dataclass(frozen=True)
class Entry:
    """One option of a dataclass tree: where it sits (`path` of field names), its CLI name and its default."""

    path: tuple[str, ...]
    spec: Option
    default: Any

    @property
    def dest(self) -> str:
        """The parameter name on the command line (unique in one command)."""
        return self.spec.dest or self.path[-1]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise TypeError(f"option field {f.name} has no default")


def walk(cls: type, prefix: tuple[str, ...] = ()) -> Iterator[Entry]:
    """Every option of `cls` and of its nested dataclasses, in field order. A dest seen twice (the preprocessing
    that both calibration and validation use) is one option: later ones share the first one's value."""
    for f in dataclasses.fields(cls):
        if f.metadata.get(NESTED):
            yield from walk(type(_default(f)), (*prefix, f.name))
        elif KEY in f.metadata:
            yield Entry((*prefix, f.name), f.metadata[KEY], _default(f))


def entries(cls: type) -> dict[str, Entry]:
    """dest -> the first entry of that dest (what a command shows once)."""
    found: dict[str, Entry] = {}
    for entry in walk(cls):
        found.setdefault(entry.dest, entry)
    return found


def build(cls: type, values: Mapping[str, Any], **fixed: Any) -> Any:
    """A `cls` whose option fields take `values[dest]` (others keep their defaults); `fixed` sets non-option
    fields of `cls` itself by name."""
    kwargs: dict[str, Any] = dict(fixed)
    for f in dataclasses.fields(cls):
        if f.name in kwargs:
            continue
        if f.metadata.get(NESTED):
            kwargs[f.name] = build(type(_default(f)), values)
        elif KEY in f.metadata:
            dest = f.metadata[KEY].dest or f.name
            if dest in values:
                kwargs[f.name] = values[dest]
    return cls(**kwargs)


def value_at(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = getattr(obj, name)
    return obj


def changed(obj: Any, group: str | None = None) -> list[Entry]:
    """The options of `obj` (of `group`, when given) whose value is not their default, in spec order."""
    return [e for e in walk(type(obj)) if (group is None or e.spec.group == group)
            and value_at(obj, e.path) != e.default]


def out_of_range(obj: Any) -> list[str]:
    """'--verify-samples must be at least 1, not 0' for every int/number option below its minimum: the
    limits click applies on the command line, applied to API callers too."""
    problems = []
    for e in walk(type(obj)):
        value = value_at(obj, e.path)
        if e.spec.minimum is not None and isinstance(value, int | float) and not isinstance(value, bool) \
                and value < e.spec.minimum:
            problems.append(f"{e.spec.flag} must be at least {e.spec.minimum:g}, not {value}")
        if e.spec.kind == "choice" and value not in e.spec.choices:
            problems.append(f"{e.spec.flag} is one of {', '.join(e.spec.choices)}, not {value!r}")
    return problems
