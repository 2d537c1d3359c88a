"""Project templates, registered from data: each firmware_templates/<name>/ holds a `template.toml` manifest and
one `*.j2` file per emitted file, mirroring the output tree.

Path parts `__sketch__`, `__package_dir__` and `__kotlin_class__` are replaced by the sanitized name, the Kotlin
package directory and the Kotlin class name. The shared C/C++ sources (firmware_templates/_sources/, listed in
its `sources.toml`) are rendered into the template's `sources_dir`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

from edgeq.check.targets import TargetProfile
from edgeq.errors import EmitError, UsageError
from edgeq.render import render
from edgeq.resources import templates_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject declares tomli there)
    import tomli as tomllib

SHARED_DIR = "_sources"
MANIFEST = "template.toml"
RUNTIMES = ("tflm", "litert", "c")
_FIELDS = {"description": str, "kinds": list, "runtime": str, "sources_dir": str, "source_ext": str,
           "cortex_m_only": bool, "project_dir": str, "archs": list, "when": dict}
_REQUIRED = ("description", "kinds", "runtime")


@dataclass(frozen=True)
class TemplateInfo:
    """One project template, as its manifest describes it.

    kinds: target kinds it serves ('mcu', 'android'). runtime: what runs the model ('tflm', 'litert', or 'c' for
    edgeq's compiled-C engine). sources_dir: where the shared C/C++ sources go (None: the template has none).
    source_ext: extension of model_data's source file. cortex_m_only: it compiles with arm-none-eabi-gcc and the
    profile's Cortex-M flags. project_dir: its folder inside `edgeq convert`'s OUT/. archs: the CPU architectures
    (a profile's cpu.arch) its toolchain builds for (empty: any). when: folder -> template variable; the folder's
    files are rendered only when the variable is set (e.g. board/qemu/ only for targets QEMU emulates).
    """

    name: str
    description: str
    kinds: tuple[str, ...]
    runtime: str
    sources_dir: str | None = None
    source_ext: str = ".cc"
    cortex_m_only: bool = False
    project_dir: str = ""
    archs: tuple[str, ...] = ()
    when: tuple[tuple[str, str], ...] = ()


def _manifest(name: str) -> TemplateInfo:
    path = templates_dir() / name / MANIFEST
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EmitError(f"template manifest {path}: {exc}; reinstall edgeq") from None
    unknown = sorted(set(data) - set(_FIELDS))
    missing = [k for k in _REQUIRED if k not in data]
    wrong = [k for k, v in data.items() if k in _FIELDS and not isinstance(v, _FIELDS[k])]
    if unknown or missing or wrong or data.get("runtime") not in RUNTIMES:
        raise EmitError(f"template manifest {path}: unknown keys {unknown}, missing {missing}, wrong types {wrong}, "
                        f"runtime {data.get('runtime')!r}")
    return TemplateInfo(name=name, description=data["description"], kinds=tuple(data["kinds"]),
                        runtime=data["runtime"], sources_dir=data.get("sources_dir"),
                        source_ext=data.get("source_ext", ".cc"), cortex_m_only=data.get("cortex_m_only", False),
                        project_dir=data.get("project_dir", name), archs=tuple(data.get("archs", ())),
                        when=tuple(sorted((str(k).rstrip("/") + "/", str(v)) for k, v in data.get("when", {}).items())))


@cache
def registry() -> dict[str, TemplateInfo]:
    """Every template with a manifest, by name (sorted)."""
    names = sorted(p.parent.name for p in templates_dir().glob(f"*/{MANIFEST}"))
    return {name: _manifest(name) for name in names}


@cache
def shared_sources() -> dict[str, str]:
    """Shared source template -> output file name ({ext}: the template's C++ source extension)."""
    path = templates_dir() / SHARED_DIR / "sources.toml"
    with path.open("rb") as fh:
        return dict(tomllib.load(fh)["outputs"])


def project_templates() -> dict[str, TemplateInfo]:
    """The templates `--template` chooses from (every one but the compiled-C engine's)."""
    return {n: t for n, t in registry().items() if t.runtime != "c"}


def engine_template() -> TemplateInfo:
    """The compiled-C engine's project template (`--runtime c`)."""
    return next(t for t in registry().values() if t.runtime == "c")


def is_cortex_m(target: TargetProfile) -> bool:
    """True for Arm Cortex-M profiles (arm-none-eabi-gcc with the profile's -mcpu flags)."""
    return target.cpu.core.startswith("cortex-m") and target.cpu.arch.startswith("armv") and bool(target.cpu.cflags)


def select_template(target: TargetProfile, template: str | None) -> TemplateInfo:
    """The template to render: `template`, else the target's default; refuses combinations that cannot work."""
    templates = project_templates()
    name = template or target.default_template or ("android" if target.kind == "android" else "tflm-cmake")
    info = templates.get(name)
    if info is None:
        raise UsageError(f"unknown template {name!r}; known templates: {', '.join(templates)} "
                         "(see `edgeq templates`)")
    if target.kind not in info.kinds:
        fits = [t.name for t in templates.values() if target.kind in t.kinds]
        raise UsageError(f"template {name} is for {'/'.join(info.kinds)} targets, and {target.name} is a "
                         f"{target.kind} target; use --template {' or '.join(fits)}")
    if info.cortex_m_only and not is_cortex_m(target):
        raise UsageError(f"template {name} builds for Arm Cortex-M with arm-none-eabi-gcc, and {target.name} is "
                         f"a {target.cpu.core or target.cpu.arch or 'non-Cortex-M'} target; use --template esp-idf, "
                         "zephyr or arduino")
    if info.archs and target.cpu.arch not in info.archs:
        fits = [t.name for t in templates.values() if target.kind in t.kinds and t.runtime != "litert"
                and (not t.archs or target.cpu.arch in t.archs) and (not t.cortex_m_only or is_cortex_m(target))]
        raise UsageError(f"template {name} builds for {'/'.join(info.archs)} chips, and {target.name}'s CPU is "
                         f"{target.cpu.arch or target.cpu.core}; use --template {' or '.join(fits)}")
    return info


def _output_path(relative: str, placeholders: dict[str, str]) -> str:
    for token, value in placeholders.items():
        relative = relative.replace(token, value)
    return relative.removesuffix(".j2")


def template_files(info: TemplateInfo) -> list[str]:
    """The template's own files (paths relative to its directory, without the manifest), sorted."""
    root = templates_dir() / info.name
    if not root.is_dir():
        raise EmitError(f"template directory {root} is missing; reinstall edgeq")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def render_project(info: TemplateInfo, context: dict[str, Any], placeholders: dict[str, str],
                   include_shared: bool) -> dict[str, str]:
    """Output path -> text for every file of the template (and the shared sources when `include_shared`)."""
    files: dict[str, str] = {}
    for relative in template_files(info):
        if any(relative.startswith(folder) and not context.get(key) for folder, key in info.when):
            continue
        if not relative.endswith(".j2"):
            raise EmitError(f"template {info.name}: {relative} is not a .j2 template")
        files[_output_path(relative, placeholders)] = render(f"{info.name}/{relative}", context)
    if include_shared and info.sources_dir is not None:
        base = _output_path(info.sources_dir, placeholders)
        for source, output in shared_sources().items():
            files[f"{base}/{output.format(ext=info.source_ext)}"] = render(f"{SHARED_DIR}/{source}", context)
    return dict(sorted(files.items()))
