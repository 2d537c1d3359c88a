"""One Runner protocol over the interpreters edgeq compares: Keras float, LiteRT and the TFLM host interpreter.

A runner takes one sample (a list of arrays with batch 1, in the tensors' own dtype) and returns the raw
output arrays. `quantize_input` / `dequantize_output` convert between float and a tensor's integer domain.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgeq.errors import EdgeqError, ModelFormatError, UnsupportedOpError
from edgeq.tfenv import captured_output
from edgeq.tflite import Tensor, TFLiteModel
from edgeq.tflite.reader import NUMPY_DTYPES


class Runner(Protocol):
    """What the comparisons need of an interpreter: a name and one sample in, raw outputs out."""

    name: str

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run one sample (batch 1) and return the raw outputs."""
        ...


def quantize_input(x: np.ndarray, tensor: Tensor) -> np.ndarray:
    """Float values -> the tensor's dtype, with its scale/zero point (float tensors pass through)."""
    dtype = NUMPY_DTYPES[tensor.dtype]
    if tensor.quantization is None or not np.issubdtype(dtype, np.integer):
        return np.asarray(x, dtype=dtype)
    scale, zero_point = float(tensor.quantization.scale[0]), int(tensor.quantization.zero_point[0])
    info = np.iinfo(dtype)
    scaled = np.asarray(x, np.float64) / scale
    q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + zero_point  # half away from zero, like TFLite's round()
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(q: np.ndarray, tensor: Tensor) -> np.ndarray:
    """Raw output values -> float with the tensor's scale/zero point."""
    if tensor.quantization is None or not np.issubdtype(np.asarray(q).dtype, np.integer):
        return np.asarray(q, dtype=np.float32)
    scale, zero_point = float(tensor.quantization.scale[0]), int(tensor.quantization.zero_point[0])
    return ((np.asarray(q, np.float64) - zero_point) * scale).astype(np.float32)


def _reason(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"Didn't find op|not supported|unsupported|Failed to get registration", line, re.I):
            return line
    for line in lines:
        if re.search(r"arena|allocate|error|fail", line, re.I):
            return line
    return lines[0] if lines else "no reason given"


@dataclass
class TFLMRunner:
    """The TensorFlow Lite Micro interpreter (real TFLM kernels, via the tflite-micro package)."""

    model: TFLiteModel
    arena_size: int | None = None
    preserve_all_tensors: bool = False
    name: str = "tflm"

    def __post_init__(self) -> None:
        try:
            from tflite_micro import runtime
        except ImportError:
            raise EdgeqError("the tflite-micro package is not installed (it exists for Linux x86-64 only)") from None
        config = (runtime.InterpreterConfig.kPreserveAllTensors if self.preserve_all_tensors
                  else runtime.InterpreterConfig.kAllocationRecording)
        with captured_output() as log:
            try:
                self._interpreter = runtime.Interpreter.from_bytes(
                    self.model.data, arena_size=self.arena_size or None, intrepreter_config=config)
                failure = None
            except (RuntimeError, ValueError) as exc:
                failure = str(exc)
        if failure is not None:
            reason = _reason(log[0] if log else "")
            if "op" in reason.lower() and ("find" in reason.lower() or "support" in reason.lower()):
                raise UnsupportedOpError(f"TFLM cannot run this model: {reason}")
            raise EdgeqError(f"TFLM could not prepare the model: {reason}")

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run one sample (batch 1, the input tensors' dtypes) and return the raw outputs."""
        # Capturing fd 2 on every call would double the per-sample cost; TFLM only logs on failure, so the
        # failing call is repeated under capture to learn why.
        try:
            self._invoke(inputs)
        except (RuntimeError, ValueError) as exc:
            with captured_output() as log, contextlib.suppress(RuntimeError, ValueError):
                self._invoke(inputs)
            # A refused input (wrong shape or dtype) raises before TFLM logs anything: then say why.
            logged = log[0] if log and log[0].strip() else str(exc)
            raise EdgeqError(f"TFLM failed to invoke the model: {_reason(logged)}") from None
        return [np.array(self._interpreter.get_output(i)) for i in range(len(self.model.main.outputs))]

    def _invoke(self, inputs: list[np.ndarray]) -> None:
        for i, x in enumerate(inputs):
            self._interpreter.set_input(x, i)
        self._interpreter.invoke()

    def tensor(self, index: int, subgraph: int = 0) -> np.ndarray:
        """An intermediate tensor's value after run() (needs preserve_all_tensors=True)."""
        value = self._interpreter.GetTensor(index, subgraph)
        if isinstance(value, dict):  # the tflite-micro binding returns {'dtype', 'shape', 'tensor_data'}
            value = value["tensor_data"]
        return np.array(value)


@dataclass
class LiteRTRunner:
    """The LiteRT interpreter. `reference=True` uses the builtin reference kernels (no XNNPACK delegate),
    which is what bit-level comparisons against TFLM need."""

    model: TFLiteModel
    reference: bool = True
    preserve_all_tensors: bool = False
    name: str = "litert"

    def __post_init__(self) -> None:
        interpreter_class, resolver = _litert_interpreter()
        kwargs: dict[str, Any] = {"model_content": self.model.data,
                                  "experimental_preserve_all_tensors": self.preserve_all_tensors}
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = (resolver.BUILTIN_REF if self.reference
                                                       else resolver.AUTO)
        with captured_output() as log:
            try:
                self._interpreter = interpreter_class(**kwargs)
                self._interpreter.allocate_tensors()
                failure = None
            except (RuntimeError, ValueError) as exc:
                failure = " ".join(str(exc).split())
        if failure is not None:
            raise ModelFormatError(f"LiteRT cannot load the model: {failure[:300] or _reason(log[0])}")
        self._inputs = self._interpreter.get_input_details()
        self._outputs = self._interpreter.get_output_details()
        self.kernels = "reference" if self.reference else "default (XNNPACK)"

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run one sample (or a batch, once the inputs are resized) and return the raw outputs."""
        for detail, x in zip(self._inputs, inputs, strict=True):
            self._interpreter.set_tensor(detail["index"], np.asarray(x, dtype=detail["dtype"]))
        self._interpreter.invoke()
        return [np.array(self._interpreter.get_tensor(d["index"])) for d in self._outputs]

    def tensor(self, index: int) -> np.ndarray:
        """An intermediate tensor's value after run() (needs preserve_all_tensors=True)."""
        return np.array(self._interpreter.get_tensor(index))


def _litert_interpreter() -> tuple[type, Any]:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType
    except ImportError:
        pass
    try:  # the 2023 fallback, for environments that cannot install ai-edge-litert
        from tflite_runtime.interpreter import Interpreter, OpResolverType

        return Interpreter, OpResolverType
    except ImportError:
        raise EdgeqError("no LiteRT interpreter: install ai-edge-litert (or tflite-runtime)") from None
