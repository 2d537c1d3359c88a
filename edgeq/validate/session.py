"""Host validation: the float reference, LiteRT and the TFLM interpreter on the same samples, in one pass.

    stream samples -> float reference (batched) -> LiteRT (reference kernels, one sample per invoke)
                   -> TFLM (a seeded subset; all tensors preserved for the per-layer comparison)
                   -> metrics per interpreter and output -> checks against thresholds -> ValidationReport

Nothing is kept per sample: every metric is a streaming sum (edgeq.metrics) and batches are capped at
STREAM_BYTES of samples, so memory stays flat in the sample count. The interpreters run in this process or
in `jobs` worker processes (edgeq.validate.workers); either way the statistics are updated here, in
sample order, so the report does not depend on the number of jobs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeq.errors import CalibrationError, EdgeqError
from edgeq.samples import SampleSet, select_indices
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.runners import dequantize_output
from edgeq.tflite.signature import output_names, tflite_input_specs
from edgeq.validate.data import SampleStream, class_labels, open_samples
from edgeq.validate.metrics import lsb_difference
from edgeq.validate.options import DEFAULT_TFLM_SAMPLES, ValidationOptions
from edgeq.validate.results import (
    InterpreterInfo,
    OutputInfo,
    OutputStats,
    Thresholds,
    ValidationReport,
    evaluate_checks,
)
from edgeq.validate.workers import BatchOutputs, Dispatcher, default_jobs, open_engines, short_message

if TYPE_CHECKING:  # the loader and the layer matching are imported when a reference is given: startup stays short
    from edgeq.load.loader import LoadedModel
    from edgeq.validate.layers import IOMap, LayerComparison

STREAM_BYTES = 4 << 20  # float32 samples per batch at most (the float64 quantization temporaries are 2x that)
MIN_VALIDATION_SAMPLES = 20  # below this one sample moves accuracy by more than 5 points: the gates mean little
LITERT_KERNELS = "reference kernels (BUILTIN_REF, no XNNPACK delegate)"
LITERT_DEFAULT_KERNELS = "default kernels (XNNPACK delegate)"

ProgressCallback = Callable[[int, int], None]

__all__ = ["DEFAULT_TFLM_SAMPLES", "Thresholds", "ValidationOptions", "ValidationReport", "validate_model"]




# ------------------------------------------------------------------------------------------------ the driver

def _outputs(tflite: TFLiteModel, reference: LoadedModel | None, iomap: IOMap | None,
             stream: SampleStream) -> list[OutputInfo]:
    names = output_names(tflite)
    infos = []
    for position, tensor in enumerate(tflite.main.output_tensors()):
        ref_index = iomap.outputs[position] if iomap is not None else None
        name = reference.outputs[ref_index].name if reference is not None and ref_index is not None else names[position]
        infos.append(OutputInfo.describe(position, name, ref_index, tensor, tflite))
    if stream.labels is not None:
        order = sorted(infos, key=lambda o: o.reference if o.reference is not None else o.position)
        labelled = next((o for o in order if o.kind == "classification" and len(o.shape) == 1), None)
        if labelled is None:
            raise CalibrationError(f"validation data {stream.source} has labels 'y', but no model output is a "
                                   "class-score vector [C] (C >= 2) to compare them with")
        stream.labels = class_labels(stream.labels, labelled.classes, labelled.name,
                                     f"validation data {stream.source}")
        labelled.labelled = True
    return infos


def _load_reference(reference: str | Path | LoadedModel | None, unsafe: bool) -> LoadedModel | None:
    if reference is None:
        return None
    from edgeq.load.loader import LoadedModel, load_model

    return reference if isinstance(reference, LoadedModel) else load_model(reference, unsafe=unsafe)


def validate_model(model: str | Path | TFLiteModel, data: str | Path | SampleSet,
             reference: str | Path | LoadedModel | None = None, options: ValidationOptions | None = None,
             progress: ProgressCallback | None = None) -> ValidationReport:
    """Run the float reference, LiteRT and TFLM on the same samples and check the thresholds.

    `model`: a .tflite path or TFLiteModel; `data`: .npz (x, optional y), .npy, an image folder or a
    SampleSet; `reference`: the float model (.keras/.h5/SavedModel or LoadedModel), optional but needed
    for every float-vs-integer metric. Returns a ValidationReport; `.passed` tells whether all checks held.
    """
    options = options or ValidationOptions()
    model_name = Path(model).name if isinstance(model, str | Path) else "model.tflite"
    tflite = model if isinstance(model, TFLiteModel) else read_model(model)
    ref = _load_reference(reference, options.unsafe_load)
    iomap = None
    if ref is not None:
        from edgeq.validate.layers import match_io

        iomap = match_io(tflite, ref, model_name)
    specs = ref.inputs if ref is not None else tflite_input_specs(tflite)
    stream = open_samples(data, specs, limit=options.samples, preprocess=options.preprocess)
    session = _Session(tflite, model_name, ref, iomap, stream, options)
    rows = max(1, min(options.batch_size, STREAM_BYTES // max(stream.sample_bytes, 1)))
    dispatcher = session.dispatcher(options.jobs or default_jobs())
    in_flight: deque[Callable[[], int]] = deque()
    try:
        for start, arrays in stream.batches(rows):
            in_flight.append(session.submit(start, arrays, dispatcher))
            # with workers, the next batch is read and sent while they compute this one
            while len(in_flight) > (1 if dispatcher.pool is not None else 0):
                done = in_flight.popleft()()
                if progress is not None:
                    progress(done, stream.count)
        while in_flight:
            done = in_flight.popleft()()
            if progress is not None:
                progress(done, stream.count)
    finally:
        dispatcher.close()
    session.seconds.update(dispatcher.seconds)
    session.litert_fallback = dispatcher.fallback
    report = session.report()
    report.warnings = validation_warnings(stream)
    return report


def validation_warnings(stream: SampleStream) -> list[str]:
    """How the data was read (keys, batch axis) and too few samples for the gates to mean much."""
    warnings = list(stream.notes)
    if stream.count < MIN_VALIDATION_SAMPLES:
        warnings.append(f"validation on only {stream.count} sample(s), fewer than the {MIN_VALIDATION_SAMPLES} "
                        f"edgeq considers a minimum: one sample moves accuracy and agreement by "
                        f"{100 / stream.count:.3g} points; give a few hundred held-out samples")
    return warnings


class _Session:
    """One validation run: the interpreters, their streaming metrics, and the batch loop's body."""

    def __init__(self, tflite: TFLiteModel, model_name: str, ref: LoadedModel | None, iomap: IOMap | None,
                 stream: SampleStream, options: ValidationOptions) -> None:
        self.tflite, self.model_name, self.ref, self.iomap = tflite, model_name, ref, iomap
        self.stream, self.options = stream, options
        self.outputs = _outputs(tflite, ref, iomap, stream)
        self.layers = _layer_comparison(tflite, ref, iomap, options)
        layer_tensors = tuple(m.tensor.index for m in self.layers.matches) if self.layers is not None else None
        self.engines = open_engines(tflite, options.litert, options.litert_reference_kernels, options.batch_size,
                                    options.tflm_samples > 0, layer_tensors)
        self.litert, self.litert_reason = self.engines.litert, self.engines.litert_reason
        self.tflm, self.tflm_reason = self.engines.tflm, self.engines.tflm_reason
        if self.litert is None and self.tflm is None:
            raise EdgeqError(f"{model_name}: neither interpreter can run the model: LiteRT: {self.litert_reason}; "
                             f"TFLM: {self.tflm_reason}")
        self.layer_note = "tflm"
        if self.layers is not None and self.tflm is None:
            self.layer_note = "litert (TFLM did not run)"
            if self.engines.layer_runner is None:
                self.layers = None
                self.layer_note = self.engines.layer_reason
        self.litert_fallback = ""
        against_float = ref is not None
        self.stats = {name: [OutputStats.create(o, against_float) for o in self.outputs]
                      for name, engine in (("litert", self.litert), ("tflm", self.tflm)) if engine is not None}
        self.float_stats = [OutputStats.create(o, False) for o in self.outputs] if against_float else None
        # TFLM and the per-layer comparison see a seeded spread of samples: the first N samples of a
        # class-sorted file would all be one class.
        sampled = self.tflm is not None or self.layers is not None
        size = options.tflm_samples or DEFAULT_TFLM_SAMPLES
        self.subset = set(select_indices(stream.count, size).tolist()) if sampled else set()
        self.cross = [[0, 0, 0] for _ in self.outputs]  # per output: differing values, compared values, max LSB
        self.seconds = {"float": 0.0, "litert": 0.0, "tflm": 0.0}
        self.float_single = False  # set when the reference refuses batches
        self.in_tensors = tflite.main.input_tensors()
        self.out_tensors = tflite.main.output_tensors()

    def dispatcher(self, jobs: int) -> Dispatcher:
        """Where the interpreters run: here, or on `jobs` workers when the run is long enough."""
        return Dispatcher(self.engines, jobs, self.stream.count if self.litert is not None else 0,
                          len(self.subset) if self.engines.config.tflm or self.engines.config.layer_litert else 0)

    def submit(self, start: int, arrays: list[np.ndarray], dispatcher: Dispatcher) -> Callable[[], int]:
        """Start one batch on the interpreters (TFLM on its share of the subset); the returned function waits
        for their outputs, updates the statistics and returns how many samples are done."""
        count = len(arrays[0])
        labels = self.stream.labels[start:start + count] if self.stream.labels is not None else None
        expected = self._float(arrays, labels)
        iomap = self.iomap
        feed = [arrays[iomap.inputs[i]] if iomap else arrays[i] for i in range(len(self.in_tensors))]
        rows = [p - start for p in range(start, start + count) if p in self.subset]
        layer_values = (self.layers.float_values([a[rows] for a in arrays])
                        if self.layers is not None and rows else None)
        wait = dispatcher.submit(feed, rows)

        def finish() -> int:
            self._finish(wait(), expected, labels, rows, layer_values)
            return start + count

        return finish

    def _finish(self, outputs: BatchOutputs, expected: list[np.ndarray] | None, labels: np.ndarray | None,
                rows: list[int], layer_values: list[np.ndarray] | None) -> None:
        litert_raw = outputs.litert
        if litert_raw is not None:
            self._update("litert", expected, litert_raw, labels)
        if self.layers is not None and layer_values is not None:
            for k, tensors in enumerate(outputs.tensors):
                self.layers.update(layer_values, k, _Held(tensors))
        if outputs.tflm is None or not rows:
            return
        self._update("tflm", [e[rows] for e in expected] if expected else None, outputs.tflm,
                     labels[rows] if labels is not None else None)
        if litert_raw is not None:
            for i, raw in enumerate(outputs.tflm):
                _compare_raw(self.cross[i], litert_raw[i][rows], raw)

    def _float(self, arrays: list[np.ndarray], labels: np.ndarray | None) -> list[np.ndarray] | None:
        if self.ref is None or self.iomap is None:
            return None
        began = time.perf_counter()
        predicted = self._predict(arrays)
        self.seconds["float"] += time.perf_counter() - began
        expected = [predicted[k] for k in self.iomap.outputs]
        if self.float_stats is not None:
            for stats, values in zip(self.float_stats, expected, strict=True):
                stats.update(None, values, labels)
        return expected

    def _predict(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The reference on a batch; one sample at a time for references exported with a fixed batch of 1."""
        assert self.ref is not None
        if not self.float_single:
            try:
                return self.ref.predict(arrays)
            except Exception:  # TF raises InvalidArgumentError/ValueError/TypeError for a batch it cannot take
                self.float_single = True
        try:
            results = [self.ref.predict([a[i:i + 1] for a in arrays]) for i in range(len(arrays[0]))]
        except Exception as exc:
            raise EdgeqError(f"the float reference {self.ref.path.name} failed on the validation data: "
                             f"{short_message(str(exc))}") from None
        return [np.concatenate([r[k] for r in results]) for k in range(len(results[0]))]

    def _update(self, name: str, expected: list[np.ndarray] | None, raw: list[np.ndarray],
                labels: np.ndarray | None) -> None:
        for i, (stats, values, tensor) in enumerate(zip(self.stats[name], raw, self.out_tensors, strict=True)):
            stats.update(expected[i] if expected else None, dequantize_output(values, tensor), labels)

    def report(self) -> ValidationReport:
        """The ValidationReport of everything seen so far, with its checks evaluated."""
        ref, options, count = self.ref, self.options, self.stream.count
        litert, tflm = self.litert, self.tflm
        kernels = LITERT_KERNELS if options.litert_reference_kernels else LITERT_DEFAULT_KERNELS
        interpreters = {
            "float": InterpreterInfo("float", ref is not None, "" if ref is not None else "no --reference model",
                                     count if ref is not None else 0,
                                     f"{ref.format} reference, float32, "
                                     f"{'one sample per call' if self.float_single else 'batched'}" if ref else "",
                                     self.seconds["float"]),
            "litert": InterpreterInfo("litert", litert is not None, self.litert_reason,
                                      count if litert is not None else 0,
                                      f"{kernels}; {self.litert_fallback or litert.batched_note}"
                                      if litert is not None else "", self.seconds["litert"]),
            "tflm": InterpreterInfo("tflm", tflm is not None, self.tflm_reason, len(self.subset) if tflm else 0,
                                    f"TFLM host interpreter (tflite-micro); {len(self.subset)} of {count} samples, "
                                    "seeded selection" if tflm is not None else "", self.seconds["tflm"]),
        }
        report = ValidationReport(
            model={"file": self.model_name, "sha256": self.tflite.sha256},
            reference={"file": ref.path.name, "format": ref.format, "sha256": ref.sha256} if ref else None,
            data=self.stream.to_dict(), thresholds=options.thresholds, interpreters=interpreters,
            outputs=self.outputs, stats=self.stats, float_stats=self.float_stats,
            litert_vs_tflm=_cross_summary(self.outputs, self.cross, litert is not None and tflm is not None, kernels),
            layers=_layer_summary(self.layers, self.layer_note, ref, options),
        )
        report.checks = evaluate_checks(report)
        return report


def _compare_raw(acc: list[int], a: np.ndarray, b: np.ndarray) -> None:
    if np.issubdtype(a.dtype, np.integer):
        differ, worst = lsb_difference(a, b)
    else:
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        differ, worst = int(np.count_nonzero(diff)), 0
    acc[0] += differ
    acc[1] += a.size
    acc[2] = max(acc[2], worst)


def _cross_summary(outputs: list[OutputInfo], cross: list[list[int]], both: bool, kernels: str) -> dict:
    if not both:
        return {"compared": False, "reason": "needs both LiteRT and TFLM to run"}
    return {"compared": True, "litert_kernels": kernels, "outputs": [
        {"output": o.name, "differing_values": c[0], "compared_values": c[1],
         "max_difference_lsb": c[2] if o.quantized else None} for o, c in zip(outputs, cross, strict=True)]}


def _layer_comparison(tflite: TFLiteModel, ref: LoadedModel | None, iomap: IOMap | None,
                      options: ValidationOptions) -> LayerComparison | None:
    if not options.per_layer or ref is None or ref.keras_model is None or iomap is None:
        return None
    from edgeq.load.loader import producer_layer
    from edgeq.validate.layers import LayerComparison

    output_tensors = tflite.main.outputs
    keras_outputs = ref.keras_model.outputs
    output_layers = {output_tensors[p]: producer_layer(keras_outputs[k]) for p, k in enumerate(iomap.outputs)}
    comparison = LayerComparison(tflite, ref.keras_model, output_layers)
    return comparison if comparison.matches else None


def _layer_summary(layers: LayerComparison | None, source: str, ref: LoadedModel | None,
                   options: ValidationOptions) -> dict:
    if layers is None:
        if not options.per_layer:
            reason = "disabled by the caller"
        elif ref is None:
            reason = "needs a float --reference model"
        elif ref.keras_model is None:
            reason = "needs a Keras reference (.keras/.h5); a SavedModel has no layer outputs to compare"
        else:
            reason = source if source.startswith("no ") else "no .tflite tensor matched a Keras layer output"
        return {"compared": False, "reason": reason}
    return {"compared": True, "interpreter": source, "samples": layers.samples, "rows": layers.rows(),
            "unmatched_layers": layers.unmatched}


class _Held:
    """The intermediate tensors a worker returned for one sample, read as a runner's tensors."""

    def __init__(self, tensors: dict[int, np.ndarray]) -> None:
        self.tensors = tensors

    def tensor(self, index: int) -> np.ndarray:
        return self.tensors[index]
