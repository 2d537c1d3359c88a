"""The convert driver: load -> calibrate -> quantize -> validate -> check -> emit, one step a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgeq.calibration import Preprocess, SampleSet, load_samples, synthetic_samples
from edgeq.errors import CalibrationError, UsageError
from edgeq.load import LoadedModel, load_model
from edgeq.output import check_output_dir, json_text, staged_output
from edgeq.quantize import QuantizeOptions, quantize
from edgeq.report import conversion_report
from edgeq.targets import TargetProfile, get_target
from edgeq.tflite import TFLiteModel

SYNTHETIC_SAMPLES = 100


class Progress(Protocol):
    """What the driver tells a user interface between steps."""

    def step(self, message: str) -> None: ...

    def calibration(self, done: int, total: int) -> None: ...

    def warn(self, message: str) -> None: ...


class SilentProgress:
    """The Python API's default: say nothing."""

    def step(self, message: str) -> None:
        pass

    def calibration(self, done: int, total: int) -> None:
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


@dataclass
class ConvertResult:
    """What convert produced: the parsed .tflite, the report (as written) and where it went."""

    out_dir: Path
    tflite: TFLiteModel
    report: dict[str, Any]
    source: LoadedModel
    samples: SampleSet | None
    warnings: list[str] = field(default_factory=list)


def _target_for(options: ConvertOptions, quantize_options: QuantizeOptions) -> TargetProfile:
    target = get_target(options.target)
    if options.mode not in target.modes:
        raise UsageError(f"mode {options.mode} is not available for {target.name} (a {target.kind} target); "
                         f"choose one of {', '.join(target.modes)}")
    return target


def _calibration_set(model: LoadedModel, options: ConvertOptions, quantize_options: QuantizeOptions,
                     progress: Progress, warnings: list[str]) -> SampleSet | None:
    if options.calib is not None and options.synthetic_calib:
        raise UsageError("give either --calib or --synthetic-calib, not both")
    if options.calib is not None:
        return load_samples(options.calib, model.inputs, limit=options.calib_samples, preprocess=options.preprocess)
    if options.synthetic_calib:
        message = ("calibration used SYNTHETIC random data: activation ranges will not match real inputs and "
                   "accuracy may be poor; pass --calib with real samples")
        warnings.append(message)
        progress.warn(message)
        return synthetic_samples(model.inputs, options.calib_samples or SYNTHETIC_SAMPLES)
    if quantize_options.needs_calibration:
        raise CalibrationError(f"mode {options.mode} needs calibration data: pass --calib FILE (.npy, .npz or an "
                               "image folder), or --synthetic-calib to use random data (not recommended)")
    return None


def convert(model_path: str | Path, out_dir: str | Path, options: ConvertOptions | None = None,
            progress: Progress | None = None) -> ConvertResult:
    """Convert a Keras/SavedModel model to an integer TFLite model for a target and write OUT/."""
    options = options or ConvertOptions()
    progress = progress or SilentProgress()
    out_dir = Path(out_dir)
    warnings: list[str] = []

    quantize_options = QuantizeOptions(mode=options.mode, io_type=options.io_type)
    target = _target_for(options, quantize_options)
    check_output_dir(out_dir, options.force)

    progress.step(f"Loading {Path(model_path).name}")
    source = load_model(model_path, unsafe=options.unsafe_load)
    samples = _calibration_set(source, options, quantize_options, progress, warnings)

    progress.step(f"Quantizing to {options.mode} for {target.name}")
    total = samples.count if samples is not None else 0
    tflite = quantize(source, quantize_options, samples, integer_only=target.is_mcu,
                      on_sample=lambda done: progress.calibration(done, total))

    report = conversion_report(source, target, quantize_options, samples, tflite)
    report["warnings"] = warnings

    progress.step(f"Writing {out_dir}")
    with staged_output(out_dir, options.force) as staging:
        (staging / "model.tflite").write_bytes(tflite.data)
        (staging / "report.json").write_text(json_text(report), encoding="utf-8")
    return ConvertResult(out_dir=out_dir, tflite=tflite, report=report, source=source, samples=samples,
                         warnings=warnings)
