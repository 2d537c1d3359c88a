"""A read-only view of a .tflite model: tensors, operators, quantization and constant data."""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import ModelFormatError
from edgeq.files import model_file_size, read_head
from edgeq.tflite.schema import builtin_op_names, builtin_options_names, schema, tensor_type_names

# numpy dtypes for the TFLite tensor types edgeq reads values of.
NUMPY_DTYPES: dict[str, Any] = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "bool": np.bool_,
}
INTEGER_DTYPES = frozenset({"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "int4"})
FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
_MAX_DIMENSION = 1 << 31
_MAX_ELEMENTS = (1 << 31) - 1  # TFLite sizes tensors with int32 element counts


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point)."""

    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    def to_dict(self) -> dict[str, Any]:
        if self.per_channel:
            return {"scale": [float(s) for s in self.scale], "zero_point": [int(z) for z in self.zero_point],
                    "quantized_dimension": self.quantized_dimension}
        return {"scale": float(self.scale[0]), "zero_point": int(self.zero_point[0])}


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph. `data` holds the constant value, None for activations."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None
    data: np.ndarray | None = field(default=None, repr=False)
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def itemsize(self) -> int:
        if self.dtype == "int4":
            return 1
        numpy_dtype = NUMPY_DTYPES.get(self.dtype)
        return int(np.dtype(numpy_dtype).itemsize) if numpy_dtype else 1

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.num_elements * self.itemsize


@dataclass(frozen=True)
class Operator:
    """One operator: its op name (builtin name or custom code), version and tensor indices (-1: absent)."""

    index: int
    opcode: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Any = field(default=None, repr=False)
    options_type: str = ""
    custom: bool = False
    intermediates: tuple[int, ...] = ()


@dataclass(frozen=True)
class Subgraph:
    """A subgraph: its tensors, operators in execution order, and its input/output tensor indices."""

    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]


@dataclass(frozen=True)
class TFLiteModel:
    """A parsed .tflite model. `data` is the exact file content."""

    data: bytes = field(repr=False)
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def size(self) -> int:
        return len(self.data)

    def op_counts(self) -> dict[str, int]:
        """Op name -> number of uses, over all subgraphs, sorted by name."""
        counts: dict[str, int] = {}
        for subgraph in self.subgraphs:
            for op in subgraph.operators:
                counts[op.opcode] = counts.get(op.opcode, 0) + 1
        return dict(sorted(counts.items()))

    def op_versions(self) -> dict[str, int]:
        """Op name -> highest version used."""
        versions: dict[str, int] = {}
        for subgraph in self.subgraphs:
            for op in subgraph.operators:
                versions[op.opcode] = max(versions.get(op.opcode, 0), op.version)
        return dict(sorted(versions.items()))


def read_model(source: str | Path | bytes) -> TFLiteModel:
    """Parse a .tflite file (path or bytes). Anything that is not a valid TFLite model -> ModelFormatError."""
    if isinstance(source, bytes | bytearray | memoryview):
        data, where = bytes(source), "model"
    else:
        path = Path(source)
        if path.is_dir() or not path.exists():
            raise ModelFormatError(f"{path}: no such .tflite file")
        where = str(path)
        size = model_file_size(path, ModelFormatError, "TFLite model")  # no device, FIFO or oversized file
        head = read_head(path, 8)  # the identifier decides before the rest is read
        if size >= 8 and head[4:8] != b"TFL3":
            raise ModelFormatError(f"{where}: not a TFLite flatbuffer (file identifier is not 'TFL3')")
        data = path.read_bytes()
    if len(data) < 16:
        raise ModelFormatError(f"{where}: {len(data)} bytes is too short to be a TFLite model")
    if data[4:8] != b"TFL3":
        raise ModelFormatError(f"{where}: not a TFLite flatbuffer (file identifier is not 'TFL3')")
    try:
        return _parse(data)
    except ModelFormatError as exc:
        raise ModelFormatError(f"{where}: {exc}") from None
    except Exception as exc:  # the flatbuffers runtime raises anything on corrupt offsets
        raise ModelFormatError(f"{where}: corrupt TFLite flatbuffer: {_corruption(exc)}; the file is damaged "
                               "or truncated, export it again") from None


def _corruption(exc: Exception) -> str:
    """What a flatbuffers exception on malformed input means, in words (found by fuzzing the reader)."""
    if isinstance(exc, struct.error | IndexError):
        return "an offset or length points outside the file"
    if isinstance(exc, ValueError):
        return "a vector is longer than the file"
    if isinstance(exc, TypeError | AttributeError):
        return "a table or union has the wrong type"
    if isinstance(exc, UnicodeDecodeError | OverflowError | MemoryError | RecursionError):
        return f"an impossible value ({type(exc).__name__})"
    return f"unreadable ({type(exc).__name__})"


def _parse(data: bytes) -> TFLiteModel:
    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if not model.subgraphs:
        raise ModelFormatError("the model has no subgraphs")
    opcodes = [_opcode_name(code) for code in (model.operatorCodes or [])]
    buffers = model.buffers or []
    subgraphs = tuple(_subgraph(sg, i, opcodes, buffers, data) for i, sg in enumerate(model.subgraphs))
    description = model.description.decode("utf-8", "replace") if model.description else ""
    return TFLiteModel(data=data, version=int(model.version), description=description, subgraphs=subgraphs)


def _opcode_name(code: Any) -> tuple[str, int, bool]:
    if code.customCode:
        return code.customCode.decode("utf-8", "replace"), int(code.version), True
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = builtin_op_names().get(value)
    if name is None:
        raise ModelFormatError(f"unknown builtin operator code {value}")
    if name == "CUSTOM":
        raise ModelFormatError("custom operator without a custom code")
    return name, int(code.version), False


def _indices(values: Any, limit: int, what: str) -> tuple[int, ...]:
    result = tuple(int(v) for v in (values if values is not None else []))
    for v in result:
        if v < -1 or v >= limit:
            raise ModelFormatError(f"{what} refers to tensor {v}, but the subgraph has {limit} tensors")
    return result


def _subgraph(sg: Any, number: int, opcodes: list, buffers: list, data: bytes) -> Subgraph:
    raw_tensors = sg.tensors or []
    tensors = tuple(_tensor(t, i, buffers, data) for i, t in enumerate(raw_tensors))
    n = len(tensors)
    operators = []
    for i, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(opcodes):
            raise ModelFormatError(f"operator {i} has opcode index {op.opcodeIndex} out of range")
        name, version, custom = opcodes[op.opcodeIndex]
        options_type = builtin_options_names().get(int(op.builtinOptionsType or 0), "")
        operators.append(Operator(
            index=i, opcode=name, version=version,
            inputs=_indices(op.inputs, n, f"operator {i} ({name})"),
            outputs=_indices(op.outputs, n, f"operator {i} ({name})"),
            options=op.builtinOptions, options_type="" if options_type == "NONE" else options_type,
            custom=custom, intermediates=_indices(op.intermediates, n, f"operator {i} ({name})"),
        ))
    name = sg.name.decode("utf-8", "replace") if sg.name else f"subgraph_{number}"
    inputs = _indices(sg.inputs, n, "subgraph inputs")
    outputs = _indices(sg.outputs, n, "subgraph outputs")
    if -1 in inputs or -1 in outputs:
        raise ModelFormatError("subgraph input/output refers to tensor -1")
    return Subgraph(name=name, tensors=tensors, operators=tuple(operators), inputs=inputs, outputs=outputs)


def _tensor(t: Any, index: int, buffers: list, data: bytes) -> Tensor:
    dtype = tensor_type_names().get(int(t.type))
    if dtype is None:
        raise ModelFormatError(f"tensor {index} has unknown type {t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    if any(d < -1 or d > _MAX_DIMENSION for d in shape):
        shown = ", ".join(str(d) for d in shape[:8]) + (", ..." if len(shape) > 8 else "")
        raise ModelFormatError(f"tensor {index} has an invalid shape ({shown})")
    # Python ints, not numpy: a corrupt shape must not overflow into a negative size downstream.
    elements = math.prod(max(d, 1) for d in shape)
    if elements > _MAX_ELEMENTS:
        raise ModelFormatError(f"tensor {index} has {elements:.3g} elements, more than TFLite can address")
    name = t.name.decode("utf-8", "replace") if t.name else f"tensor_{index}"
    quant = None
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        scale = np.asarray(q.scale, dtype=np.float32)
        zero_point = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros_like(scale), dtype=np.int64)
        if zero_point.size != scale.size:
            raise ModelFormatError(f"tensor {index} has {scale.size} scales but {zero_point.size} zero points")
        quant = Quantization(scale=scale, zero_point=zero_point, quantized_dimension=int(q.quantizedDimension))
    if not 0 <= t.buffer < max(len(buffers), 1):
        raise ModelFormatError(f"tensor {index} refers to buffer {t.buffer} out of range")
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quantization=quant,
                  data=_constant(t, dtype, shape, buffers, data, index), is_variable=bool(t.isVariable))


def _constant(t: Any, dtype: str, shape: tuple[int, ...], buffers: list, data: bytes, index: int) -> np.ndarray | None:
    if not buffers or t.buffer == 0:
        return None
    buffer = buffers[t.buffer]
    raw: bytes | None = None
    if buffer.data is not None and len(buffer.data) > 0:
        raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
    elif getattr(buffer, "offset", 0) and buffer.offset > 1:
        if buffer.offset + buffer.size > len(data):
            raise ModelFormatError(f"tensor {index}'s buffer lies outside the file")
        raw = data[buffer.offset:buffer.offset + buffer.size]
    if raw is None:
        return None
    numpy_dtype = NUMPY_DTYPES.get(dtype)
    if numpy_dtype is None:  # int4, string, ...: keep the raw bytes
        return np.frombuffer(raw, dtype=np.uint8)
    itemsize = np.dtype(numpy_dtype).itemsize
    if len(raw) % itemsize:
        raise ModelFormatError(f"tensor {index}'s buffer has {len(raw)} bytes, not a multiple of {itemsize}")
    values = np.frombuffer(raw, dtype=numpy_dtype)
    if shape and -1 not in shape and int(np.prod(shape, dtype=np.int64)) == values.size:
        values = values.reshape(shape)
    return values
