"""`edgeq convert --recover`: try post-training techniques, keep the best integer-only model.

A seeded quarter of the calibration samples is held out. Every candidate is calibrated on the other three
quarters and ranked against the float model on the held-out quarter (top-1 agreement, then SQNR; never the
user's labels). A technique replaces plain int8 only when it is clearly better there (more agreement, or as much
and at least 1 dB more SQNR), so the result is never worse than plain int8 on the selection data; when nothing
wins, the plain model converted from every calibration sample is kept unchanged. int16x8 is the last resort,
tried only when the best int8 model still misses the validation gates (--min-agreement, --min-sqnr) on the held-out
samples and the target's runtime runs it.
Candidates are then reported on the validation data (--val), where its labels add top-1 accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeq.check.arena import activation_peak
from edgeq.check.macs import estimate_latency
from edgeq.check.targets import TargetProfile
from edgeq.errors import CalibrationError, EdgeqError, UsageError
from edgeq.load.loader import LoadedModel
from edgeq.quantize.converter import QuantizeOptions, calibrated_model, quantize, quantize_calibrated
from edgeq.recover import bias, equalize, ranges
from edgeq.recover.outcome import Candidate, RecoveryReport
from edgeq.recover.score import float_accuracy, float_outputs, gap_closed, score
from edgeq.samples import SampleSet, load_samples, select_indices
from edgeq.tflite import TFLiteModel, read_model
from edgeq.validate.data import class_labels

MIN_SAMPLES = 20
HELD_OUT_SHARE = 4  # one sample in four chooses, the rest calibrate
# int16x8 is tried only when the best int8 model misses the validation gates (--min-agreement for classifiers,
# --min-sqnr otherwise; these defaults when a gate is off) on the held-out samples.
DEFAULT_MIN_AGREEMENT = 0.97
DEFAULT_MIN_SQNR_DB = 20.0
MAX_VALIDATION_SAMPLES = 2000

Step = Callable[[str], None]


class RecoverOptions(Protocol):
    """What recovery reads of `edgeq convert`'s options (edgeq.pipeline.ConvertOptions has these fields)."""

    recover: bool
    mode: str
    io_type: str
    runtime: str
    calib: Path | None
    val: Path | None
    validation: Any  # ValidationOptions: thresholds and the validation sample limit
    preprocess: Any  # samples.Preprocess


def _subset(samples: SampleSet, indices: np.ndarray, tag: str) -> SampleSet:
    return replace(samples, source=f"{samples.source}[{tag}]", arrays=[a[indices] for a in samples.arrays],
                   labels=None if samples.labels is None else samples.labels[indices])


def split(samples: SampleSet) -> tuple[SampleSet, SampleSet]:
    """(calibration part, held-out part): a seeded quarter held out, both in file order."""
    if samples.count < MIN_SAMPLES:
        raise CalibrationError(f"--recover needs at least {MIN_SAMPLES} calibration samples (a quarter is held out "
                               f"to choose the technique), got {samples.count}")
    held = select_indices(samples.count, samples.count // HELD_OUT_SHARE)
    rest = np.setdiff1d(np.arange(samples.count), held)
    return _subset(samples, rest, "calibrate"), _subset(samples, held, "choose")


def _from_calibrated(calibrated: bytes, options: QuantizeOptions) -> TFLiteModel:
    return read_model(quantize_calibrated(calibrated, options))


def _failed(technique: str, exc: Exception) -> Candidate:
    """A technique that could not be applied to this model is reported, not fatal: plain int8 still stands."""
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return Candidate(technique, status="failed", detail=reason)


def _keras_variant(source: LoadedModel, technique: str, transform: Callable[[], tuple[object, list[str]]],
                   options: QuantizeOptions, calib: SampleSet, what: str) -> Candidate:
    if source.keras_model is None or source.loader != "keras":
        return Candidate(technique, status="not applicable",
                         detail="needs a Keras 3 model (not a SavedModel or a tf-keras model)")
    try:
        return _transformed(source, technique, transform, options, calib, what)
    except Exception as exc:  # Keras raises anything for models clone_model cannot rebuild (subclassed, custom)
        return _failed(technique, exc)


def _transformed(source: LoadedModel, technique: str, transform: Callable[[], tuple[object, list[str]]],
                 options: QuantizeOptions, calib: SampleSet, what: str) -> Candidate:
    model, touched = transform()
    if not touched:
        return Candidate(technique, status="not applicable", detail=f"no {what} in the model")
    variant = replace(source, keras_model=model, compat_fixes=list(source.compat_fixes))
    tflite = _from_calibrated(calibrated_model(variant, options, calib), options)
    return Candidate(technique, status="scored", detail=f"{what}: {', '.join(touched[:6])}"
                     + (f" and {len(touched) - 6} more" if len(touched) > 6 else ""), model=tflite,
                     float_model=variant)


def _int8_candidates(source: LoadedModel, options: QuantizeOptions, calib: SampleSet, step: Step) -> list[Candidate]:
    step("calibrating on three quarters of the calibration samples")
    calibrated = calibrated_model(source, options, calib)
    candidates = [Candidate("plain", status="scored", detail="min/max ranges (what plain int8 does)",
                            model=_from_calibrated(calibrated, options))]
    step("clipping activation ranges (percentile, MSE)")
    try:
        clipped = ranges.clipped_models(calibrated, calib)
    except EdgeqError as exc:  # e.g. LiteRT cannot run the calibrated float model with every tensor kept
        clipped = {}
        candidates.extend(_failed(method, exc) for method in ("percentile", "mse"))
    for method, (model, changed) in clipped.items():
        if not changed:
            candidates.append(Candidate(method, status="not applicable", detail="no range would shrink"))
            continue
        detail = (f"{ranges.PERCENTILE}th-percentile ranges" if method == "percentile" else "MSE-optimal ranges")
        try:
            candidates.append(Candidate(method, status="scored", detail=f"{detail} on {changed} tensor(s)",
                                        model=_from_calibrated(model, options)))
        except EdgeqError as exc:
            candidates.append(_failed(method, exc))
    step("bias correction and cross-layer equalization")
    candidates.append(_keras_variant(source, "bias_correction", lambda: bias.correct_biases(source.keras_model, calib),
                                     options, calib, "biases corrected"))
    candidates.append(_keras_variant(source, "equalization", lambda: equalize.equalize(source.keras_model),
                                     options, calib, "pairs equalized"))
    return candidates


def _int16_candidate(source: LoadedModel, options: RecoverOptions, target: TargetProfile, best: Candidate,
                     plain: TFLiteModel, calib: SampleSet, step: Step) -> Candidate:
    scores = best.selection
    assert scores is not None
    thresholds = options.validation.thresholds
    if scores.agreement is not None:
        bound = thresholds.min_agreement if thresholds.min_agreement is not None else DEFAULT_MIN_AGREEMENT
        good, what = scores.agreement >= bound, f"top-1 agreement {scores.agreement:.3g} >= {bound:.3g}"
    else:
        bound = thresholds.min_sqnr if thresholds.min_sqnr is not None else DEFAULT_MIN_SQNR_DB
        good, what = scores.sqnr_db >= bound, f"SQNR {scores.sqnr_db:.1f} >= {bound:.3g} dB"
    if good:
        return Candidate("int16x8", status="not tried", detail=f"the best int8 model ({best.technique}) meets the "
                         f"validation gate on the held-out samples ({what})")
    if "int16x8" not in target.modes or options.runtime != "tflm" or options.io_type == "uint8":
        why = (f"{target.name} does not list int16x8" if "int16x8" not in target.modes else
               "edgeq's compiled-C engine runs int8 only" if options.runtime != "tflm" else "int16x8 has no uint8 I/O")
        return Candidate("int16x8", status="not applicable", detail=why)
    step("int16x8 (16-bit activations) as the last resort")
    mode = QuantizeOptions("int16x8", options.io_type)
    # On top of the best int8 candidate's float transform (bias correction, equalization), which int16
    # activations do not replace: the weights stay int8.
    base = best.float_model or source
    try:
        model = quantize(base, mode, calib, integer_only=target.is_mcu)
    except EdgeqError as exc:
        return _failed("int16x8", exc)
    size, peak = model.size / max(plain.size, 1), activation_peak(model).bytes / max(activation_peak(plain).bytes, 1)
    base_ms, ms = estimate_latency(plain, target).ms, estimate_latency(model, target).ms
    cost = (f"16-bit activations: I/O becomes {mode.effective_io_type}, model {model.size:,} B ({size:.2f}x), "
            f"activation memory peak {peak:.2f}x, estimated latency {ms:.3g} ms ({ms / base_ms:.2f}x)"
            if base_ms > 0 else f"16-bit activations: I/O {mode.effective_io_type}, model {size:.2f}x, "
            f"activation memory {peak:.2f}x")
    on = f", on the {best.technique} model" if best.float_model is not None else ""
    return Candidate("int16x8", status="scored", detail=f"int16 activations, int8 weights{on}", model=model,
                     cost=cost)


def choose(base: Candidate, others: list[Candidate]) -> Candidate:
    """The candidate to keep: `base` unless another clearly beats it on the held-out samples (Scores.beats), and
    of those the one with the best (top-1 agreement, SQNR). Scores' labelled accuracy is never read."""
    best = base
    for candidate in others:
        if candidate.selection is not None and base.selection is not None \
                and candidate.selection.beats(base.selection) and candidate.selection.key() > best.selection.key():
            best = candidate
    return best


def recover_accuracy(source: LoadedModel, plain: TFLiteModel, samples: SampleSet | None, options: RecoverOptions,
                     target: TargetProfile, step: Step) -> tuple[TFLiteModel, RecoveryReport | None]:
    """The model to ship and the report of every candidate (the plain model and None unless options.recover)."""
    if not options.recover:
        return plain, None
    if samples is None:  # edgeq.options.check_options refused the combinations without samples up front
        raise UsageError("--recover improves int8 conversions: use it with --mode int8 and calibration data")
    quantize_options = QuantizeOptions("int8", options.io_type)
    calib, held = split(_with_class_labels(samples, source, f"calibration data {options.calib}"))
    expected = float_outputs(source, held)
    candidates = _int8_candidates(source, quantize_options, calib, lambda text: step(f"Recovering accuracy: {text}"))
    step(f"Recovering accuracy: scoring {sum(c.status == 'scored' for c in candidates)} candidates on {held.count} "
         "held-out samples")
    _score_all(candidates, source, held, expected, target)
    base = candidates[0]
    best = choose(base, candidates[1:])
    last = _int16_candidate(source, options, target, best, plain, calib,
                            lambda text: step(f"Recovering accuracy: {text}"))
    candidates.append(last)
    _score_all([last], source, held, expected, target)
    best = choose(best, [last])
    report = RecoveryReport(candidates=candidates, chosen=best.technique, calibration_samples=calib.count,
                            selection_samples=held.count, total_samples=samples.count,
                            selection_gap=gap_closed(base.selection, best.selection),
                            quantization=QuantizeOptions("int16x8" if best is last else "int8", options.io_type))
    if options.val is not None:
        _report_on_validation(report, source, options)
    return (plain if best is base else best.model), report


def _score_all(candidates: list[Candidate], source: LoadedModel, samples: SampleSet, expected: list[np.ndarray],
               target: TargetProfile) -> None:
    # One candidate after another, on purpose: profiled on the digits example, scoring took 0.09 s of a 10.2 s
    # --recover; the rest is the TFLiteConverter runs that make the candidates, which share TensorFlow's
    # process-wide state and cannot run side by side in one process. A worker process costs ~0.25 s to start
    # (edgeq.validate.pool), more than the scoring it would take over.
    from edgeq.quantize.converter import check_interpreter_limits, prove_integer_only

    for candidate in candidates:
        if candidate.status != "scored" or candidate.model is None:
            continue
        try:
            if target.is_mcu:
                prove_integer_only(candidate.model, source.layer_names)
            check_interpreter_limits(candidate.model, source.layer_names)
            candidate.selection = score(candidate.model, source, samples, expected)
        except EdgeqError as exc:
            candidate.status, candidate.detail, candidate.model = "failed", str(exc)[:200], None


def _with_class_labels(samples: SampleSet, source: LoadedModel, where: str) -> SampleSet:
    """Labels as class ids by validation's one rule (validate.data.class_labels), against the first class-score
    output; without such an output they are dropped (validation refuses them with its own message)."""
    if samples.labels is None:
        return samples
    scores = next((o for o in source.outputs if len(o.shape) == 1 and o.shape[0] >= 2), None)
    labels = class_labels(samples.labels, scores.shape[0], scores.name, where) if scores is not None else None
    return replace(samples, labels=labels)


def _report_on_validation(report: RecoveryReport, source: LoadedModel, options: RecoverOptions) -> None:
    limit = min(options.validation.samples or MAX_VALIDATION_SAMPLES, MAX_VALIDATION_SAMPLES)
    data = load_samples(options.val, source.inputs, limit=limit, preprocess=options.preprocess, what="validation")
    data = _with_class_labels(data, source, f"validation data {options.val}")
    expected = float_outputs(source, data)
    report.validation_source = data.source
    report.float_accuracy = float_accuracy(expected, data)
    for candidate in report.candidates:
        if candidate.model is not None and candidate.selection is not None:
            candidate.validation = score(candidate.model, source, data, expected)
    plain, chosen = report.candidate("plain"), report.candidate(report.chosen)
    if plain.validation is not None and chosen.validation is not None:
        report.validation_gap = gap_closed(plain.validation, chosen.validation, report.float_accuracy)
