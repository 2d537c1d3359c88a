"""The interpreters of a validation run, in this process or split across worker processes (`--jobs`).

    one batch of float samples -> split by rows into parts -> each part: quantize, LiteRT, TFLM (+ tensors)
                               -> raw outputs merged back in sample order -> the session's statistics

A part is a pure function from samples to raw outputs: workers keep no statistics. The session updates
every streaming sum itself, batch by batch in sample order, so N jobs add the same numbers in the same
order as one job and the reports are byte for byte the same. Workers are child processes of
edgeq.validate.pool, started only when the run is long enough to repay starting them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.runners import LiteRTRunner, TFLMRunner, quantize_input

if TYPE_CHECKING:
    from edgeq.validate.pool import WorkerPool

# Starting a worker (a fresh interpreter importing numpy, LiteRT and TFLM) costs ~0.25 s of a core: only a run
# whose remaining invokes are estimated to take longer than this is split.
PARALLEL_MIN_SECONDS = 1.0
# This process' share of each batch against a worker's: it also reads the samples and updates the statistics
# (on the VWW model with --jobs 2, shares of 1.0 and 0.94 left it 0.24 s busier and 0.15 s less busy than the
# worker, over 2.6 s each).
PARENT_SHARE = 0.96
# Ops whose state carries from one invoke to the next: such a model must see its samples in order, in one process.
STATEFUL_OPS = frozenset({"VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE", "CALL_ONCE"})


def default_jobs() -> int:
    """The number of cores this process may run on (the --jobs default)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class EngineConfig:
    """What a worker needs to open the same interpreters as the parent (picklable)."""

    model: bytes
    litert: bool
    reference_kernels: bool
    batch: int
    tflm: bool
    preserve: bool  # TFLM keeps every tensor (the per-layer comparison reads them)
    layer_litert: bool  # without TFLM, a tensor-preserving LiteRT feeds the per-layer comparison
    layer_tensors: tuple[int, ...]


@dataclass
class Part:
    """Rows of one batch for one process: LiteRT runs `litert_rows`, TFLM (or the layer runner) `subset_rows`
    (positions in `inputs`, increasing)."""

    inputs: list[np.ndarray]  # float32, in the .tflite input order
    litert_rows: list[int]
    subset_rows: list[int]


@dataclass
class PartResult:
    """Raw outputs of one part, the intermediate tensors of its subset rows and the time each interpreter took."""

    litert: list[np.ndarray] | None
    tflm: list[np.ndarray] | None
    tensors: list[dict[int, np.ndarray]]
    litert_seconds: float = 0.0
    tflm_seconds: float = 0.0
    litert_fallback: str = ""


class BatchedLiteRT:
    """LiteRT over several rows: with the default kernels one invoke per part, the interpreter resized to the
    part's exact row count (never padded); with the reference kernels, which gain nothing from a batch, or when
    the model refuses a batch, one invoke per row."""

    def __init__(self, tflite: TFLiteModel, batch: int, reference_kernels: bool) -> None:
        self.single = LiteRTRunner(tflite, reference=reference_kernels)
        self.batch = batch
        self.batched: LiteRTRunner | None = None
        self.rows_batched = 0
        self.note = "one sample per invoke"
        if batch > 1 and not reference_kernels:
            self.batched = LiteRTRunner(tflite, reference=False)
            if not self._resize(min(batch, 2)):
                self.batched = None
        self._checked = False
        self.fallback = ""

    def _resize(self, rows: int) -> bool:
        runner = self.batched
        assert runner is not None
        try:
            for detail in runner._inputs:
                runner._interpreter.resize_tensor_input(detail["index"], [rows, *detail["shape"][1:]])
            runner._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            # Typical: a RESHAPE with a constant [1, N] shape, as a batch-1 conversion emits.
            node = re.search(r"Node number \d+ \((\w+)\)", str(exc))
            refused = f"op {node.group(1)}" if node else "the model"
            self.note = f"one sample per invoke ({refused} cannot take a batch)"
            return False
        runner._inputs = runner._interpreter.get_input_details()
        runner._outputs = runner._interpreter.get_output_details()
        self.rows_batched = rows
        return True

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Raw outputs of every row of `inputs` (quantized)."""
        count = len(inputs[0])
        if self.batched is None or count == 1:
            return self._single(inputs, count)
        outputs: list[np.ndarray] = []
        for start in range(0, count, self.batch):
            chunk = [x[start:start + self.batch] for x in inputs]
            rows = len(chunk[0])
            if rows != self.rows_batched and not self._resize(rows):
                self.batched = None
                return self._single(inputs, count)
            result = [np.array(o) for o in self.batched.run(chunk)]
            if not self._checked:
                self._checked = True
                single = self._single(chunk, min(rows, 2))
                if not all(np.array_equal(o[:len(s)], s) for o, s in zip(result, single, strict=True)):
                    self.batched = None
                    self.fallback = "one sample per invoke (batched results differed from batch-1 results)"
                    return self._single(inputs, count)
            outputs = result if not outputs else [np.concatenate([a, b]) for a, b in zip(outputs, result, strict=True)]
        return outputs

    def _single(self, inputs: list[np.ndarray], count: int) -> list[np.ndarray]:
        results = [self.single.run([x[i:i + 1] for x in inputs]) for i in range(count)]
        return [np.concatenate([r[k] for r in results]) for k in range(len(results[0]))]

    @property
    def batched_note(self) -> str:
        if self.fallback:
            return self.fallback
        return f"batched, up to {self.batch} samples per invoke" if self.batched is not None else self.note


@dataclass
class Engines:
    """The interpreters of one process and how to run a Part on them."""

    tflite: TFLiteModel
    config: EngineConfig
    litert: BatchedLiteRT | None = None
    tflm: TFLMRunner | None = None
    layer_runner: TFLMRunner | LiteRTRunner | None = None
    litert_reason: str = ""
    tflm_reason: str = ""
    layer_reason: str = ""
    _in_tensors: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._in_tensors = self.tflite.main.input_tensors()

    def run(self, part: Part) -> PartResult:
        """Quantize the part's rows and run each interpreter on its rows."""
        quantized = [quantize_input(x, t) for x, t in zip(part.inputs, self._in_tensors, strict=True)]
        result = PartResult(None, None, [])
        if self.litert is not None and part.litert_rows:
            began = time.perf_counter()
            everything = len(part.litert_rows) == len(quantized[0])
            result.litert = self.litert.run(quantized if everything else [q[part.litert_rows] for q in quantized])
            result.litert_seconds = time.perf_counter() - began
            result.litert_fallback = self.litert.fallback
        runner = self.layer_runner if self.layer_runner is not None else self.tflm
        if runner is None or not part.subset_rows:
            return result
        began = time.perf_counter()
        raw = []
        for row in part.subset_rows:
            outputs = runner.run([q[row:row + 1] for q in quantized])
            raw.append(outputs)
            result.tensors.append({i: runner.tensor(i) for i in self.config.layer_tensors})
        if self.tflm is not None:
            result.tflm = [np.concatenate([r[k] for r in raw]) for k in range(len(raw[0]))]
            result.tflm_seconds = time.perf_counter() - began
        return result


def short_message(message: str, limit: int = 160) -> str:
    """LiteRT repeats its complaint once per tensor ('...Was 3.Tensor 33 has...Tensor 36...'): keep the first."""
    first = re.split(r"(?<=\.)(?=[A-Z])", " ".join(message.split()))[0]
    return first if len(first) <= limit else first[:limit - 1] + "…"


def open_engines(tflite: TFLiteModel, litert: bool, reference_kernels: bool, batch: int, tflm: bool,
                 layer_tensors: tuple[int, ...] | None, litert_disabled: str = "disabled by the caller",
                 tflm_disabled: str = "disabled (--tflm-samples 0)") -> Engines:
    """The parent's interpreters, with the reason each one cannot run. `layer_tensors`: the tensors the
    per-layer comparison reads (None: no comparison)."""
    engines = Engines(tflite, EngineConfig(tflite.data, False, reference_kernels, batch, False, False, False, ()))
    if not litert:
        engines.litert_reason = litert_disabled
    else:
        try:
            engines.litert = BatchedLiteRT(tflite, batch, reference_kernels)
        except EdgeqError as exc:
            engines.litert_reason = short_message(str(exc))
    preserve = layer_tensors is not None
    if not tflm:
        engines.tflm_reason = tflm_disabled
    else:
        try:
            engines.tflm = TFLMRunner(tflite, preserve_all_tensors=preserve)
        except EdgeqError as exc:
            engines.tflm_reason = short_message(str(exc))
    layer_litert = False
    if preserve and engines.tflm is None:
        try:  # intermediate tensors come from TFLM (the MCU's truth); LiteRT stands in only when TFLM cannot run
            engines.layer_runner = LiteRTRunner(tflite, reference=reference_kernels, preserve_all_tensors=True)
            layer_litert = True
        except EdgeqError:
            engines.layer_reason = "no interpreter that preserves intermediate tensors could run the model"
    tensors = layer_tensors if preserve and (engines.tflm is not None or layer_litert) else ()
    engines.config = EngineConfig(tflite.data, engines.litert is not None, reference_kernels, batch,
                                  engines.tflm is not None, preserve and engines.tflm is not None, layer_litert,
                                  tuple(tensors or ()))
    return engines


def start_engines(config: EngineConfig) -> Engines:
    """A worker's interpreters: the same as the parent's (which already proved that they open)."""
    tflite = read_model(config.model)
    engines = Engines(tflite, config)
    if config.litert:
        engines.litert = BatchedLiteRT(tflite, config.batch, config.reference_kernels)
    if config.tflm:
        engines.tflm = TFLMRunner(tflite, preserve_all_tensors=config.preserve)
    if config.layer_litert:
        engines.layer_runner = LiteRTRunner(tflite, reference=config.reference_kernels, preserve_all_tensors=True)
    return engines


def _deal(rows: list[int], jobs: int) -> list[list[int]]:
    """`rows` in `jobs` contiguous shares, this process' (the first) PARENT_SHARE of an even one: it also reads
    the samples and updates the statistics."""
    own = int(len(rows) * PARENT_SHARE / jobs)
    rest = rows[own:]
    size, extra = divmod(len(rest), jobs - 1)
    shares, start = [rows[:own]], 0
    for w in range(jobs - 1):
        end = start + size + (1 if w < extra else 0)
        shares.append(rest[start:end])
        start = end
    return shares


def _start_pool(jobs: int, config: EngineConfig) -> WorkerPool:
    from edgeq.validate.pool import WorkerPool  # only a run that uses workers loads the pool's modules

    return WorkerPool(jobs, config)


@dataclass
class BatchOutputs:
    """One batch's raw outputs in sample order: LiteRT on every row, TFLM on the subset rows (and their tensors)."""

    litert: list[np.ndarray] | None
    tflm: list[np.ndarray] | None
    tensors: list[dict[int, np.ndarray]]


class Dispatcher:
    """Runs batches on this process' engines or on `jobs` workers; the first batch's first rows are timed in
    this process to decide whether workers repay their start (`remaining(rows)` estimates what is left)."""

    def __init__(self, engines: Engines, jobs: int, total_litert: int, total_subset: int) -> None:
        self.engines = engines
        self.jobs = 1 if engines.tflite.op_counts().keys() & STATEFUL_OPS else max(1, jobs)
        self.left = [total_litert, total_subset]  # invokes not run yet, per interpreter
        self.pool: WorkerPool | None = None
        self.decided = self.jobs == 1
        self.seconds = {"litert": 0.0, "tflm": 0.0}
        self.fallback = ""

    def submit(self, inputs: list[np.ndarray], subset_rows: list[int]) -> Callable[[], BatchOutputs]:
        """Start one batch; the returned function waits for its outputs."""
        count = len(inputs[0])
        litert_rows = list(range(count)) if self.engines.litert is not None else []
        done: list[tuple[list[int], list[int], PartResult]] = []
        if not self.decided:
            probe = (litert_rows[:2], subset_rows[:1])
            done.append((*probe, self._timed_probe(inputs, *probe)))
            litert_rows, subset_rows = litert_rows[len(probe[0]):], subset_rows[len(probe[1]):]
        self.left[0] -= len(litert_rows)
        self.left[1] -= len(subset_rows)
        pending: list[tuple[list[int], list[int], int | PartResult]] = []  # a result, or the worker computing it
        if self.pool is None:
            if litert_rows or subset_rows:
                pending.append((litert_rows, subset_rows, self.engines.run(self._part(inputs, litert_rows,
                                                                                      subset_rows))))
        else:  # LiteRT rows and TFLM rows each dealt out between this process and the workers
            shares = list(zip(_deal(litert_rows, self.jobs), _deal(subset_rows, self.jobs), strict=True))
            for w, (lit, sub) in enumerate(shares[1:]):
                if lit or sub:
                    self.pool.submit(w, self._part(inputs, lit, sub))
                    pending.append((lit, sub, w))
            lit, sub = shares[0]
            if lit or sub:  # this process' share, computed while the workers compute theirs
                done.append((lit, sub, self.engines.run(self._part(inputs, lit, sub))))

        def wait() -> BatchOutputs:
            parts = done + [(lit, sub, r if isinstance(r, PartResult) else self._reply(r)) for lit, sub, r in pending]
            return self._merge(count, parts)

        return wait

    def _timed_probe(self, inputs: list[np.ndarray], litert_rows: list[int], subset_rows: list[int]) -> PartResult:
        self.left[0] -= len(litert_rows)
        self.left[1] -= len(subset_rows)
        result = self.engines.run(self._part(inputs, litert_rows, subset_rows))
        per_litert = result.litert_seconds / max(len(litert_rows), 1)
        # no subset row in the probe: TFLM's reference kernels take about twice LiteRT's time per sample
        per_subset = result.tflm_seconds / len(subset_rows) if subset_rows else 2 * per_litert
        estimate = per_litert * self.left[0] + per_subset * self.left[1]
        self.decided = True
        if estimate > PARALLEL_MIN_SECONDS:
            self.pool = _start_pool(self.jobs - 1, self.engines.config)  # this process is the jobs-th
        return result

    @staticmethod
    def _part(inputs: list[np.ndarray], litert_rows: list[int], subset_rows: list[int]) -> Part:
        rows = sorted(set(litert_rows) | set(subset_rows))
        if len(rows) == len(inputs[0]):
            return Part(inputs, litert_rows, subset_rows)
        where = {row: k for k, row in enumerate(rows)}
        return Part([x[rows] for x in inputs], [where[r] for r in litert_rows], [where[r] for r in subset_rows])

    def _reply(self, worker: int) -> PartResult:
        assert self.pool is not None
        return self.pool.reply(worker)

    def _merge(self, count: int, parts: list[tuple[list[int], list[int], PartResult]]) -> BatchOutputs:
        litert: list[np.ndarray] | None = None
        by_row: dict[int, tuple[list[np.ndarray] | None, dict[int, np.ndarray]]] = {}
        for lit, sub, result in parts:
            self.seconds["litert"] += result.litert_seconds
            self.seconds["tflm"] += result.tflm_seconds
            self.fallback = self.fallback or result.litert_fallback
            if result.litert is not None:
                if litert is None:
                    litert = [np.empty((count, *o.shape[1:]), o.dtype) for o in result.litert]
                for whole, rows in zip(litert, result.litert, strict=True):
                    whole[lit] = rows
            for k, row in enumerate(sub):
                by_row[row] = ([o[k:k + 1] for o in result.tflm] if result.tflm is not None else None,
                               result.tensors[k])
        order = sorted(by_row)
        tensors = [by_row[row][1] for row in order]
        firsts = [by_row[row][0] for row in order]
        tflm = None
        if order and firsts[0] is not None:
            tflm = [np.concatenate([f[k] for f in firsts if f is not None]) for k in range(len(firsts[0]))]
        return BatchOutputs(litert, tflm, tensors)

    def close(self) -> None:
        """Stop the workers (they hold nothing worth waiting for)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
