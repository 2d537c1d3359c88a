"""The convert driver: load -> calibrate -> quantize -> validate -> check -> emit, one step a line."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from edgeq.check.c_engine import counted_latency
from edgeq.check.rules import check_model
from edgeq.check.targets import TargetProfile, get_target
from edgeq.emit import project_name, template_warnings, write_project
from edgeq.emit.boards import machine_for
from edgeq.emulate import verify
from edgeq.emulate.engine_size import measured_engine_figures
from edgeq.emulate.tflm import find_tree
from edgeq.emulate.tools import find_toolchain
from edgeq.emulate.verify import measured_arena
from edgeq.errors import (
    CalibrationError,
    CheckFailed,
    EdgeqError,
    ModelLoadError,
    UsageError,
    ValidationFailed,
    VerifyError,
    article,
)
from edgeq.load.loader import LoadedModel, load_model
from edgeq.output import check_output_dir, json_text, staged_output
from edgeq.quantize.calibration import calibration_warnings
from edgeq.quantize.converter import QuantizeOptions, check_input_types, quantize
from edgeq.recover import recover_accuracy
from edgeq.report import ConvertResult
from edgeq.samples import Preprocess, SampleSet, load_samples, synthetic_samples
from edgeq.validate.html import render_html
from edgeq.validate.junit import junit_xml
from edgeq.validate.session import ValidationOptions, validate_model

SYNTHETIC_SAMPLES = 100


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


@dataclass
class ConvertOptions:
    """Everything `edgeq convert` takes besides the model path and the output directory."""

    target: str = "cortex-m4"
    mode: str = "int8"
    io_type: str = "int8"
    calib: Path | None = None
    calib_samples: int | None = None
    synthetic_calib: bool = False
    preprocess: Preprocess = field(default_factory=Preprocess)
    unsafe_load: bool = False
    force: bool = False
    val: Path | None = None  # validation data (--val): validate right after quantizing
    validation: ValidationOptions = field(default_factory=ValidationOptions)  # thresholds for --val
    template: str | None = None  # firmware template (default: the target's); the project goes in OUT/<template>/
    name: str = "model"  # C symbol prefix of the emitted sources (sanitized)
    runtime: str = "tflm"  # 'tflm' (template project) or 'c' (edgeq's compiled-C engine, OUT/compiled-c/)
    verify: bool = False  # --verify: run the firmware on an emulated board (runtime 'tflm' needs a TFLM tree)
    tflm_tree: Path | None = None  # --tflm-tree (else $EDGEQ_TFLM_TREE): TFLM sources for --verify --runtime tflm
    verify_samples: int = 8
    recover: bool = False  # --recover: try accuracy-recovery techniques, keep the best integer-only model


def _target_for(options: ConvertOptions) -> TargetProfile:
    target = get_target(options.target)
    if options.mode not in target.modes:
        raise UsageError(f"mode {options.mode} is not available for {target.name} "
                         f"({article(target.kind)} {target.kind} target); "
                         f"choose one of {', '.join(target.modes)}")
    return target


def check_up_front(model_path: Path, out_dir: Path, options: ConvertOptions,
                   quantize_options: QuantizeOptions) -> tuple[TargetProfile, str, list[str]]:
    """Every option combination and cheap fact, checked before TensorFlow loads: (target, project folder,
    warnings). A refusal here costs milliseconds instead of a conversion."""
    target = _target_for(options)
    project = project_name(target, options.template, options.runtime)  # a bad --template fails here
    if options.runtime == "c" and options.mode != "int8":
        raise UsageError(f"--runtime c (the compiled-C engine) runs int8 models; --mode {options.mode} needs "
                         "--runtime tflm")
    if options.verify:
        if options.runtime == "tflm":  # without TFLM sources, say how to get them before any work
            find_tree(options.tflm_tree, cmsis_nn=target.runtime.kernels == "cmsis-nn")
        machine_for(target)  # a target QEMU cannot emulate (cortex-m0plus) is refused with the profile's note
        find_toolchain()
    if options.calib is not None and options.synthetic_calib:
        raise UsageError("give either --calib or --synthetic-calib, not both")
    if options.calib is None and not options.synthetic_calib and quantize_options.needs_calibration:
        raise CalibrationError(f"mode {options.mode} needs calibration data: pass --calib FILE (.npy, .npz or an "
                               "image folder), or --synthetic-calib to use random data (not recommended)")
    if not model_path.exists():
        raise ModelLoadError(f"{model_path}: no such file or directory")
    for path, what in ((options.calib, "calibration data"), (options.val, "validation data")):
        if path is not None and not Path(path).exists():
            raise CalibrationError(f"{what} {path}: no such file or directory")
    check_output_dir(out_dir, options.force, inputs=_inputs(model_path, options))
    return target, project, template_warnings(target, options.template, options.runtime)


def _inputs(model_path: Path, options: ConvertOptions) -> list[Path | None]:
    return [Path(model_path), options.calib, options.val]


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

    quantize_options = QuantizeOptions(mode=options.mode, io_type=options.io_type)
    target, project, warnings = check_up_front(model_path, out_dir, options, quantize_options)
    for message in warnings:
        progress.warn(message)

    progress.step(f"Loading {Path(model_path).name}")
    source = load_model(model_path, unsafe=options.unsafe_load)
    check_input_types(source)
    samples = _calibration_set(source, options, progress, warnings)
    _warn(progress, warnings, [*(samples.notes if samples is not None else []),
                               *calibration_warnings(source, samples)])

    progress.step(f"Quantizing to {options.mode} for {target.name}")
    total = samples.count if samples is not None else 0
    tflite = quantize(source, quantize_options, samples, integer_only=target.is_mcu,
                      on_sample=lambda done: progress.calibration(done, total))
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
    with staged_output(out_dir, options.force, inputs=_inputs(model_path, options)) as staging:
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
                                              f"files; cached in {where})"))
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
