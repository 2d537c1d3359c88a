"""The engine's intermediate form: each TFLite operator lowered to kernel calls with constant parameters.

Lowering functions (edgeq/engine/ops_*.py) turn one operator into a `Lowered`: the C functions to
call, their arguments (tensor pointers are symbolic until the memory plan exists), one const parameter
struct and any const arrays (per-channel multipliers). Codegen renders these through the templates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Operator, Subgraph, Tensor
from edgeq.tflite.schema import activation_names


@dataclass(frozen=True)
class TensorArg:
    """A pointer to tensor `index`'s data, as `ctype *` (const unless `writable`)."""

    index: int
    ctype: str = "int8_t"
    writable: bool = False


@dataclass(frozen=True)
class ParamsArg:
    """The address of this op's parameter struct."""


@dataclass(frozen=True)
class StructArg:
    """The address of another const struct defined for this op, by its suffix (e.g. 'broadcast')."""

    suffix: str


@dataclass(frozen=True)
class ScratchArg:
    """This op's scratch buffer in the arena (its size is `Lowered.scratch_bytes`)."""

    ctype: str = "void"


@dataclass(frozen=True)
class ArrayArg:
    """A const array defined for this op, by its suffix (e.g. 'mult')."""

    suffix: str


@dataclass(frozen=True)
class LiteralArg:
    """A literal C expression (an integer, NULL)."""

    text: str


@dataclass(frozen=True)
class PointerListArg:
    """A C99 compound literal array of const void pointers to tensors."""

    items: tuple[TensorArg, ...]


Arg = TensorArg | ParamsArg | StructArg | ScratchArg | ArrayArg | LiteralArg | PointerListArg


@dataclass(frozen=True)
class CFloat:
    """A float (or double) parameter, rendered as an exact hexadecimal literal."""

    value: float
    double: bool = False


@dataclass(frozen=True)
class ArrayRef:
    """A pointer field: the address of a const array defined for this op (by its suffix), or NULL."""

    suffix: str | None


FieldValue = int | CFloat | list[int] | ArrayRef


@dataclass(frozen=True)
class KernelCall:
    function: str
    args: tuple[Arg, ...]


@dataclass
class Lowered:
    """One operator, lowered. `alias_of`: the output shares that input tensor's storage (free reshape);
    `inplace_input`: an input the output may overwrite when it dies at this op; `overlap` (input, d): the
    kernel writes its output behind its reads of that input, so when the input dies here the output may start
    up to d bytes before it and run over it (see write_behind in ops_conv)."""

    calls: list[KernelCall] = field(default_factory=list)
    params_type: str = ""
    params: list[tuple[str, FieldValue]] = field(default_factory=list)
    arrays: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (suffix, ctype, values)
    structs: list[tuple[str, str, list[tuple[str, FieldValue]]]] = field(default_factory=list)
    alias_of: int | None = None
    inplace_input: int | None = None
    overlap: tuple[int, int] | None = None
    scratch_bytes: int = 0
    headers: tuple[str, ...] = ("eq_kernels.h",)


class LoweringContext:
    """What a lowering function may look at: the subgraph's tensors, with quantization helpers, and whether
    the target core has the DSP extension (`dsp`: lower to the kernels that use it where one exists)."""

    def __init__(self, subgraph: Subgraph, dsp: bool = False) -> None:
        self.subgraph = subgraph
        self.dsp = dsp

    def tensor(self, index: int) -> Tensor:
        return self.subgraph.tensors[index]

    def scale(self, index: int) -> float:
        """The tensor's (per-tensor) scale as the float32 TFLM stores, widened to a Python float."""
        q = self.tensor(index).quantization
        if q is None:
            raise UnsupportedOpError(f"tensor {index} ({self.tensor(index).name}) is not quantized")
        return float(q.scale[0])

    def zero_point(self, index: int) -> int:
        q = self.tensor(index).quantization
        return int(q.zero_point[0]) if q is not None else 0

    def scales(self, index: int) -> np.ndarray:
        q = self.tensor(index).quantization
        if q is None:
            raise UnsupportedOpError(f"tensor {index} ({self.tensor(index).name}) is not quantized")
        return np.asarray(q.scale, dtype=np.float32)

    def constant(self, index: int) -> np.ndarray:
        data = self.tensor(index).data
        if data is None:
            raise UnsupportedOpError(f"tensor {index} ({self.tensor(index).name}) must be a constant")
        return data


def fused_activation(op: Operator) -> str:
    """The op's fused activation name ('NONE', 'RELU', ...); 'NONE' when the op has no options."""
    value = getattr(op.options, "fusedActivationFunction", 0) if op.options is not None else 0
    return activation_names().get(int(value), str(value))


Lowering = Callable[[LoweringContext, Operator], Lowered]
