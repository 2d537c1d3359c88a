"""The ValidationReport: metrics per interpreter and output, the checks against thresholds, and its JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.tflite import Tensor, TFLiteModel
from edgeq.tflite.reader import INTEGER_DTYPES
from edgeq.validate.gates import GATES, METRIC_BY_KEY, Thresholds
from edgeq.validate.metrics import (
    HISTOGRAM_LABELS,
    AccuracyStats,
    ConfusionMatrix,
    ErrorHistogram,
    ErrorStats,
    Top1Stats,
)

MAX_CONFUSION_CLASSES = 64  # beyond this a confusion matrix is neither readable nor small
FLOAT_UNIT = 1.0 / 256  # error histogram unit for outputs without a quantization step
INTERPRETERS = ("litert", "tflm")


@dataclass
class OutputInfo:
    """One model output as validation sees it."""

    position: int  # in the .tflite
    name: str
    reference: int | None  # index in the reference model's outputs
    shape: tuple[int, ...]
    dtype: str
    quantized: bool
    scale: float | None
    zero_point: int | None
    classes: int
    unit: float  # the error histogram's unit: the output's quantization step
    unit_name: str
    labelled: bool = False

    @property
    def kind(self) -> str:
        return "classification" if self.classes >= 2 else "regression"

    @classmethod
    def describe(cls, position: int, name: str, reference: int | None, tensor: Tensor,
                 tflite: TFLiteModel) -> OutputInfo:
        shape = tuple(tensor.shape[1:])
        quant = tensor.quantization
        quantized = quant is not None and tensor.dtype in INTEGER_DTYPES
        if quantized and quant is not None:
            unit, unit_name = float(quant.scale[0]), "LSB"
        else:
            unit, unit_name = _float_unit(tensor, tflite)
        return cls(position=position, name=name, reference=reference, shape=shape, dtype=tensor.dtype,
                   quantized=quantized, scale=float(quant.scale[0]) if quantized and quant is not None else None,
                   zero_point=int(quant.zero_point[0]) if quantized and quant is not None else None,
                   classes=shape[-1] if shape else 1, unit=unit, unit_name=unit_name)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.position, "name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point, "kind": self.kind, "classes": self.classes,
                "labelled": self.labelled}


def _float_unit(tensor: Tensor, tflite: TFLiteModel) -> tuple[float, str]:
    """A float output of an integer model comes out of a DEQUANTIZE: its input's step is the output's LSB."""
    for op in tflite.main.operators:
        if tensor.index in op.outputs and op.opcode == "DEQUANTIZE":
            source = tflite.main.tensors[op.inputs[0]]
            if source.quantization is not None:
                return float(source.quantization.scale[0]), "LSB"
    return FLOAT_UNIT, "1/256"


@dataclass
class OutputStats:
    """Streaming metrics of one interpreter on one output."""

    samples: int = 0
    error: ErrorStats | None = None
    agreement: Top1Stats | None = None
    histogram: ErrorHistogram | None = None
    accuracy: AccuracyStats | None = None
    float_accuracy: AccuracyStats | None = None
    confusion: ConfusionMatrix | None = None

    @classmethod
    def create(cls, output: OutputInfo, against_float: bool) -> OutputStats:
        confusion = output.labelled and output.classes <= MAX_CONFUSION_CLASSES
        return cls(error=ErrorStats() if against_float else None,
                   agreement=Top1Stats(unit=output.unit) if against_float and output.kind == "classification"
                   else None,
                   histogram=ErrorHistogram(output.unit) if against_float else None,
                   accuracy=AccuracyStats() if output.labelled else None,
                   float_accuracy=AccuracyStats() if output.labelled and against_float else None,
                   confusion=ConfusionMatrix(output.classes) if confusion else None)

    def update(self, expected: np.ndarray | None, actual: np.ndarray, labels: np.ndarray | None) -> None:
        """`expected`: the float reference's values for the same samples (None without a reference)."""
        self.samples += len(actual)
        if expected is not None:
            for stats in (self.error, self.agreement, self.histogram):
                if stats is not None:
                    stats.update(expected, actual)
        if labels is not None:
            if self.accuracy is not None:
                self.accuracy.update(actual, labels)
            if self.confusion is not None:
                self.confusion.update(actual, labels)
            if self.float_accuracy is not None and expected is not None:
                self.float_accuracy.update(expected, labels)

    def metrics(self) -> dict[str, float]:
        """The metrics this output has (which depends on labels and a reference), by report key."""
        values: dict[str, float] = {"samples": self.samples}
        if self.accuracy is not None:
            values["top1_accuracy"] = self.accuracy.accuracy
        if self.float_accuracy is not None and self.accuracy is not None:
            values["float_top1_accuracy"] = self.float_accuracy.accuracy
            values["accuracy_drop_pp"] = 100.0 * (self.float_accuracy.correct - self.accuracy.correct) / max(
                self.accuracy.samples, 1)
        if self.agreement is not None:
            values["top1_agreement"] = self.agreement.agreement
        if self.error is not None:
            values.update(max_abs_error=self.error.max_abs_error, mean_abs_error=self.error.mean_abs_error,
                          sqnr_db=self.error.sqnr_db)
        return values


@dataclass(frozen=True)
class InterpreterInfo:
    """Whether an interpreter ran, why not, on how many samples, with which kernels."""

    name: str
    ran: bool
    reason: str
    samples: int
    detail: str
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"ran": self.ran, "samples": self.samples}
        info.update({"detail": self.detail} if self.ran else {"skipped": self.reason})
        return info


@dataclass(frozen=True)
class Check:
    """One metric against one threshold for one interpreter and output: passed, failed or skipped."""

    interpreter: str
    output: str
    metric: str
    option: str
    operator: str
    threshold: float
    value: float | None
    status: str
    reason: str = ""

    @property
    def name(self) -> str:
        return f"{self.interpreter}.{self.output}.{self.metric}"

    def describe(self) -> str:
        title = METRIC_BY_KEY[self.metric].title
        where = f"{self.interpreter} output {self.output!r}"
        if self.status == "skipped":
            return f"{where}: {title}: skipped ({self.reason})"
        relation = {"passed": self.operator, "failed": {"<=": ">", ">=": "<"}[self.operator]}[self.status]
        because = f" — {self.reason}" if self.reason else ""
        return f"{where}: {title} {fmt(self.value)} {relation} {fmt(self.threshold)} ({self.option}){because}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["name"] = self.name
        data["value"] = json_number(self.value)
        return data


def evaluate_checks(report: ValidationReport) -> list[Check]:
    """Every applicable threshold, for every interpreter and output."""
    t = report.thresholds
    has_reference = report.reference is not None
    checks = []
    for interpreter in INTERPRETERS:
        info = report.interpreters[interpreter]
        for index, output in enumerate(report.outputs):
            for gate in GATES:
                threshold = getattr(t, gate.option)
                if threshold is None or not gate.applies_to(output):
                    continue
                reason, value = "", None
                if not info.ran:
                    reason = f"{interpreter} did not run"
                elif gate.needs_reference and not has_reference:
                    reason = "no float reference model (--reference)"
                else:
                    value = report.stats[interpreter][index].metrics().get(gate.metric)
                    if value is None or math.isnan(value):
                        reason, value = "no samples", None
                if value is None:
                    checks.append(Check(interpreter, output.name, gate.metric, gate.flag, gate.operator, threshold,
                                        None, "skipped", reason))
                    continue
                status = "passed" if gate.holds(value, threshold) else "failed"
                why = explain_agreement(report.stats[interpreter][index], output) \
                    if status == "failed" and gate.metric == "top1_agreement" else ""
                checks.append(Check(interpreter, output.name, gate.metric, gate.flag, gate.operator, threshold,
                                    value, status, why))
    return checks


def explain_agreement(stats: OutputStats, output: OutputInfo) -> str:
    """Why top-1 agreement is low when most disagreements are ties no integer output can resolve ('' otherwise):
    a float model whose scores barely differ (often: data not preprocessed like the training data) makes arg-max
    of the quantized scores pick by class order, while the values themselves are close (see the SQNR)."""
    top = stats.agreement
    if top is None or top.disagreements == 0 or top.unresolvable * 2 < top.disagreements:
        return ""
    sqnr = stats.error.sqnr_db if stats.error is not None else math.nan
    spread = top.reference_spread
    cause = (f"the float scores barely vary across samples (at most {fmt(spread, 3)}): check that the data is "
             "preprocessed like the training data" if spread < 2 * output.unit
             else "the float top-2 scores are that close on those samples")
    return (f"not an accuracy loss: {top.unresolvable} of {top.disagreements} disagreements are arg-max ties "
            f"({top.tied} tied integer top values; float top-2 margins below one output step, {fmt(output.unit, 3)}) "
            f"broken by class order, while the values agree (SQNR {fmt(sqnr, 3)} dB); {cause}")


class MetricError(EdgeqError, KeyError):
    """A metric, output or interpreter the report does not have (a KeyError too, for callers that catch one)."""

    def __str__(self) -> str:  # KeyError's own str() would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass
class ValidationReport:
    """What `edgeq validate` found. `passed` is True when no check failed; `to_dict()` is report.json's form."""

    model: dict[str, Any]
    reference: dict[str, Any] | None
    data: dict[str, Any]
    thresholds: Thresholds
    interpreters: dict[str, InterpreterInfo]
    outputs: list[OutputInfo]
    stats: dict[str, list[OutputStats]]
    float_stats: list[OutputStats] | None
    litert_vs_tflm: dict[str, Any]
    layers: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the data (too few samples, keys, batch axis)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def evaluated(self) -> list[Check]:
        """Checks that compared a number with a threshold (not skipped)."""
        return [c for c in self.checks if c.status != "skipped"]

    def verdict(self) -> str:
        """PASSED / FAILED, saying so when nothing could be checked."""
        if not self.passed:
            return f"FAILED ({len(self.failures)} of {len(self.evaluated)} checks failed)"
        if not self.evaluated:
            missing = [what for what, have in (("--reference", self.reference is not None),
                                               ("labels y", any(o.labelled for o in self.outputs))) if not have]
            give = f" (give {' and/or '.join(missing)})" if missing else ""
            return f"PASSED, but no threshold could be evaluated{give}"
        return f"PASSED ({len(self.evaluated)} checks)"

    def output_index(self, output: int | str) -> int:
        """An output's position in the .tflite, given the position or the output's name."""
        if isinstance(output, int):
            if not -len(self.outputs) <= output < len(self.outputs):
                raise MetricError(f"no output {output}; the model has {len(self.outputs)} output(s)")
            return output % len(self.outputs)
        for o in self.outputs:
            if o.name == output:
                return o.position
        raise MetricError(f"no output named {output!r}; outputs: {', '.join(o.name for o in self.outputs)}")

    def metric(self, interpreter: str, name: str, output: int | str = 0) -> float:
        """One metric, e.g. report.metric("tflm", "top1_agreement"); interpreter "float" for the reference."""
        index = self.output_index(output)
        if interpreter not in self.interpreters:
            raise MetricError(f"no interpreter {interpreter!r}; interpreters: {', '.join(self.interpreters)}")
        stats = self.float_stats if interpreter == "float" else self.stats.get(interpreter)
        if stats is None:
            raise MetricError(f"{interpreter} did not run: {self.interpreters[interpreter].reason}")
        values = stats[index].metrics()
        if interpreter == "float":
            values = {"top1_accuracy": values["top1_accuracy"]} if "top1_accuracy" in values else {}
        if name not in values:
            raise MetricError(f"no metric {name!r} for {interpreter} output {self.outputs[index].name!r}; "
                           f"available: {', '.join(sorted(values))}")
        return float(values[name])

    def metric_rows(self) -> list[tuple[str, OutputInfo, dict[str, float]]]:
        """(interpreter, output, metrics) per output: the float model's accuracy (with labels), then each
        interpreter that ran; what the terminal and HTML tables show."""
        rows = []
        for output in self.outputs:
            if self.float_stats is not None and self.float_stats[output.position].accuracy is not None:
                rows.append(("float", output, self.float_stats[output.position].metrics()))
            rows.extend((name, output, stats[output.position].metrics()) for name, stats in self.stats.items())
        return rows

    def failure_message(self) -> str:
        """One line naming the failing metrics ('' for a report that passed)."""
        failed = self.failures
        if not failed:
            return ""
        listed = "; ".join(c.describe() for c in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"validation failed: {listed}{more}"

    def throughput(self) -> dict[str, float]:
        """Samples per second of each interpreter that ran (wall time of its own calls)."""
        return {name: info.samples / info.seconds for name, info in self.interpreters.items()
                if info.ran and info.seconds > 0}

    def worst_layers(self, count: int = 5) -> list[dict[str, Any]]:
        """The `count` layers with the lowest SQNR vs float (empty without a per-layer comparison)."""
        return list(self.layers.get("rows", []))[:count]

    def to_dict(self) -> dict[str, Any]:
        """Deterministic, JSON-ready (no timings: they differ between runs). inf/-inf become strings."""
        outputs = []
        for o in self.outputs:
            entry = o.to_dict()
            entry["metrics"] = {}
            if self.float_stats is not None and self.float_stats[o.position].accuracy is not None:
                entry["metrics"]["float"] = {"samples": self.float_stats[o.position].samples,
                                             "top1_accuracy": self.float_stats[o.position].accuracy.accuracy}
            for name, per_output in self.stats.items():
                s = per_output[o.position]
                entry["metrics"][name] = s.metrics()
                if s.histogram is not None:
                    entry["metrics"][name]["error_histogram"] = {
                        "unit": o.unit, "unit_name": o.unit_name, "buckets": list(HISTOGRAM_LABELS),
                        "counts": [int(c) for c in s.histogram.counts]}
                if s.confusion is not None:
                    entry["metrics"][name]["confusion"] = s.confusion.counts.tolist()
            if self.float_stats is not None and self.float_stats[o.position].confusion is not None:
                entry["metrics"]["float"]["confusion"] = self.float_stats[o.position].confusion.counts.tolist()
            outputs.append(entry)
        warnings = {"warnings": list(self.warnings)} if self.warnings else {}
        return json_ready({
            "passed": self.passed,
            **warnings,
            "model": self.model,
            "reference": self.reference,
            "data": self.data,
            "thresholds": asdict(self.thresholds),
            "interpreters": {name: info.to_dict() for name, info in self.interpreters.items()},
            "outputs": outputs,
            "litert_vs_tflm": self.litert_vs_tflm,
            "layers": self.layers,
            "checks": [c.to_dict() for c in self.checks],
            "failures": [c.describe() for c in self.failures],
            "explanations": [f"{c.interpreter} output {c.output!r}: {c.reason}" for c in self.checks
                             if c.status == "failed" and c.reason],
            "verdict": self.verdict(),
        })


def json_number(value: float | None) -> float | str | None:
    """A metric for JSON: 6 significant digits, +/-inf as "inf"/"-inf", NaN as null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | np.integer):
        return int(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(f"{value:.6g}")


def json_ready(data: Any) -> Any:
    """Recursively make floats JSON-safe (see json_number)."""
    if isinstance(data, dict):
        return {k: json_ready(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_ready(v) for v in data]
    if isinstance(data, float | np.floating):
        return json_number(float(data))
    if isinstance(data, np.integer):
        return int(data)
    return data


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric for people: `digits` significant digits, ∞ for infinite SQNR."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"
