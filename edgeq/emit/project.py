"""Choosing a project template for a target, and the extra context builders templates name in their manifest.

The templates themselves are data (edgeq.templates: firmware_templates/<name>/template.toml and its .j2 files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgeq.check.targets import TargetProfile
from edgeq.emit.sources import qemu_board_context
from edgeq.errors import EmitError, UsageError
from edgeq.render import comment_text, kotlin_class_name, kotlin_package_segment
from edgeq.templates import (
    TemplateInfo,
    compile_templates,
    default_template,
    engine_template,
    project_templates,
    registry,
)

__all__ = ["CONTEXTS", "TemplateInfo", "compile_templates", "engine_template", "extra_context", "is_cortex_m",
           "project_templates", "registry", "select_template"]

KOTLIN_PACKAGE_ROOT = "edgeq.generated"


def is_cortex_m(target: TargetProfile) -> bool:
    """True for Arm Cortex-M profiles (arm-none-eabi-gcc with the profile's -mcpu flags)."""
    return target.cpu.core.startswith("cortex-m") and target.cpu.arch.startswith("armv") and bool(target.cpu.cflags)


def _builds_for(info: TemplateInfo, target: TargetProfile) -> bool:
    return (target.kind in info.kinds and (not info.cortex_m_only or is_cortex_m(target))
            and (not info.archs or target.cpu.arch in info.archs))


def _alternatives(target: TargetProfile) -> str:
    """The templates that do build for `target` (native runtimes first), for an error message."""
    fits = [t.name for t in project_templates().values() if _builds_for(t, target)]
    fits.sort(key=lambda n: project_templates()[n].runtime == "litert")
    return " or ".join(fits) or "none (no template builds for it)"


def select_template(target: TargetProfile, template: str | None) -> TemplateInfo:
    """The template to render: `template`, else the target's default, else the template whose manifest says it is
    the default for the target's kind; refuses combinations that cannot work."""
    templates = project_templates()
    fallback = default_template(target.kind)
    name = template or target.default_template or (fallback.name if fallback else "")
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
                         f"a {target.cpu.core or target.cpu.arch or 'non-Cortex-M'} target; use --template "
                         f"{_alternatives(target)}")
    if info.archs and target.cpu.arch not in info.archs:
        raise UsageError(f"template {name} builds for {'/'.join(info.archs)} chips, and {target.name}'s CPU is "
                         f"{target.cpu.arch or target.cpu.core}; use --template {_alternatives(target)}")
    return info


def _kotlin(target: TargetProfile, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The Kotlin class, package and asset named after the model (Android)."""
    package = f"{KOTLIN_PACKAGE_ROOT}.{kotlin_package_segment(name)}"
    kotlin = {**values.get("kotlin", {}), "class_name": kotlin_class_name(name), "package": package,
              "asset": f"{name}.tflite"}
    return {"kotlin": kotlin, "kotlin_class": kotlin["class_name"], "kotlin_package_dir": package.replace(".", "/"),
            "kotlin_asset": kotlin["asset"]}


def _cmake_text(text: str) -> str:
    """Text safe inside a quoted CMake argument (no quote, variable reference or list separator)."""
    return comment_text(" ".join(text.split()), 300).replace('"', "'").replace("$", "").replace(";", ",")


def _qemu(target: TargetProfile, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The target's emulated board (QEMU machine, start-up code, linker script) for `-DEDGEQ_BOARD=qemu`."""
    return {"qemu": qemu_board_context(target),
            "emulator_note": _cmake_text(target.emulator.note or "its profile names no QEMU machine")}


# The builders a manifest's `context = [...]` names: (target, sanitized name, the manifest's values) -> variables.
CONTEXTS: dict[str, Callable[[TargetProfile, str, dict[str, Any]], dict[str, Any]]] = {
    "kotlin": _kotlin, "qemu": _qemu,
}


def extra_context(info: TemplateInfo, target: TargetProfile, name: str) -> dict[str, Any]:
    """The manifest's fixed `values` and the variables of the context builders it names."""
    context: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in info.values.items()}
    for builder in info.context:
        if builder not in CONTEXTS:
            raise EmitError(f"template {info.name}: context {builder!r} is not one edgeq builds "
                            f"(known: {', '.join(CONTEXTS)})")
        context.update(CONTEXTS[builder](target, name, info.values))
    return context
