"""Project templates as plugins: each firmware_templates/<name>/ holds a `template.toml` manifest and one `*.j2`
per emitted file, mirroring the output tree. The manifest says everything edgeq needs to know about the template
(its files, the target kinds it serves, the `[sdk]` keys of a profile it reads, the extra context it needs);
adding a template is adding a folder (and its golden files in the tests), no edgeq code.

The shared C/C++ sources (firmware_templates/_sources/, listed in its `sources.toml`) are rendered into the
template's `sources_dir`. Path parts named in `placeholders` are replaced by a context variable (the sanitized
name, the Kotlin package directory, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from edgeq.errors import EmitError
from edgeq.resources import templates_dir
from edgeq.schema import build, load_toml, read_toml

SHARED_DIR = "_sources"
MANIFEST = "template.toml"
RUNTIMES = ("tflm", "litert", "c")
KINDS = ("mcu", "android")


@dataclass(frozen=True)
class TemplateInfo:
    """One project template, as its manifest describes it (see any firmware_templates/*/template.toml).

    kinds: target kinds it serves. runtime: what runs the model ('tflm', 'litert', or 'c' for edgeq's compiled-C
    engine). files: its own templates (relative to its folder; every .j2 there must be listed). default_for_kinds: the
    target kinds whose profiles get it when they name no default_template. sources_dir: where the shared C/C++
    sources go (None: none). source_ext: model_data's C++ source extension. cortex_m_only: it compiles with
    arm-none-eabi-gcc and the profile's Cortex-M flags. archs: the CPU architectures (a profile's cpu.arch) its
    toolchain builds for (empty: any). project_dir: its folder inside `edgeq convert`'s OUT/. when: folder ->
    context variable; the folder's files are rendered only when the variable is set. sdk: the profile `[sdk]`
    keys it reads (key -> what it is), passed as target.<key>. context: extra context builders it needs (by
    name, from edgeq.emit's registry). values: fixed template variables. placeholders: path part -> context
    variable. model_file: where the .tflite itself goes (placeholders apply), for templates that load it at run
    time. main: the application's entry source. generated: templates the runtime's code generator renders
    itself (not part of the project rendering). test_target: the profile the test suite emits it for (golden
    files in tests/emit/golden/<name>/).
    """

    name: str
    description: str
    kinds: tuple[str, ...]
    runtime: str
    files: tuple[str, ...]
    test_target: str
    default_for_kinds: tuple[str, ...] = ()
    sources_dir: str | None = None
    source_ext: str = ".cc"
    cortex_m_only: bool = False
    archs: tuple[str, ...] = ()
    project_dir: str = ""
    when: dict[str, str] = field(default_factory=dict)
    sdk: dict[str, str] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)
    model_file: str = ""
    main: str = ""
    generated: tuple[str, ...] = ()
    shared_files: dict[str, str] = field(default_factory=dict)  # output path -> a template outside the folder

    @property
    def directory(self) -> str:
        """Its folder inside `edgeq convert`'s OUT/ (the template's name unless the manifest says otherwise)."""
        return self.project_dir or self.name


def _manifest(name: str) -> TemplateInfo:
    path = templates_dir() / name / MANIFEST
    where = f"firmware_templates/{name}/{MANIFEST}"
    info = build(TemplateInfo, read_toml(path, EmitError), where, EmitError, name=name)
    if info.runtime not in RUNTIMES:
        raise EmitError(f"{where}: runtime must be one of {', '.join(RUNTIMES)}, not {info.runtime!r}")
    for key, values in (("kinds", info.kinds), ("default_for_kinds", info.default_for_kinds)):
        bad = sorted(set(values) - set(KINDS))
        if bad:
            raise EmitError(f"{where}: {key} has unknown kind(s) {', '.join(bad)}; known: {', '.join(KINDS)}")
    root = templates_dir() / name
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    listed = {*info.files, *info.generated}
    unlisted, missing = sorted(set(on_disk) - listed), sorted(listed - set(on_disk))
    if unlisted or missing or any(not f.endswith(".j2") for f in listed):
        raise EmitError(f"{where}: files must list every .j2 template in the folder (not listed: "
                        f"{', '.join(unlisted) or 'none'}; listed but missing: {', '.join(missing) or 'none'})")
    return info


@cache
def registry() -> dict[str, TemplateInfo]:
    """Every template with a manifest, by name (sorted)."""
    names = sorted(p.parent.name for p in templates_dir().glob(f"*/{MANIFEST}"))
    templates = {name: _manifest(name) for name in names}
    for kind in KINDS:
        defaults = [t.name for t in templates.values() if kind in t.default_for_kinds]
        if len(defaults) > 1:
            raise EmitError(f"templates {' and '.join(defaults)} both say default_for_kinds {kind!r}; one may")
    return templates


@dataclass(frozen=True)
class _SharedSources:
    outputs: dict[str, str]


@cache
def shared_sources() -> dict[str, str]:
    """Shared source template -> output file name ({ext}: the template's C++ source extension)."""
    return dict(load_toml(templates_dir() / SHARED_DIR / "sources.toml", _SharedSources, EmitError).outputs)


def project_templates() -> dict[str, TemplateInfo]:
    """The templates `--template` chooses from (every one but the compiled-C engine's)."""
    return {n: t for n, t in registry().items() if t.runtime != "c"}


def engine_template() -> TemplateInfo:
    """The compiled-C engine's project template (`--runtime c`)."""
    return next(t for t in registry().values() if t.runtime == "c")


def default_template(kind: str) -> TemplateInfo | None:
    """The template a profile of `kind` gets when it names none."""
    return next((t for t in registry().values() if kind in t.default_for_kinds), None)


def sdk_keys() -> dict[str, str]:
    """Every `[sdk]` key some template reads, with what it is."""
    return {key: meaning for t in registry().values() for key, meaning in t.sdk.items()}


def _output_path(relative: str, placeholders: dict[str, str]) -> str:
    for token, value in placeholders.items():
        relative = relative.replace(token, value)
    return relative.removesuffix(".j2")


def output_path(info: TemplateInfo, relative: str, context: dict[str, Any]) -> str:
    """A template-relative path with its placeholders replaced from `context` (and no .j2)."""
    values = {token: str(context[key]) for token, key in info.placeholders.items()}
    return _output_path(relative, values)


def render_project(info: TemplateInfo, context: dict[str, Any]) -> dict[str, str]:
    """Output path -> text for every file of the template and the shared sources it carries."""
    from edgeq.render import render  # jinja2 only for rendering: reading the registry (profiles' [sdk]) stays light

    files: dict[str, str] = {}
    when = {folder.rstrip("/") + "/": key for folder, key in info.when.items()}
    for relative in info.files:
        if any(relative.startswith(folder) and not context.get(key) for folder, key in when.items()):
            continue
        files[output_path(info, relative, context)] = render(f"{info.name}/{relative}", context)
    for output, template in info.shared_files.items():
        files[output_path(info, output, context)] = render(template, context)
    if info.sources_dir is not None:
        base = output_path(info, info.sources_dir, context)
        for source, output in shared_sources().items():
            files[f"{base}/{output.format(ext=info.source_ext)}"] = render(f"{SHARED_DIR}/{source}", context)
    return dict(sorted(files.items()))


def compile_templates(info: TemplateInfo) -> None:
    """Compile the template's files and the shared sources it carries into the jinja environment's cache ahead
    of `render_project` (the pipeline does it while the arena measurement runs in its child process)."""
    from edgeq.render import environment

    names = [f"{info.name}/{relative}" for relative in info.files] + list(info.shared_files.values())
    if info.sources_dir is not None:
        names += [f"{SHARED_DIR}/{source}" for source in shared_sources()]
    for name in names:
        environment().get_template(name)
