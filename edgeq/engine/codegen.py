"""Rendering the lowered, planned model as C99: `<name>_model.h` / `<name>_model.c` (`model.h` / `model.c` for
the default name) plus the kernel sources."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeq.engine.ir import (
    ArrayArg,
    ArrayRef,
    CFloat,
    FieldValue,
    KernelCall,
    LiteralArg,
    Lowered,
    ParamsArg,
    PointerListArg,
    ScratchArg,
    StructArg,
    TensorArg,
)
from edgeq.engine.lowering import lower_model
from edgeq.engine.storage import Location, StoragePlan, plan_storage
from edgeq.errors import EmitError
from edgeq.render import C_TYPES, c_float, c_initializer, comment_text, render, require_identifier
from edgeq.resources import kernels_dir
from edgeq.templates import engine_template
from edgeq.tflite import Operator, Tensor, TFLiteModel
from edgeq.version import __version__

_IO_DTYPES = ("int8", "uint8", "float32")  # what the engine takes and gives at the model boundary
_WEIGHT_ARRAYS = ("w", "bias", "wdata", "wlut")  # op arrays holding weights/biases in another layout (or packed)


@dataclass(frozen=True)
class OpKernels:
    """What the generated code does for one operator: the functions it calls (in order), the number of
    arguments of each call and the operator's parameter struct type ("" without one)."""

    index: int
    opcode: str
    functions: tuple[str, ...]
    args: tuple[int, ...]
    params_type: str


def source_stem(name: str) -> str:
    """The file name (without extension) of a model's engine sources: `<name>_model`, but not `model_model` for
    the default name, nor `kws_model_model` for a name that already ends in `_model`."""
    return name if name == "model" or name.endswith("_model") else f"{name}_model"


@dataclass
class EngineBuild:
    """The generated sources and what they need. `files` maps relative paths to bytes."""

    name: str
    files: dict[str, bytes]
    arena_bytes: int
    lower_bound_bytes: int
    weights_bytes: int
    constant_bytes: int
    ops: tuple[str, ...]
    input_bytes: tuple[int, ...]
    output_bytes: tuple[int, ...]
    greedy_arena_bytes: int = 0
    plan_strategy: str = ""
    inplace_ops: tuple[int, ...] = ()
    model_sha256: str = ""
    notes: list[str] = field(default_factory=list)
    op_kernels: tuple[OpKernels, ...] = ()
    final_calls: int = 0  # memcpy calls after the last operator (outputs that could not be computed in place)
    dsp: bool = False

    def to_dict(self) -> dict:
        """The numbers a report shows (no file contents)."""
        return {"name": self.name, "arena_bytes": self.arena_bytes, "lower_bound_bytes": self.lower_bound_bytes,
                "greedy_by_size_arena_bytes": self.greedy_arena_bytes, "plan": self.plan_strategy,
                "weights_bytes": self.weights_bytes, "constant_bytes": self.constant_bytes,
                "io_bytes": sum(self.input_bytes) + sum(self.output_bytes),
                "in_place_ops": list(self.inplace_ops), "ops": len(self.ops)}

    @property
    def tables_bytes(self) -> int:
        """Constant arrays beyond the weights and biases: per-channel multipliers and shifts, filter sums, tables."""
        return self.constant_bytes - self.weights_bytes

    @property
    def header(self) -> str:
        return f"{source_stem(self.name)}.h"

    @property
    def sources(self) -> list[str]:
        """The .c files to compile (model and kernels), in a stable order."""
        return sorted(p for p in self.files if p.endswith(".c"))


def _field_text(value: FieldValue, prefix: str) -> str:
    if isinstance(value, ArrayRef):
        return f"{prefix}_{value.suffix}" if value.suffix else "NULL"
    if isinstance(value, CFloat):
        return c_float(value.value, value.double)
    if isinstance(value, list):
        return "{" + ", ".join(str(int(v)) for v in value) + "}"
    return f"({int(value) + 1} - 1)" if int(value) == -(2 ** 31) else str(int(value))


# ------------------------------------------------------------------------------------------ expressions

class _Renderer:
    """Turns symbolic kernel arguments into C expressions once every tensor has a location."""

    def __init__(self, model: TFLiteModel, storage: StoragePlan) -> None:
        self.tensors = model.main.tensors
        self.storage = storage
        self.weights: dict[int, Tensor] = {}
        self.uses_arena = False

    def tensor(self, arg: TensorArg) -> str:
        location = self.storage.locations.get(arg.index)
        if location is None:
            raise EmitError(f"tensor {arg.index} has no storage")
        qual = "" if arg.writable else "const "
        cast = f"({qual}{arg.ctype} *)"
        if location.kind == "arena":
            self.uses_arena = True
            return f"{cast}(arena + {location.value})" if location.value else f"{cast}arena"
        if location.kind == "input":
            if arg.writable:
                raise EmitError(f"tensor {arg.index} would be written into a model input buffer")
            return f"{cast}inputs[{location.value}]"
        if location.kind == "output":
            return f"{cast}outputs[{location.value}]"
        if arg.writable:
            raise EmitError(f"tensor {arg.index} would be written into a constant")
        self.weights[location.value] = self.tensors[location.value]
        own = C_TYPES.get(self.tensors[location.value].dtype)
        return f"c{location.value}" if own == arg.ctype else f"{cast}c{location.value}"

    def call(self, call: KernelCall, prefix: str, step: int) -> str:
        args = []
        for arg in call.args:
            if isinstance(arg, TensorArg):
                args.append(self.tensor(arg))
            elif isinstance(arg, ParamsArg):
                args.append(f"&{prefix}_params")
            elif isinstance(arg, StructArg):
                args.append(f"&{prefix}_{arg.suffix}")
            elif isinstance(arg, ArrayArg):
                args.append(f"{prefix}_{arg.suffix}")
            elif isinstance(arg, ScratchArg):
                self.uses_arena = True
                args.append(f"({arg.ctype} *)(arena + {self.storage.scratch[step]})")
            elif isinstance(arg, PointerListArg):
                args.append("(const void *const[]){" + ", ".join(self.tensor(t) for t in arg.items) + "}")
            elif isinstance(arg, LiteralArg):
                args.append(arg.text)
            else:  # pragma: no cover - exhaustive over Arg
                raise EmitError(f"unknown kernel argument {arg!r}")
        return f"{call.function}({', '.join(args)});"


def _op_context(op: Operator, low: Lowered, step: int, renderer: _Renderer,
                tensors: tuple[Tensor, ...], in_place: bool) -> dict:
    prefix = f"op{op.index}"
    structs = []
    if low.params_type:
        structs.append({"ctype": low.params_type, "name": f"{prefix}_params",
                        "fields": [(k, _field_text(v, prefix)) for k, v in low.params]})
    for suffix, ctype, fields in low.structs:
        structs.append({"ctype": ctype, "name": f"{prefix}_{suffix}",
                        "fields": [(k, _field_text(v, prefix)) for k, v in fields]})
    arrays = [{"ctype": ctype, "name": f"{prefix}_{suffix}", "count": max(int(values.size), 1),
               "body": c_initializer(values)} for suffix, ctype, values in low.arrays]
    out = tensors[op.outputs[0]] if op.outputs and op.outputs[0] >= 0 else None
    what = f"{out.name} {list(out.shape)}" if out is not None else ""
    if low.alias_of is not None:
        what += " (shares its input's bytes: no code)"
    elif in_place:
        what += " (in place, over an input that dies here)"
    return {"index": op.index, "opcode": op.opcode, "what": comment_text(what, 160), "structs": structs,
            "arrays": arrays, "calls": [renderer.call(c, prefix, step) for c in low.calls]}


def _bytes_of(tensors: tuple[Tensor, ...], indices: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(tensors[i].nbytes) for i in indices)


def generate(model: TFLiteModel, name: str, dsp: bool = False) -> EngineBuild:
    """Generate the engine sources for `model`: `<name>_model.h/.c` and the kernels they call.

    `dsp`: call the kernels written for cores with the Armv7E-M DSP extension (Cortex-M4/M7/M33/M55), with
    weights re-laid out for them; else the portable C99 kernels (any core, the host). Both are bit-exact.
    Raises UnsupportedOpError naming every op outside the engine's set (with a pointer to the TFLM runtime)."""
    name = require_identifier(name)
    lowered = lower_model(model, dsp=dsp)
    subgraph = model.main
    tensors = subgraph.tensors
    for i in (*subgraph.inputs, *subgraph.outputs):
        if tensors[i].dtype not in _IO_DTYPES:
            raise EmitError(f"model I/O tensor '{tensors[i].name}' is {tensors[i].dtype}; the engine takes "
                            "int8, uint8 or float32 I/O")
    storage = plan_storage(subgraph, lowered)
    renderer = _Renderer(model, storage)
    in_place = set(storage.inplace_ops)
    ops = [_op_context(op, low, step, renderer, tensors, op.index in in_place)
           for step, (op, low) in enumerate(lowered)]
    final_copies = [renderer.call(c, "final", len(lowered)) for c in storage.final_copies]
    weights = [{"name": f"c{i}", "ctype": C_TYPES[t.dtype], "count": max(int(t.data.size), 1),
                "what": comment_text(f"{t.name} {list(t.shape)} {t.dtype}", 160), "body": c_initializer(t.data)}
               for i, t in sorted(renderer.weights.items())]
    headers = sorted({h for _, low in lowered for h in low.headers if low.calls})
    arena = storage.plan.peak if renderer.uses_arena else 0
    constant_bytes = (sum(t.nbytes for t in renderer.weights.values())
                      + sum(int(v.nbytes) for _, low in lowered for _, _, v in low.arrays))
    io = {
        "inputs": [_io_entry(tensors[i]) for i in subgraph.inputs],
        "outputs": [_io_entry(tensors[i]) for i in subgraph.outputs],
    }
    stem = source_stem(name)
    context = {
        "name": name, "NAME": name.upper(), "stem": stem, "version": __version__, "sha256": model.sha256,
        "arena_bytes": arena, "lower_bound": storage.plan.lower_bound, "headers": headers,
        "weights": weights, "ops": ops, "final_copies": final_copies, "uses_arena": renderer.uses_arena,
        # Constant tensors referenced as they are, plus the weights and biases the DSP lowerings re-laid out.
        "weights_bytes": sum(t.nbytes for t in renderer.weights.values())
        + sum(int(v.nbytes) for _, low in lowered for suffix, _, v in low.arrays if suffix in _WEIGHT_ARRAYS),
        "strategy": storage.plan.strategy,
        "needs_string_h": any("memcpy(" in c for op in ops for c in op["calls"]) or bool(final_copies),
        "op_markers": " ".join(f"{op['index']}:{op['opcode']}" for op in ops if op["calls"]),
        **io,
    }
    templates = engine_template().name  # its manifest lists model.c.j2/model.h.j2 as `generated`
    files = {
        f"{stem}.h": render(f"{templates}/model.h.j2", context).encode(),
        f"{stem}.c": render(f"{templates}/model.c.j2", context).encode(),
    }
    uses_dsp = "eq_dsp_kernels.h" in headers
    for path in sorted(kernels_dir().iterdir()):
        if path.suffix in (".c", ".h") and (uses_dsp or not path.name.startswith("eq_dsp")):
            files[path.name] = path.read_bytes()
    return EngineBuild(
        name=name, files=files, arena_bytes=arena, lower_bound_bytes=storage.plan.lower_bound,
        weights_bytes=context["weights_bytes"], constant_bytes=constant_bytes,
        ops=tuple(op.opcode for op, _ in lowered), input_bytes=_bytes_of(tensors, subgraph.inputs),
        output_bytes=_bytes_of(tensors, subgraph.outputs),
        greedy_arena_bytes=storage.plan.greedy_by_size_peak if renderer.uses_arena else 0,
        plan_strategy=storage.plan.strategy, inplace_ops=tuple(storage.inplace_ops), model_sha256=model.sha256,
        op_kernels=tuple(OpKernels(op.index, op.opcode, tuple(c.function for c in low.calls),
                                   tuple(len(c.args) for c in low.calls), low.params_type if low.calls else "")
                         for op, low in lowered),
        final_calls=len(final_copies), dsp=dsp)


def _io_entry(t: Tensor) -> dict:
    q = t.quantization
    quant = (f"scale {float(q.scale[0]):.9g}, zero point {int(q.zero_point[0])}" if q is not None
             else "not quantized")
    return {"name": comment_text(t.name, 160), "shape": list(t.shape), "dtype": t.dtype, "ctype": C_TYPES[t.dtype],
            "bytes": int(t.nbytes), "elements": int(t.num_elements), "quant": quant}


__all__ = ["EngineBuild", "Location", "OpKernels", "generate"]
