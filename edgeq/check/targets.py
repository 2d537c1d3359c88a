"""Target profiles: TOML data files in targets/, with `inherit` (a board inherits its core)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from edgeq.errors import TargetError
from edgeq.resources import targets_dir
from edgeq.schema import build, read_toml
from edgeq.templates import sdk_keys


@dataclass(frozen=True)
class Cpu:
    """The core: name, architecture, clock, FPU/ABI, DSP/MVE extensions, DWT cycle counter, compiler flags."""

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
    """Flash and RAM of the part, and what the application (not the model or the runtime) keeps of each."""

    flash_kb: float = 0.0
    ram_kb: float = 0.0
    reserved_flash_kb: float = 0.0
    reserved_ram_kb: float = 0.0


@dataclass(frozen=True)
class Runtime:
    """The inference runtime: TFLM with reference / CMSIS-NN / ESP-NN kernels, or LiteRT.

    code_flash_kb: flash the interpreter and its kernels take (an estimate; `code_flash_source` says whence).
    arena_margin_*: added to the arena measured on the host to get the arena recommended for the target.
    """

    name: str = "tflm"
    kernels: str = "reference"
    code_flash_kb: float = 0.0
    code_flash_source: str = ""
    arena_margin_bytes: int = 0
    arena_margin_percent: float = 0.0


@dataclass(frozen=True)
class Latency:
    """Cycles per multiply-accumulate for each kernel class on this core, and where the numbers come from.

    cycles_per_mac keys: conv, depthwise, fully_connected (optimized kernels), reference (a MAC op whose
    kernel is not optimized for this runtime). cycles_per_element: every other op, per output element.
    """

    source: str = ""
    cycles_per_mac: dict[str, float] = field(default_factory=dict)
    cycles_per_element: float = 0.0


@dataclass(frozen=True)
class Emulator:
    """The QEMU machine that emulates this core (`edgeq verify`), if any."""

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
    # The board's names in the SDKs the project templates build with (e.g. zephyr_board for `west build -b`);
    # the keys are those the templates' manifests declare (edgeq.templates.sdk_keys); empty for a core.
    sdk: dict[str, str] = field(default_factory=dict)

    @property
    def is_mcu(self) -> bool:
        """A microcontroller target (TFLM), as opposed to android (LiteRT)."""
        return self.kind == "mcu"

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as JSON-ready nested dicts (tuples become lists)."""
        def convert(value: Any) -> Any:
            if hasattr(value, "__dataclass_fields__"):
                return {f.name: convert(getattr(value, f.name)) for f in fields(value)}
            if isinstance(value, tuple):
                return list(value)
            return value
        return convert(self)


_KINDS = ("mcu", "android")
_RUNTIMES = {"tflm": ("reference", "cmsis-nn", "esp-nn"), "litert": ("xnnpack", "reference")}
KERNEL_CLASSES = ("conv", "depthwise", "fully_connected", "reference")
_MODES = ("int8", "int16x8", "float16", "dynamic")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(p: TargetProfile, where: str) -> None:
    """Values a profile a user can pick must have; abstract bases may leave them out."""
    if p.kind not in _KINDS:
        raise TargetError(f"{where}: kind must be one of {', '.join(_KINDS)}, not {p.kind!r}")
    bad_modes = sorted(set(p.modes) - set(_MODES))
    if bad_modes:
        raise TargetError(f"{where}: unknown mode(s) {', '.join(bad_modes)}; known: {', '.join(_MODES)}")
    if p.runtime.name not in _RUNTIMES:
        raise TargetError(f"{where}: [runtime] name must be one of {', '.join(_RUNTIMES)}, not {p.runtime.name!r}")
    if p.runtime.kernels not in _RUNTIMES[p.runtime.name]:
        raise TargetError(f"{where}: [runtime] kernels for {p.runtime.name} must be one of "
                          f"{', '.join(_RUNTIMES[p.runtime.name])}, not {p.runtime.kernels!r}")
    bad_classes = sorted(set(p.latency.cycles_per_mac) - set(KERNEL_CLASSES))
    if bad_classes:
        raise TargetError(f"{where}: [latency] cycles_per_mac has unknown kernel class(es) "
                          f"{', '.join(bad_classes)}; known: {', '.join(KERNEL_CLASSES)}")
    bad_sdk = sorted(set(p.sdk) - set(sdk_keys()))
    if bad_sdk:
        raise TargetError(f"{where}: [sdk] has unknown key(s) {', '.join(bad_sdk)}; the templates read: "
                          f"{', '.join(sorted(sdk_keys()))}")
    if p.abstract:
        return
    for what, value in (("[cpu] clock_mhz", p.cpu.clock_mhz), ("[memory] flash_kb", p.memory.flash_kb),
                        ("[memory] ram_kb", p.memory.ram_kb)):
        if value <= 0:
            raise TargetError(f"{where}: {what} must be > 0 (got {value:g})")
    for what, value in (("[memory] reserved_flash_kb", p.memory.reserved_flash_kb),
                        ("[memory] reserved_ram_kb", p.memory.reserved_ram_kb),
                        ("[runtime] code_flash_kb", p.runtime.code_flash_kb),
                        ("[runtime] arena_margin_bytes", p.runtime.arena_margin_bytes),
                        ("[runtime] arena_margin_percent", p.runtime.arena_margin_percent)):
        if value < 0:
            raise TargetError(f"{where}: {what} must be >= 0 (got {value:g})")
    if p.memory.reserved_flash_kb + p.runtime.code_flash_kb >= p.memory.flash_kb:
        raise TargetError(f"{where}: reserved_flash_kb + code_flash_kb leave no flash for a model")
    if p.memory.reserved_ram_kb >= p.memory.ram_kb:
        raise TargetError(f"{where}: reserved_ram_kb leaves no RAM for the tensor arena")
    missing = [c for c in KERNEL_CLASSES if p.latency.cycles_per_mac.get(c, 0.0) <= 0]
    if missing or p.latency.cycles_per_element <= 0 or not p.latency.source:
        raise TargetError(f"{where}: [latency] needs cycles_per_mac > 0 for {', '.join(KERNEL_CLASSES)}, "
                          "cycles_per_element > 0 and a source")
    if p.kind == "mcu" and p.runtime.name != "tflm":
        raise TargetError(f"{where}: a microcontroller target runs tflm, not {p.runtime.name!r}")


class _Catalog:
    """The profile files by name (a later directory replaces an earlier one's file of the same name), each read,
    resolved and checked on first use: one bad file fails only the targets that are it or inherit from it."""

    def __init__(self, directories: tuple[Path, ...]) -> None:
        self.paths: dict[str, Path] = {}
        for directory in directories:
            if not directory.is_dir():
                raise TargetError(f"target directory {directory} does not exist")
            self.paths.update({path.stem: path for path in sorted(directory.glob("*.toml"))})
        self._raw: dict[str, dict[str, Any]] = {}
        self._profiles: dict[str, TargetProfile] = {}

    def raw(self, name: str) -> dict[str, Any]:
        if name not in self._raw:
            path = self.paths[name]
            data = read_toml(path, TargetError, "profile")
            if data.get("name", name) != name:
                raise TargetError(f"{path.name}: name = {data['name']!r} must match the file name {name!r}")
            self._raw[name] = data
        return self._raw[name]

    def resolve(self, name: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
        if name in chain:
            raise TargetError(f"target {name} ({self.paths[name]}): inheritance cycle {' -> '.join((*chain, name))}")
        data = self.raw(name)
        parent = data.get("inherit", "")
        if not parent:
            return {**data, "name": name}
        if parent not in self.paths:
            raise TargetError(f"target {name} ({self.paths[name]}): inherits unknown target {parent!r}")
        base = self.resolve(parent, (*chain, name))
        base.pop("abstract", None)
        base.pop("description", None)
        return {**_merge(base, data), "name": name}  # a profile without `name` is its file's, not its parent's

    def profile(self, name: str) -> TargetProfile:
        if name not in self._profiles:
            profile = build(TargetProfile, self.resolve(name), f"{name}.toml", TargetError)
            _validate(profile, f"{name}.toml")
            self._profiles[name] = profile
        return self._profiles[name]

    def loadable(self) -> tuple[dict[str, TargetProfile], dict[str, str]]:
        """(every profile that loads, the error of each that does not)."""
        profiles, errors = {}, {}
        for name in self.paths:
            try:
                profiles[name] = self.profile(name)
            except TargetError as exc:
                errors[name] = str(exc)
        return profiles, errors


def load_targets(*directories: Path) -> dict[str, TargetProfile]:
    """Load every profile in `directories` (default: edgeq's targets/), resolving inheritance across them;
    a profile in a later directory replaces one of the same name in an earlier one. Any bad profile raises."""
    catalog = _Catalog(tuple(Path(d) for d in directories or (targets_dir(),)))
    return {name: catalog.profile(name) for name in catalog.paths}


TARGET_PATH_VARIABLE = "EDGEQ_TARGET_PATH"


@cache
def _catalog(search_path: str) -> _Catalog:
    extra = [Path(part) for part in search_path.split(os.pathsep) if part]
    return _Catalog((targets_dir(), *extra))


def _current() -> _Catalog:
    return _catalog(os.environ.get(TARGET_PATH_VARIABLE, ""))


def available_targets(include_abstract: bool = False) -> dict[str, TargetProfile]:
    """The profiles a user can pick, by name: edgeq's own plus those in the folders listed in
    $EDGEQ_TARGET_PATH (os.pathsep-separated), which may inherit edgeq's and replace them by name. A profile
    that does not load is left out (`target_errors()` says why)."""
    targets, _ = _current().loadable()
    return {n: p for n, p in targets.items() if include_abstract or not p.abstract}


def target_errors() -> dict[str, str]:
    """Why each profile that does not load fails, by name (empty when all load)."""
    return _current().loadable()[1]


def get_target(name: str) -> TargetProfile:
    """The profile called `name` (only its file and those it inherits are read); an unknown name lists the
    known ones."""
    catalog = _current()
    if name in catalog.paths:
        profile = catalog.profile(name)
        if not profile.abstract:
            return profile
    raise TargetError(f"unknown target {name!r}; known targets: {', '.join(sorted(available_targets()))}")
