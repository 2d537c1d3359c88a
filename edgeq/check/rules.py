"""Does a model fit and run on a target? Each rule is a small function whose docstring is its message.

A rule takes the CheckContext and returns (ok, detail); the detail names the op, the budget and the
numbers. Errors make the check fail; warnings are reported only. `edgeq check` exits 1 on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from edgeq.check.arena import ArenaPlan, MemoryPeak, activation_peak, recommended_arena
from edgeq.check.c_engine import KERNELS as C_KERNELS
from edgeq.check.c_engine import RUNTIME as C_RUNTIME
from edgeq.check.c_engine import EngineFigures
from edgeq.check.macs import LatencyEstimate, estimate_latency, total_macs
from edgeq.check.optable import OpInfo, load_op_table
from edgeq.check.targets import TargetProfile, get_target
from edgeq.errors import EdgeqError, UnsupportedOpError, listing
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.reader import NUMPY_DTYPES

KIB = 1024
_FLOAT = ("float32", "float16", "float64", "bfloat16")


def kib_text(n: float) -> str:
    """Bytes as '12.5 KiB' for messages and tables."""
    return f"{n / KIB:,.1f} KiB"


@dataclass(frozen=True)
class Budget:
    """A memory budget: what uses it (bytes, by part) against what the target has."""

    name: str
    parts: dict[str, int]
    capacity: int
    estimated_parts: tuple[str, ...] = ()

    @property
    def used(self) -> int:
        return sum(self.parts.values())

    @property
    def ok(self) -> bool:
        return self.used <= self.capacity

    @property
    def exceeded_by(self) -> int:
        return max(self.used - self.capacity, 0)

    def breakdown(self) -> str:
        return " + ".join(f"{part} {kib_text(size)}{' (estimate)' if part in self.estimated_parts else ''}"
                          for part, size in self.parts.items())

    def usage(self) -> str:
        """'12.0 KiB of 256.0 KiB (model 8.0 KiB + ...)' for the rules' messages."""
        return f"{kib_text(self.used)} of {kib_text(self.capacity)} ({self.breakdown()})"

    def to_dict(self) -> dict[str, Any]:
        return {"used_bytes": self.used, "capacity_bytes": self.capacity, "ok": self.ok,
                "exceeded_by_bytes": self.exceeded_by, "free_bytes": max(self.capacity - self.used, 0),
                "parts_bytes": dict(self.parts), "estimated_parts": list(self.estimated_parts)}


@dataclass
class CheckContext:
    """What the rules look at; expensive facts (the TFLM arena, LiteRT loading) are computed once, lazily."""

    model: TFLiteModel
    target: TargetProfile
    engine: EngineFigures | None = None  # --runtime c: the compiled-C engine's figures replace TFLM's

    @cached_property
    def op_table(self) -> dict[str, OpInfo]:
        return load_op_table()

    @cached_property
    def missing_ops(self) -> dict[str, int]:
        """Ops (name -> uses) the target's TFLM build does not register; none for LiteRT and the C engine."""
        if self.target.runtime.name != "tflm" or self.engine is not None:
            return {}
        return {name: count for name, count in self.model.op_counts().items()
                if name not in self.op_table or self.op_table[name].requires}

    @cached_property
    def peak(self) -> MemoryPeak:
        return activation_peak(self.model)

    @cached_property
    def runtime_failure(self) -> EdgeqError | None:
        """Why the target's runtime (host TFLM / LiteRT) cannot run the model, or None."""
        if self.target.runtime.name == "tflm":
            try:
                self.arena  # noqa: B018 - measuring the arena runs the model in TFLM
            except EdgeqError as exc:
                return exc
            return None
        import numpy as np

        from edgeq.tflite.runners import LiteRTRunner

        try:
            runner = LiteRTRunner(self.model, reference=False)
            runner.run([np.zeros([max(d, 1) for d in t.shape], dtype=NUMPY_DTYPES.get(t.dtype, np.float32))
                        for t in self.model.main.input_tensors()])
        except EdgeqError as exc:
            return exc
        except (RuntimeError, ValueError) as exc:  # LiteRT's invoke raises these
            return EdgeqError(f"LiteRT failed to invoke the model: {' '.join(str(exc).split())[:300]}")
        return None

    @cached_property
    def arena(self) -> ArenaPlan:
        """The recommended arena (raises when TFLM cannot run the model: use `arena_or_none`)."""
        return recommended_arena(self.model, self.target)

    @cached_property
    def arena_or_none(self) -> ArenaPlan | None:
        """The recommended TFLM arena, or None for LiteRT targets, the C engine and models TFLM cannot run."""
        if self.target.runtime.name != "tflm" or self.engine is not None or self.runtime_failure is not None:
            return None
        return self.arena

    @cached_property
    def flash(self) -> Budget:
        """Model + runtime code (estimate) + reserved flash against the target's flash; for the C engine its
        code (measured or estimated) + weights + tables."""
        t = self.target
        if self.engine is not None:
            e = self.engine
            parts = {"engine code": e.code_bytes, "weights": e.weights_bytes, "tables": e.tables_bytes,
                     "reserved": int(t.memory.reserved_flash_kb * KIB)}
            return Budget("flash", parts, int(t.memory.flash_kb * KIB),
                          estimated_parts=() if e.code_measured else ("engine code",))
        parts = {"model": self.model.size, "runtime code": int(t.runtime.code_flash_kb * KIB),
                 "reserved": int(t.memory.reserved_flash_kb * KIB)}
        return Budget("flash", parts, int(t.memory.flash_kb * KIB), estimated_parts=("runtime code",))

    @cached_property
    def ram(self) -> Budget:
        """Arena (or the activation peak when there is none) + reserved RAM against the target's RAM."""
        t = self.target
        reserved = int(t.memory.reserved_ram_kb * KIB)
        if self.engine is not None:  # the engine's planned arena and the caller's I/O buffers, exact
            parts = {"arena": self.engine.arena_bytes, "inputs/outputs": self.engine.io_bytes, "reserved": reserved}
            return Budget("RAM", parts, int(t.memory.ram_kb * KIB))
        if t.runtime.name == "litert":  # no fixed arena: activations at their peak, the model is mmapped
            parts = {"activations (peak)": self.peak.bytes, "reserved": reserved}
            return Budget("RAM", parts, int(t.memory.ram_kb * KIB), estimated_parts=("activations (peak)",))
        if self.arena_or_none is None:  # TFLM failed: the activation peak is a lower bound on the arena
            parts = {"activations (peak, lower bound)": self.peak.bytes, "reserved": reserved}
            return Budget("RAM", parts, int(t.memory.ram_kb * KIB))
        return Budget("RAM", {"arena": self.arena_or_none.recommended_bytes, "reserved": reserved},
                      int(t.memory.ram_kb * KIB))

    @cached_property
    def latency(self) -> LatencyEstimate:
        return self.engine.latency if self.engine is not None else estimate_latency(self.model, self.target)


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: its name, its message (the rule's docstring), ok and the detail."""

    rule: str
    severity: str
    ok: bool
    message: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "ok": self.ok, "message": self.message,
                "detail": self.detail}


Rule = Callable[[CheckContext], tuple[bool, str]]
RULES: list[tuple[Rule, str]] = []


def rule(severity: str) -> Callable[[Rule], Rule]:
    """Register a rule ('error' fails the check, 'warning' is reported). Returns the function unchanged."""
    def register(function: Rule) -> Rule:
        RULES.append((function, severity))
        return function
    return register


def _message(function: Rule) -> str:
    return " ".join((function.__doc__ or function.__name__).split())


# --- the rules ------------------------------------------------------------------------------------------------

@rule("error")
def ops_supported(ctx: CheckContext) -> tuple[bool, str]:
    """Every operator must be one the target's runtime registers."""
    if ctx.engine is not None:
        if ctx.engine.unsupported:
            return False, ctx.engine.unsupported
        return True, f"the compiled-C engine generates all {len(ctx.model.op_counts())} op types"
    if ctx.target.runtime.name != "tflm":  # LiteRT has every builtin; custom (incl. Flex) ops need extra libraries
        custom = sorted({op.opcode for sg in ctx.model.subgraphs for op in sg.operators if op.custom})
        if custom:
            return False, f"custom ops {', '.join(custom)} are not in LiteRT's builtin op set"
        return True, f"all {len(ctx.model.op_counts())} op types are LiteRT builtins"
    if ctx.missing_ops:
        missing = listing((f"{name} (x{count})" for name, count in ctx.missing_ops.items()), limit=8)
        return False, f"TFLM has no kernel for {missing}; replace these layers or pick another runtime"
    return True, f"all {len(ctx.model.op_counts())} op types are registered by TFLM"


@rule("error")
def runs_on_runtime(ctx: CheckContext) -> tuple[bool, str]:
    """The target's runtime must prepare and invoke the model on the host (kernels accept its tensor types)."""
    failure = ctx.runtime_failure
    if failure is None:
        runtime = "TFLM" if ctx.target.runtime.name == "tflm" else "LiteRT"
        return True, f"host {runtime} interpreter allocated and invoked the model"
    if isinstance(failure, UnsupportedOpError) and ctx.missing_ops:  # ops_supported names them already
        return False, f"not run: {', '.join(ctx.missing_ops)} missing (see ops_supported)"
    return False, str(failure)


@rule("error")
def flash_fits(ctx: CheckContext) -> tuple[bool, str]:
    """Model + runtime code + reserved flash must fit in the target's flash."""
    b = ctx.flash
    if b.ok:
        return True, f"{b.usage()}; {kib_text(b.capacity - b.used)} free"
    return False, f"flash exceeded by {kib_text(b.exceeded_by)}: {b.usage()}; the model is {kib_text(ctx.model.size)}"


@rule("error")
def ram_fits(ctx: CheckContext) -> tuple[bool, str]:
    """Tensor arena + reserved RAM must fit in the target's RAM."""
    b = ctx.ram
    peak = f"activation peak {kib_text(ctx.peak.bytes)} at {ctx.peak.describe()}"
    if b.ok:
        return True, f"{b.usage()}; {kib_text(b.capacity - b.used)} free; {peak}"
    return False, f"RAM exceeded by {kib_text(b.exceeded_by)}: {b.usage()}; {peak}"


@rule("warning")
def integer_only(ctx: CheckContext) -> tuple[bool, str]:
    """Microcontroller targets should run integer-only models (float kernels are slow and not optimized)."""
    if not ctx.target.is_mcu:
        return True, "not a microcontroller target"
    sg = ctx.model.main
    float_ops = sorted({op.opcode for op in sg.operators
                        if any(i >= 0 and sg.tensors[i].dtype in _FLOAT and not sg.tensors[i].is_constant
                               for i in (*op.inputs, *op.outputs))})
    if float_ops:
        return False, f"float tensors flow through {', '.join(float_ops)}; convert with --mode int8"
    return True, "all activations are integer"


@rule("warning")
def optimized_kernels(ctx: CheckContext) -> tuple[bool, str]:
    """MAC-heavy operators should have an optimized kernel on the target (else the slow reference runs)."""
    kernels = ctx.target.runtime.kernels
    if ctx.engine is not None:
        return True, f"compiled-C engine, {ctx.engine.path} kernels"
    if ctx.target.runtime.name != "tflm":
        return True, f"{kernels} kernels"
    heavy = {name: ctx.op_table[name] for name in ctx.model.op_counts()
             if name in ctx.op_table and ctx.op_table[name].kernel_class}
    slow = sorted(name for name, info in heavy.items() if not info.optimized(kernels))
    if kernels == "reference":
        return True, "the profile selects TFLM's reference kernels"
    if slow:
        return False, f"{', '.join(slow)} run TFLM's reference kernel (no {kernels} kernel)"
    return True, f"every MAC-heavy op has a {kernels} kernel"


# --- the verdict ----------------------------------------------------------------------------------------------

@dataclass
class CheckResult:
    """The verdict for one model on one target, with the numbers behind it."""

    target: TargetProfile
    model: TFLiteModel
    rules: list[RuleResult]
    flash: Budget
    ram: Budget
    arena: ArenaPlan | None
    peak: MemoryPeak
    macs: int
    latency: LatencyEstimate
    ops: list[dict[str, Any]] = field(default_factory=list)
    engine: EngineFigures | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rules if r.severity == "error")

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.rules if r.severity == "error" and not r.ok]

    def summary(self) -> str:
        """One line: fits, or which rules failed and why."""
        if self.ok:
            return f"the model fits {self.target.name}"
        # one line for a log: each failed rule's headline (the tables and report.json carry the breakdowns)
        return (f"the model does not fit {self.target.name}: "
                + "; ".join(f"{r.rule}: {_headline(r.detail)}" for r in self.failures))

    def to_dict(self) -> dict[str, Any]:
        """report.json's `target` block (merged with name/kind/runtime/kernels by the caller)."""
        engine = {"engine": self.engine.to_dict()} if self.engine is not None else {}
        return {**engine,
            "ok": self.ok,
            "rules": [r.to_dict() for r in self.rules],
            "ops": self.ops,
            "flash": self.flash.to_dict(),
            "ram": self.ram.to_dict(),
            "arena": self.arena.to_dict() if self.arena is not None else None,
            "activation_peak": self.peak.to_dict(),
            "macs": self.macs,
            "latency": self.latency.to_dict(),
        }


def _headline(detail: str, limit: int = 200) -> str:
    """A rule's detail up to its first ': ' (where the breakdown starts), at most `limit` characters."""
    head = detail.split(": ", 1)[0]
    return head if len(head) <= limit else head[:limit - 1].rsplit(" ", 1)[0] + " …"


def _op_rows(ctx: CheckContext) -> list[dict[str, Any]]:
    rows = []
    versions = ctx.model.op_versions()
    for name, count in ctx.model.op_counts().items():
        info = ctx.op_table.get(name)
        if ctx.engine is not None:
            supported, kernel = not ctx.engine.unsupported, f"compiled-c ({ctx.engine.path})"
        elif ctx.target.runtime.name == "tflm":
            supported = name not in ctx.missing_ops
            kernel = (ctx.target.runtime.kernels if info is not None and info.optimized(ctx.target.runtime.kernels)
                      else "reference") if supported else None
        else:
            supported = not any(op.custom for sg in ctx.model.subgraphs for op in sg.operators if op.opcode == name)
            kernel = ctx.target.runtime.kernels
        rows.append({"op": name, "count": count, "version": versions.get(name, 1), "supported": supported,
                     "kernel": kernel})
    return rows


def check_model(model: str | Path | bytes | TFLiteModel, target: str | TargetProfile = "cortex-m4",
                engine: EngineFigures | None = None) -> CheckResult:
    """Run every rule for a .tflite (path, bytes or parsed model) on a target (name or profile); with `engine`
    (edgeq.check.c_engine.engine_figures) for the compiled-C engine instead of the profile's runtime.

    Never raises for a model that does not fit: see `.ok`."""
    target = get_target(target) if isinstance(target, str) else target
    model = model if isinstance(model, TFLiteModel) else read_model(model)
    ctx = CheckContext(model, target, engine)
    results = []
    for function, severity in RULES:
        ok, detail = function(ctx)
        results.append(RuleResult(function.__name__, severity, ok, _message(function), " ".join(detail.split())))
    return CheckResult(target=target, model=model, rules=results, flash=ctx.flash, ram=ctx.ram,
                       arena=ctx.arena_or_none, peak=ctx.peak, macs=total_macs(model), latency=ctx.latency,
                       ops=_op_rows(ctx), engine=engine)


def rules_documentation() -> list[tuple[str, str, str]]:
    """(rule, severity, message) for every rule: README's rule table is this list (a test keeps them equal)."""
    return [(function.__name__, severity, _message(function)) for function, severity in RULES]



def target_identity(target: TargetProfile, runtime: str | None = None) -> dict[str, Any]:
    """Who the target is, as report.json's `target` block starts; `runtime` "c": the compiled-C engine runs the
    model instead of the profile's runtime."""
    if runtime == C_RUNTIME:
        return {"name": target.name, "kind": target.kind, "runtime": C_RUNTIME, "kernels": C_KERNELS}
    return {"name": target.name, "kind": target.kind, "runtime": target.runtime.name,
            "kernels": target.runtime.kernels}


def target_report(result: CheckResult) -> dict[str, Any]:
    """report.json's `target` block: the profile's identity, then the verdict and its numbers."""
    runtime = C_RUNTIME if result.engine is not None else None
    return {**target_identity(result.target, runtime), **result.to_dict()}
