"""The `edgeq compress` driver: rewrite an int8 .tflite, prove it on host TFLM, measure what it costs.

Host proof: the tflite-micro package decodes TFLM_DECODE ops and runs kTfLiteInt4 filters, so the compressed
model runs on it and must equal (0 LSB) the uncompressed equivalent; agreement with the plain model on the
calibration inputs is what the compression cost.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.compress.options import Technique, parse_compress, refuse_unbuilt
from edgeq.compress.rewrite import Rewritten, TensorChange, rewrite
from edgeq.errors import CompressionError, EdgeqError, ModelFormatError, OutputError
from edgeq.samples import load_samples, synthetic_samples
from edgeq.staging import check_output_file
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.runners import LiteRTRunner, TFLMRunner, quantize_input
from edgeq.tflite.signature import tflite_input_specs
from edgeq.validate.metrics import lsb_difference, top1_agreement

MAX_SAMPLES = 100  # calibration samples compared (seeded choice, as calibration selects them)
SYNTHETIC_SAMPLES = 8  # without calibration data: seeded N(0, 1) inputs, enough to prove the decoding
LUT_FORMAT = "TFLM_DECODE ops (tflite-micro compression, LUT decode type 0)"
INT4_FORMAT = "packed kTfLiteInt4 filters"


@dataclass(frozen=True)
class Agreement:
    """Compressed model against the plain model (and against its uncompressed equivalent) on host TFLM."""

    samples: int
    top1_agreement: float | None  # over outputs with >= 2 classes; None without one
    outputs_equal: float          # share of samples whose every output value is the same
    max_lsb: int                  # largest output difference from the plain model, in LSB
    equivalent_max_lsb: int       # compressed vs uncompressed equivalent: 0 when TFLM decodes exactly
    litert_max_lsb: int | None = None  # LiteRT (reference kernels) on the equivalent vs TFLM on the compressed
    synthetic: bool = False       # random inputs (no --calib): the decoding is proven, the agreement means little

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"samples": self.samples, "outputs_equal": round(self.outputs_equal, 6),
                                "max_lsb": self.max_lsb, "equivalent_max_lsb": self.equivalent_max_lsb,
                                "litert_max_lsb": self.litert_max_lsb, "synthetic": self.synthetic}
        if self.top1_agreement is not None:
            data["top1_agreement"] = round(self.top1_agreement, 6)
        return data


@dataclass(frozen=True)
class TargetFit:
    """One model's costs on the target, from `edgeq check`'s rules (TFLM arena measured on the host, decode
    buffers included)."""

    flash_bytes: int   # model + runtime code (estimate) + reserved
    ram_bytes: int     # arena + reserved
    arena_bytes: int | None
    fits: bool
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes, "arena_bytes": self.arena_bytes,
                "fits": self.fits, "summary": self.summary}


def target_fit(data: bytes, profile: Any) -> TargetFit:
    """Check a model on a target profile, as `edgeq check` does."""
    from edgeq.check.rules import check_model

    result = check_model(data, profile)
    arena = result.arena.recommended_bytes if result.arena is not None else None
    return TargetFit(result.flash.used, result.ram.used, arena, result.ok, result.summary())


@dataclass(frozen=True)
class CompressResult:
    """What `compress` wrote and measured."""

    source: str
    output: str | None
    techniques: tuple[Technique, ...]
    runtime_format: str
    bytes_before: int
    bytes_after: int
    tensors: tuple[TensorChange, ...]
    skipped: tuple[tuple[str, str], ...]
    agreement: Agreement
    target: str
    fit_before: TargetFit | None = None
    fit_after: TargetFit | None = None
    model: bytes = field(default=b"", repr=False)
    equivalent: bytes = field(default=b"", repr=False)

    @property
    def ratio(self) -> float:
        return self.bytes_after / self.bytes_before

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source, "output": self.output, "techniques": [str(t) for t in self.techniques],
            "runtime_format": self.runtime_format, "target": self.target,
            "model_bytes": {"before": self.bytes_before, "after": self.bytes_after, "ratio": round(self.ratio, 6)},
            "tensors": [t.to_dict() for t in self.tensors],
            "skipped": [{"tensor": name, "reason": why} for name, why in self.skipped]}
        data["agreement"] = self.agreement.to_dict()
        if self.fit_before is not None and self.fit_after is not None:
            data["fit"] = {"before": self.fit_before.to_dict(), "after": self.fit_after.to_dict()}
        return data


def _host_tflm(model: TFLiteModel) -> TFLMRunner:
    return TFLMRunner(model)


def measure(plain: bytes, rewritten: Rewritten, arrays: list[np.ndarray], synthetic: bool = False) -> Agreement:
    """Run plain, compressed and equivalent on host TFLM over the samples ([N, ...] float, per input)."""
    models = [read_model(data) for data in (plain, rewritten.model, rewritten.equivalent)]
    runners: list[Any] = [_host_tflm(m) for m in models]
    # LiteRT cannot run TFLM_DECODE or int4 filters: it runs the equivalent int8 model (where it loads it at all:
    # TFLM runs some models LiteRT refuses, and then there is no LiteRT figure)
    with contextlib.suppress(EdgeqError):
        runners.append(LiteRTRunner(models[2]))
    inputs = models[0].main.input_tensors()
    count = int(arrays[0].shape[0])
    outputs: list[list[list[np.ndarray]]] = [[] for _ in runners]
    for i in range(count):
        sample = [quantize_input(a[i:i + 1], tensor) for a, tensor in zip(arrays, inputs, strict=True)]
        for runner, found in zip(runners, outputs, strict=True):
            found.append(runner.run(sample))
    max_lsb = equivalent_lsb = equal = 0
    litert_lsb = None
    if len(outputs) > 3:
        litert_lsb = max(lsb_difference(c, e)[1] for sample_c, sample_e in zip(outputs[1], outputs[3], strict=True)
                         for c, e in zip(sample_c, sample_e, strict=True))
    agreements = []
    for plain_out, compressed_out, equivalent_out in zip(*outputs[:3], strict=True):
        same = True
        for p, c, e in zip(plain_out, compressed_out, equivalent_out, strict=True):
            differ, largest = lsb_difference(p, c)
            same = same and differ == 0
            max_lsb = max(max_lsb, largest)
            equivalent_lsb = max(equivalent_lsb, lsb_difference(c, e)[1])
        equal += int(same)
    for k in range(len(outputs[0][0])):
        if outputs[0][0][k].size >= 2:
            reference = np.concatenate([o[k].reshape(1, -1) for o in outputs[0]])
            test = np.concatenate([o[k].reshape(1, -1) for o in outputs[1]])
            agreements.append(top1_agreement(reference.astype(np.float64), test.astype(np.float64)))
    return Agreement(count, float(np.mean(agreements)) if agreements else None, equal / max(count, 1),
                     max_lsb, equivalent_lsb, litert_lsb, synthetic)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.edgeq-tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _full_int8(model: TFLiteModel, source: str) -> None:
    main = model.main
    io = (*main.input_tensors(), *main.output_tensors())
    floats = [t.name for t in io if t.dtype not in ("int8", "uint8", "int16")]
    weights = [main.tensors[i] for op in main.operators for i in op.inputs if i >= 0 and main.tensors[i].is_constant]
    if floats or not any(t.dtype == "int8" for t in weights):
        raise CompressionError(f"{source} is not a full-int8 model (float inputs/outputs or no int8 weights); "
                               "convert it with `edgeq convert` first")


def compress_model(model: str | Path, output: str | Path | None = None, *, target: str = "cortex-m4",
                   calib: str | Path | None = None, techniques: str | tuple[Technique, ...] = "cluster=4",
                   force: bool = False, max_samples: int = MAX_SAMPLES) -> CompressResult:
    """Compress a full-int8 .tflite with weight sharing (cluster=BITS) or int4 weights and write it to `output`.

    The compressed model is compared on host TFLM with the plain one and with its uncompressed equivalent on the
    `calib` inputs (.npy/.npz/image folder, as the float model takes them) or, without them, on a few seeded
    random inputs (`Agreement.synthetic`). Nothing is written when anything fails (a compressed model TFLM
    decodes differently from its equivalent included); an existing `output` needs `force`."""
    from edgeq.check.targets import get_target

    chosen = parse_compress(techniques) if isinstance(techniques, str) else tuple(techniques)
    refuse_unbuilt(chosen)
    profile = get_target(target)
    path = Path(model)
    if output is not None:
        check_output_file(output, force, [path, calib], option="-o/--output")
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such .tflite file")
    data = path.read_bytes()
    parsed = read_model(data)
    _full_int8(parsed, path.name)
    rewritten = rewrite(data, chosen)
    specs = tflite_input_specs(parsed)
    samples = (load_samples(calib, specs, limit=max_samples) if calib is not None
               else synthetic_samples(specs, SYNTHETIC_SAMPLES))
    agreement = measure(data, rewritten, samples.arrays, synthetic=samples.synthetic)
    if agreement.equivalent_max_lsb:
        raise CompressionError(f"host TFLM's outputs on the compressed model differ from the same weights stored as "
                               f"int8 by up to {agreement.equivalent_max_lsb} LSB; nothing written (an edgeq or "
                               "tflite-micro bug: please report it)")
    fit_before, fit_after = target_fit(data, profile), target_fit(rewritten.model, profile)
    if output is not None:
        _write_atomic(Path(output), rewritten.model)
    return CompressResult(
        source=str(path), output=None if output is None else str(output), techniques=chosen,
        runtime_format=INT4_FORMAT if chosen[0].name == "int4" else LUT_FORMAT, bytes_before=len(data),
        bytes_after=len(rewritten.model), tensors=rewritten.tensors, skipped=rewritten.skipped,
        agreement=agreement, target=profile.name, fit_before=fit_before, fit_after=fit_after, model=rewritten.model,
        equivalent=rewritten.equivalent)
