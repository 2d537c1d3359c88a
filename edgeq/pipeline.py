"""The convert driver: load -> calibrate -> quantize -> validate -> check -> emit, one step a line."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from edgeq.check.arena import start_measuring
from edgeq.check.c_engine import counted_latency
from edgeq.check.rules import check_model
from edgeq.check.targets import TargetProfile
from edgeq.emit import prepare_project, write_project
from edgeq.emulate import verify
from edgeq.emulate.engine_size import measured_engine_figures
from edgeq.emulate.verify import measured_arena
from edgeq.errors import CheckFailed, EdgeqError, ValidationFailed, VerifyError
from edgeq.load.loader import LoadedModel, load_model
from edgeq.options import SYNTHETIC_SAMPLES, ConvertOptions, check_up_front, convert_inputs
from edgeq.quantize.calibration import calibration_warnings
from edgeq.quantize.converter import QuantizeOptions, check_input_types, quantize
from edgeq.recover import recover_accuracy
from edgeq.report import ConvertResult
from edgeq.samples import SampleSet, load_samples, synthetic_samples
from edgeq.staging import json_text, staged_output
from edgeq.validate.html import render_html
from edgeq.validate.junit import junit_xml
from edgeq.validate.session import validate_model

__all__ = ["ConvertOptions", "ConvertResult", "Progress", "SilentProgress", "check_up_front", "convert",
           "convert_failure"]



class Progress(Protocol):
    """What the driver tells a user interface between steps."""

    def step(self, message: str) -> None: ...

    def calibration(self, done: int, total: int) -> None: ...

    def validation(self, done: int, total: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentProgress:
    """The Python API's default: say nothing."""

    def step(self, message: str) -> None:
        pass

    def calibration(self, done: int, total: int) -> None:
        pass

    def validation(self, done: int, total: int) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def refuse_oversize(model: LoadedModel, target: TargetProfile, runtime: str = "tflm") -> None:
    """A model whose int8 kernels alone (one byte per kernel weight, a lower bound) cannot fit the flash the target
    leaves for a model is refused right after loading: quantizing it would take minutes to say the same."""
    params = model.parameter_count()
    if not target.is_mcu or params is None:
        return
    memory = target.memory
    code_kib = 0.0 if runtime == "c" else target.runtime.code_flash_kb  # the compiled-C engine's code is small
    budget = int((memory.flash_kb - memory.reserved_flash_kb - code_kib) * 1024)
    if params < budget:
        return
    raise CheckFailed(f"{model.path.name}: {params:,} kernel weights are {params / 1024:,.0f} KiB as int8 alone, "
                      f"more than the {budget / 1024:,.0f} KiB of flash {target.name} leaves for a model; "
                      "nothing written (--allow-oversize converts anyway, e.g. for the report)")


def _calibration_set(model: LoadedModel, options: ConvertOptions, progress: Progress,
                     warnings: list[str]) -> SampleSet | None:
    if options.calib is not None:
        return load_samples(options.calib, model.inputs, limit=options.calib_samples, preprocess=options.preprocess)
    if options.synthetic_calib:
        _warn(progress, warnings, ["calibration used SYNTHETIC random data: activation ranges will not match real "
                                   "inputs and accuracy may be poor; pass --calib with real samples"])
        return synthetic_samples(model.inputs, options.calib_samples or SYNTHETIC_SAMPLES)
    return None  # a mode that needs calibration data was refused in check_up_front


def _warn(progress: Progress, warnings: list[str], found: list[str]) -> None:
    for message in found:
        warnings.append(message)
        progress.warn(message)


def convert(model_path: str | Path, out_dir: str | Path, options: ConvertOptions | None = None,
            progress: Progress | None = None, raise_failures: bool = True) -> ConvertResult:
    """Convert a Keras/SavedModel model to an integer TFLite model for a target and write OUT/.

    A model that converts but misses a validation gate, does not fit or differs on the emulated board still
    gets OUT, then raises (ValidationFailed, VerifyError, CheckFailed); with `raise_failures` False the result
    is returned and `convert_failure(result)` gives that error, so a caller can show the result first.
    """
    options = options or ConvertOptions()
    progress = progress or SilentProgress()
    model_path, out_dir = Path(model_path), Path(out_dir)

    target, project, warnings = check_up_front(model_path, out_dir, options)  # before TensorFlow loads
    quantize_options = QuantizeOptions(mode=options.mode, io_type=options.io_type)
    for message in warnings:
        progress.warn(message)

    progress.step(f"Loading {Path(model_path).name}")
    source = load_model(model_path, unsafe=options.unsafe_load)
    check_input_types(source)
    if not options.allow_oversize:
        refuse_oversize(source, target, options.runtime)
    samples = _calibration_set(source, options, progress, warnings)

    progress.step(f"Quantizing to {options.mode} for {target.name}")
    total = samples.count if samples is not None else 0
    tflite = quantize(source, quantize_options, samples, integer_only=target.is_mcu,
                      on_sample=lambda done: progress.calibration(done, total))
    if target.runtime.name == "tflm" and not options.recover:  # the check measures it: start it on another core
        start_measuring(tflite)
    _warn(progress, warnings, [*(samples.notes if samples is not None else []),  # runs the float model on the
                               *calibration_warnings(source, samples)])  # calibration data meanwhile
    prepare_project(target, options.template, options.runtime)  # while the arena child runs
    tflite, recovery = recover_accuracy(source, tflite, samples, options, target, progress.step)
    result = ConvertResult(out_dir=out_dir, source=source, target=target,
                           quantization=recovery.quantization if recovery is not None else quantize_options,
                           samples=samples, tflite=tflite, warnings=warnings, recovery=recovery)

    if options.val is not None:
        progress.step(f"Validating on {Path(options.val).name}: float vs LiteRT vs TFLM")
        result.validation = validate_model(tflite, options.val, source,
                                           replace(options.validation, preprocess=options.preprocess),
                                           progress=progress.validation)
        _warn(progress, warnings, result.validation.warnings)

    progress.step(f"Checking the model against {target.name}")
    engine = measured_engine_figures(tflite, target) if options.runtime == "c" else None  # the engine's own figures
    result.check = check_model(tflite, target, engine=engine)
    for finding in result.check.rules:
        if finding.severity == "warning" and not finding.ok:
            warnings.append(f"{finding.rule}: {finding.detail}")
            progress.warn(f"{finding.rule}: {finding.detail}")

    progress.step(f"Writing {out_dir}")
    with staged_output(out_dir, options.force, inputs=convert_inputs(model_path, options),
                       warn=progress.warn) as staging:
        (staging / "model.tflite").write_bytes(tflite.data)
        if result.check.ok:  # a model that does not fit gets no firmware project, only the report saying why
            progress.step(f"Emitting the {project} project into {out_dir}/{project}")
            result.project = write_project(tflite, staging / project, target=target, template=options.template,
                                           name=options.name, runtime=options.runtime, samples=samples)
            if options.verify:
                progress.step(f"Verifying on an emulated {target.cpu.core or target.name}")
                result.emulation = verify(staging, samples=options.verify_samples, target=target.name,
                                          tflm_tree=options.tflm_tree,
                                          on_build=lambda files, where: progress.step(
                                              f"Compiling TensorFlow Lite Micro for {target.name} once ({files} "
                                              f"files; cached in {where})"),
                                          on_clean=lambda folder: progress.step(
                                              f"Removed {folder}: a TFLM library a stopped run left half-built"))
                emulated = result.emulation
                if engine is not None and emulated.passed and emulated.instructions_per_inference is not None:
                    result.check.latency = counted_latency(emulated.instructions_per_inference, emulated.per_op,
                                                           target)
                measured = measured_arena(result.emulation)
                if measured is not None:  # the arena TFLM used on the core replaces the host's in the project
                    shutil.rmtree(staging / project)
                    result.project = write_project(tflite, staging / project, target=target,
                                                   template=options.template, name=options.name,
                                                   runtime=options.runtime, samples=samples, target_arena=measured)
                    result.target_arena = measured
        (staging / "report.json").write_text(json_text(result.to_dict()), encoding="utf-8")
        if result.validation is not None:
            (staging / "validation.html").write_text(render_html(result.validation, result.recovery),
                                                     encoding="utf-8")
            (staging / "validation.junit.xml").write_text(junit_xml(result.validation), encoding="utf-8")
    failure = convert_failure(result)
    if failure is not None and raise_failures:
        raise failure
    return result


def convert_failure(result: ConvertResult) -> EdgeqError | None:
    """The error a written-but-failed conversion ends with (None when it passed): a missed validation gate,
    outputs that differ on the emulated board, or a model that does not fit the target."""
    out_dir = result.out_dir
    if result.validation is not None and not result.validation.passed:
        hint = "" if result.recovery is not None else "; --recover tries techniques that win accuracy back"
        return ValidationFailed(f"{result.validation.failure_message()} ({out_dir}/validation.html has the details"
                                f"{hint})")
    if result.emulation is not None and not result.emulation.passed:
        return VerifyError(f"{result.emulation.summary()} ({out_dir}/report.json has the details)")
    if result.check is not None and not result.check.ok:  # OUT holds model.tflite and report.json to inspect
        return CheckFailed(f"{result.check.summary()} ({out_dir}/report.json has the details)")
    return None
