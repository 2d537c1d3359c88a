"""Target profiles: TOML data files in targets/, with `inherit` (a board inherits its core)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from edgeq.errors import TargetError
from edgeq.resources import targets_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Cpu:
    core: str = ""
    arch: str = ""
    clock_mhz: float = 0.0
    fpu: str = ""
    float_abi: str = "soft"
    dsp: bool = False
    mve: bool = False
    cycle_counter: bool = False
    cflags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Memory:
    flash_kb: float = 0.0
    ram_kb: float = 0.0
    reserved_flash_kb: float = 0.0
    reserved_ram_kb: float = 0.0


@dataclass(frozen=True)
class Runtime:
    name: str = "tflm"
    kernels: str = "reference"
    code_flash_kb: float = 0.0
    arena_margin_bytes: int = 0
    arena_margin_percent: float = 0.0


@dataclass(frozen=True)
class Latency:
    source: str = ""
    cycles_per_mac: dict[str, float] = field(default_factory=dict)
    cycles_per_element: float = 0.0


@dataclass(frozen=True)
class Emulator:
    qemu_machine: str = ""
    note: str = ""


@dataclass(frozen=True)
class TargetProfile:
    """One target: a core or a board (a board inherits its core's profile and overrides what differs)."""

    name: str
    description: str = ""
    kind: str = "mcu"
    inherit: str = ""
    abstract: bool = False
    modes: tuple[str, ...] = ("int8", "int16x8")
    default_template: str = ""
    cpu: Cpu = field(default_factory=Cpu)
    memory: Memory = field(default_factory=Memory)
    runtime: Runtime = field(default_factory=Runtime)
    latency: Latency = field(default_factory=Latency)
    emulator: Emulator = field(default_factory=Emulator)

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"

    def to_dict(self) -> dict[str, Any]:
        def convert(value: Any) -> Any:
            if hasattr(value, "__dataclass_fields__"):
                return {f.name: convert(getattr(value, f.name)) for f in fields(value)}
            if isinstance(value, tuple):
                return list(value)
            return value
        return convert(self)


_KINDS = ("mcu", "android")
_SECTIONS: dict[str, type] = {"cpu": Cpu, "memory": Memory, "runtime": Runtime, "latency": Latency,
                              "emulator": Emulator}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path.name}: invalid TOML: {exc}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TargetError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values = {}
    for key, value in data.items():
        if key in _SECTIONS and cls is TargetProfile:
            if not isinstance(value, dict):
                raise TargetError(f"{where}: [{key}] must be a table")
            values[key] = _build(_SECTIONS[key], value, f"{where} [{key}]")
        elif isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    return cls(**values)


def _load_tree(directory: Path) -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.toml")):
        data = _read_toml(path)
        name = data.get("name", path.stem)
        if name != path.stem:
            raise TargetError(f"{path.name}: name = {name!r} must match the file name {path.stem!r}")
        raw[path.stem] = data
    return raw


def _resolve(name: str, raw: dict[str, dict[str, Any]], chain: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in chain:
        raise TargetError(f"target {name}: inheritance cycle {' -> '.join((*chain, name))}")
    data = raw[name]
    parent = data.get("inherit", "")
    if not parent:
        return dict(data)
    if parent not in raw:
        raise TargetError(f"target {name}: inherits unknown target {parent!r}")
    base = _resolve(parent, raw, (*chain, name))
    base.pop("abstract", None)
    base.pop("description", None)
    return _merge(base, data)


def load_targets(directory: Path | None = None) -> dict[str, TargetProfile]:
    """Load every profile in `directory` (default: edgeq's targets/), resolving inheritance."""
    directory = directory or targets_dir()
    raw = _load_tree(directory)
    profiles = {}
    for name in raw:
        profile = _build(TargetProfile, _resolve(name, raw), f"{name}.toml")
        if profile.kind not in _KINDS:
            raise TargetError(f"{name}.toml: kind must be one of {', '.join(_KINDS)}, not {profile.kind!r}")
        profiles[name] = profile
    return profiles


@cache
def _builtin_targets() -> dict[str, TargetProfile]:
    return load_targets()


def available_targets(include_abstract: bool = False) -> dict[str, TargetProfile]:
    """The built-in profiles a user can pick, by name."""
    return {n: p for n, p in _builtin_targets().items() if include_abstract or not p.abstract}


def get_target(name: str) -> TargetProfile:
    """The profile called `name`; an unknown name lists the known ones."""
    targets = available_targets()
    if name not in targets:
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(sorted(targets))}")
    return targets[name]
