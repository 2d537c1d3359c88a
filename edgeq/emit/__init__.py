"""Emit what firmware builds embed: the model as a C array, its op resolver, I/O header and golden vectors,
rendered into a ready project (TFLM CMake, Arduino, Zephyr, ESP-IDF) or an Android module.

    emit_project(model, out_dir, target="cortex-m4")            # OUT/ becomes the target's default project
    write_project(model, directory, target=..., ...)    # into an existing (staging) directory
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.check.arena import TargetArena
from edgeq.check.targets import TargetProfile, get_target
from edgeq.emit.project import (
    TemplateInfo,
    compile_templates,
    engine_template,
    extra_context,
    project_templates,
    select_template,
)
from edgeq.emit.sources import (
    arena_for,
    golden_context,
    model_bytes,
    model_context,
    op_entries,
    tflm_build_context,
)
from edgeq.errors import EmitError, UsageError, article
from edgeq.record import REPORT_FILE
from edgeq.render import DEFAULT_NAME, c_identifier, write_files
from edgeq.samples import SampleSet
from edgeq.staging import check_output_dir, json_text, staged_output
from edgeq.templates import output_path, render_project
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.golden import GOLDEN_SEED, GoldenVector, golden_vectors

RUNTIMES = ("tflm", "c")  # --runtime: a template project (TFLM; LiteRT on Android), or the compiled-C engine
C_ENGINE_GOLDEN_VECTORS = 4  # the compiled-C self-check runs several inputs (the TFLM templates carry one)
MODEL_FILE = "model.tflite"  # what `edgeq verify` reads from an emit output, beside REPORT_FILE

__all__ = ["RUNTIMES", "EmitResult", "TemplateInfo", "emit_project", "project_context", "project_name",
           "project_templates", "select_template", "template_warnings", "write_project"]


@dataclass
class EmitResult:
    """What was emitted: where, with which template/runtime and symbol prefix, and the files (relative)."""

    out_dir: Path
    template: str
    runtime: str
    name: str
    files: list[str] = field(default_factory=list)
    arena_size: int | None = None
    memory: dict[str, Any] | None = None  # runtime 'c': the engine's arena plan next to TFLM's host arena


def prepare_project(target: TargetProfile, template: str | None, runtime: str) -> None:
    """Compile the templates a later `write_project` renders (nothing for --runtime c)."""
    if runtime != "c":
        compile_templates(select_template(target, template))


def project_name(target: TargetProfile, template: str | None, runtime: str) -> str:
    """The directory a project gets inside `edgeq convert`'s OUT/ (the template's name, or compiled-c);
    a bad template/target/runtime combination is a UsageError here, before any expensive work."""
    if runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if runtime == "c":
        if template is not None:
            raise UsageError("--template applies to --runtime tflm; --runtime c writes its own project")
        if not target.is_mcu:
            raise UsageError(f"--runtime c generates MCU firmware; {target.name} is {article(target.kind)} "
                             f"{target.kind} target")
        return engine_template().directory
    return select_template(target, template).directory


def template_warnings(target: TargetProfile, template: str | None, runtime: str) -> list[str]:
    """Combinations that work but may not be what the user meant (the Android module for an MCU profile)."""
    if runtime != "tflm":
        return []
    info = select_template(target, template)
    if info.runtime == "litert" and target.is_mcu:
        return [f"template {info.name} runs the model with LiteRT in an Android app; {target.name} is a "
                "microcontroller profile, so its flash/RAM check does not describe that app"]
    return []


def check_integer_model(model: TFLiteModel, target: TargetProfile) -> None:
    """A microcontroller project needs an integer model: float ops are refused (edgeq converts to int8)."""
    from edgeq.quantize.converter import float_ops  # only the integer proof; TensorFlow stays unloaded

    if not target.is_mcu:
        return
    found = float_ops(model)
    if found:
        ops = sorted({op.opcode for op in found})
        counts = {name: sum(op.opcode == name for op in found) for name in ops[:5]}
        listed = ", ".join(f"{name}×{count}" if count > 1 else name for name, count in counts.items())
        raise UsageError(f"the model computes in floating point ({len(found)} float op(s): {listed}"
                         f"{' and more' if len(ops) > 5 else ''}); {target.name} is a microcontroller target: convert "
                         "it to int8 first (`edgeq convert`), or emit for an Android target")


def check_engine_model(model: TFLiteModel) -> None:
    """The compiled-C engine runs int8 models: an int16 (int16x8) model is refused before any generation, in one
    line that points to the TFLM runtime."""
    if any(t.dtype == "int16" and t.data is None for sg in model.subgraphs for t in sg.tensors):
        raise UsageError("--runtime c (the compiled-C engine) runs int8 models; this model has int16 activations "
                         "(an int16x8 model): use --runtime tflm")


def _golden(model: TFLiteModel, golden: GoldenVector | None, samples: SampleSet | None) -> tuple[GoldenVector, str]:
    if golden is not None:
        return golden, "an input given to edgeq"
    vector = golden_vectors(model, 1, samples)[0]
    source = "the first calibration sample" if samples is not None and samples.count else \
        f"a seeded random input, seed {GOLDEN_SEED}"
    return vector, source


def project_context(model: TFLiteModel, target: TargetProfile, info: TemplateInfo, name: str,
                    golden: GoldenVector | None = None, samples: SampleSet | None = None,
                    target_arena: TargetArena | None = None) -> dict[str, Any]:
    """Every variable a template sees: the model and target (with the `[sdk]` keys its manifest reads), its
    manifest's values and extra context; TFLM templates also get the ops, arena, golden vector and model bytes
    (measuring the arena, unless `target_arena` gives the target's, and running the golden input in the host
    TFLM interpreter)."""
    context: dict[str, Any] = model_context(model, name, target, info.sdk)
    context["template"] = {"name": info.name, "description": info.description}
    context["data_ext"] = info.source_ext
    context.update(extra_context(info, target, name))
    if info.sources_dir is not None:
        ops = op_entries(model)
        vector, source = _golden(model, golden, samples)
        context.update(ops=ops, op_headers=sorted({op.header for op in ops if op.header}),
                       arena=arena_for(model, target, target_arena), golden=golden_context(model, vector, source),
                       model_bytes=model_bytes(model), tflm=tflm_build_context(target))
    return context


def _tflm_project(model: TFLiteModel, directory: Path, target: TargetProfile, info: TemplateInfo, name: str,
                  golden: GoldenVector | None, samples: SampleSet | None,
                  target_arena: TargetArena | None) -> EmitResult:
    context = project_context(model, target, info, name, golden, samples, target_arena)
    files: dict[str, str | bytes] = dict(render_project(info, context))
    if info.model_file:
        files[output_path(info, info.model_file, context)] = model.data
    written = write_files(directory, files)
    arena = context.get("arena")
    return EmitResult(out_dir=directory, template=info.name, runtime="tflm", name=name, files=written,
                      arena_size=arena.size if arena is not None else None)


def _c_project(model: TFLiteModel, directory: Path, target: TargetProfile, name: str,
               golden: GoldenVector | None, samples: SampleSet | None) -> EmitResult:
    from edgeq.check.c_engine import memory_summary  # the engine's figures, loaded only for --runtime c
    from edgeq.engine import write_engine_project

    vectors = [golden] if golden is not None else golden_vectors(model, C_ENGINE_GOLDEN_VECTORS, samples)
    build = write_engine_project(model, name, vectors, directory, dsp=target.cpu.dsp, cflags=target.cpu.cflags,
                                 core=target.cpu.core or target.name)
    written = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return EmitResult(out_dir=directory, template=engine_template().directory, runtime="c", name=name,
                      files=written, arena_size=build.arena_bytes, memory=memory_summary(build, model))


def write_project(model: TFLiteModel, directory: Path, *, target: TargetProfile, template: str | None = None,
                  name: str = DEFAULT_NAME, runtime: str = "tflm", golden: GoldenVector | None = None,
                  samples: SampleSet | None = None, target_arena: TargetArena | None = None) -> EmitResult:
    """Render the project for `model` into `directory` (created if needed; existing files are overwritten).

    runtime 'tflm' renders `template` (default: the target's default template); runtime 'c' writes edgeq's
    compiled-C engine project instead. The golden vector defaults to the first of `samples` (else a seeded
    random input) run through the host TFLM interpreter. `target_arena` (TFLM measured on the target's core)
    replaces the host-measured arena.
    """
    project_name(target, template, runtime)  # validates the combination
    ident = c_identifier(name)
    directory.mkdir(parents=True, exist_ok=True)
    if runtime == "c":
        return _c_project(model, directory, target, ident, golden, samples)
    return _tflm_project(model, directory, target, select_template(target, template), ident, golden, samples,
                         target_arena)


def emit_project(model: TFLiteModel | str | Path | bytes, out_dir: str | Path, *,
                 target: str | TargetProfile = "cortex-m4", template: str | None = None, name: str = DEFAULT_NAME,
                 runtime: str = "tflm", golden: GoldenVector | None = None, samples: SampleSet | None = None,
                 force: bool = False, warn: Callable[[str], None] | None = None) -> EmitResult:
    """Emit a firmware project for an integer .tflite model into OUT/ (all-or-nothing; --force to replace;
    `warn` hears of staging folders a killed earlier run left and that are removed).

    Beside the project, OUT/ gets model.tflite and a report.json naming the target and the project, so that
    `edgeq verify OUT` runs it without further flags."""
    profile = target if isinstance(target, TargetProfile) else get_target(target)
    project_name(profile, template, runtime)  # fail on a bad combination before any work
    inputs = [Path(model)] if isinstance(model, (str, Path)) else []
    out_dir = Path(out_dir)
    check_output_dir(out_dir, force, inputs)
    tflite = model if isinstance(model, TFLiteModel) else read_model(model)
    check_integer_model(tflite, profile)
    if runtime == "c":
        check_engine_model(tflite)
    with staged_output(out_dir, force, inputs, warn=warn) as staging:
        result = write_project(tflite, staging, target=profile, template=template, name=name, runtime=runtime,
                               golden=golden, samples=samples)
        for extra in (MODEL_FILE, REPORT_FILE):
            if extra in result.files:
                raise EmitError(f"the {result.template} project has its own {extra}; edgeq cannot write its record "
                                "beside it")
        (staging / MODEL_FILE).write_bytes(tflite.data)
        (staging / REPORT_FILE).write_text(json_text(emit_report(tflite, profile, result)), encoding="utf-8")
        result.files = sorted([*result.files, MODEL_FILE, REPORT_FILE])
    result.out_dir = out_dir
    return result


def emit_report(model: TFLiteModel, target: TargetProfile, result: EmitResult) -> dict[str, Any]:
    """report.json of an `edgeq emit` output: the model, the target and the project (deterministic: no times)."""
    from edgeq.check.rules import target_identity
    from edgeq.record import ModelRecord, ProjectRecord, Report, TargetRecord, section
    from edgeq.tflite.describe import model_info
    from edgeq.version import __version__

    target_entry = section(TargetRecord, target_identity(target, result.runtime))
    if result.runtime == "tflm" and result.arena_size is not None:
        from edgeq.check.arena import recommended_arena

        target_entry.arena = recommended_arena(model, target).to_dict()
    project = ProjectRecord(dir=".", template=result.template, runtime=result.runtime, name=result.name,
                            arena_bytes=result.arena_size, files=list(result.files), engine_memory=result.memory)
    return Report(edgeq_version=__version__, written_by="edgeq emit",
                  model=section(ModelRecord, {"file": MODEL_FILE, **model_info(model)}), target=target_entry,
                  project=project).to_dict()
