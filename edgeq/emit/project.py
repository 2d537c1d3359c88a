"""Firmware project templates: an explicit registry and the renderer (jinja2, StrictUndefined).

Each template is a directory firmware_templates/<name>/ mirroring the output tree, one `*.j2` file per
emitted file. Path parts `__sketch__`, `__package_dir__` and `__kotlin_class__` are replaced by the
sanitized name, the Kotlin package directory and the Kotlin class name. The shared C/C++ sources are
rendered from firmware_templates/_sources/ into the template's `sources_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from edgeq.emit.sources import SHARED_SOURCES
from edgeq.errors import EmitError, UsageError
from edgeq.resources import templates_dir
from edgeq.targets import TargetProfile

SHARED_DIR = "_sources"


@dataclass(frozen=True)
class TemplateInfo:
    """One firmware template.

    kinds: target kinds it serves ('mcu', 'android'). sources_dir: where the shared C/C++ sources go
    (None: the template has none). source_ext: extension of model_data's source file. cortex_m_only:
    it compiles with arm-none-eabi-gcc and the profile's Cortex-M flags.
    """

    name: str
    description: str
    kinds: tuple[str, ...]
    sources_dir: str | None
    source_ext: str = ".cc"
    cortex_m_only: bool = False


TEMPLATES: dict[str, TemplateInfo] = {
    "tflm-cmake": TemplateInfo(
        "tflm-cmake", "Bare-metal CMake project for Cortex-M: TFLM (CMSIS-NN), arm-none-eabi toolchain file, "
        "self-check main.cc", ("mcu",), "src", cortex_m_only=True),
    "arduino": TemplateInfo(
        "arduino", "Arduino sketch for the Arduino TensorFlow Lite library, the model as a tab",
        ("mcu",), "__sketch__", source_ext=".cpp"),
    "zephyr": TemplateInfo(
        "zephyr", "Zephyr application using Zephyr's tflite-micro module", ("mcu",), "src"),
    "esp-idf": TemplateInfo(
        "esp-idf", "ESP-IDF project using Espressif's esp-tflite-micro component (ESP-NN kernels)",
        ("mcu",), "main"),
    "android": TemplateInfo(
        "android", "Android library module: the .tflite as an asset and a Kotlin LiteRT Interpreter wrapper",
        ("android", "mcu"), None),
}


def is_cortex_m(target: TargetProfile) -> bool:
    """True for Arm Cortex-M profiles (arm-none-eabi-gcc with the profile's -mcpu flags)."""
    return target.cpu.core.startswith("cortex-m") and target.cpu.arch.startswith("armv") and bool(target.cpu.cflags)


def select_template(target: TargetProfile, template: str | None) -> TemplateInfo:
    """The template to render: `template`, else the target's default; refuses combinations that cannot work."""
    name = template or target.default_template or ("android" if target.kind == "android" else "tflm-cmake")
    info = TEMPLATES.get(name)
    if info is None:
        raise UsageError(f"unknown template {name!r}; known templates: {', '.join(TEMPLATES)} (see `edgeq templates`)")
    if target.kind not in info.kinds:
        fits = [t.name for t in TEMPLATES.values() if target.kind in t.kinds]
        raise UsageError(f"template {name} is for {'/'.join(info.kinds)} targets, and {target.name} is a "
                         f"{target.kind} target; use --template {' or '.join(fits)}")
    if info.cortex_m_only and not is_cortex_m(target):
        raise UsageError(f"template {name} builds for Arm Cortex-M with arm-none-eabi-gcc, and {target.name} is "
                         f"a {target.cpu.core or target.cpu.arch or 'non-Cortex-M'} target; use --template esp-idf, "
                         "zephyr or arduino")
    return info


@cache
def environment() -> jinja2.Environment:
    """The jinja2 environment: any undefined variable is an error; no HTML escaping (this is C and Kotlin)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, context: dict[str, Any]) -> str:
    """Render one template (a path relative to firmware_templates/); errors name the template."""
    try:
        return environment().get_template(template).render(context)
    except jinja2.UndefinedError as exc:
        raise EmitError(f"template {template}: {exc}; this is a bug in the template") from None
    except jinja2.TemplateError as exc:
        raise EmitError(f"template {template}: {type(exc).__name__}: {exc}") from None


def _output_path(relative: str, placeholders: dict[str, str]) -> str:
    for token, value in placeholders.items():
        relative = relative.replace(token, value)
    return relative.removesuffix(".j2")


def template_files(info: TemplateInfo) -> list[str]:
    """The template's own files (paths relative to its directory), sorted."""
    root = templates_dir() / info.name
    if not root.is_dir():
        raise EmitError(f"template directory {root} is missing; reinstall edgeq")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def render_project(info: TemplateInfo, context: dict[str, Any], placeholders: dict[str, str],
                   include_shared: bool) -> dict[str, str]:
    """Output path -> text for every file of the template (and the shared sources when `include_shared`)."""
    files: dict[str, str] = {}
    for relative in template_files(info):
        if not relative.endswith(".j2"):
            raise EmitError(f"template {info.name}: {relative} is not a .j2 template")
        files[_output_path(relative, placeholders)] = render(f"{info.name}/{relative}", context)
    if include_shared and info.sources_dir is not None:
        base = _output_path(info.sources_dir, placeholders)
        for source, output in SHARED_SOURCES.items():
            files[f"{base}/{output.format(ext=info.source_ext)}"] = render(f"{SHARED_DIR}/{source}", context)
    return dict(sorted(files.items()))


def write_files(directory: Path, files: dict[str, str | bytes]) -> list[str]:
    """Write `files` under `directory` (LF line ends, UTF-8); return the relative paths written, sorted."""
    for relative, content in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return sorted(files)
