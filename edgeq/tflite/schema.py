"""The TFLite flatbuffer schema module, from ai-edge-litert or, failing that, TensorFlow."""

from __future__ import annotations

from functools import cache
from types import ModuleType

from edgeq.errors import ModelFormatError


@cache
def schema() -> ModuleType:
    """Return the generated TFLite schema module (`schema_py_generated`)."""
    try:
        from ai_edge_litert import schema_py_generated as module
    except ImportError:
        try:
            from tensorflow.lite.python import schema_py_generated as module
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise ModelFormatError("no TFLite schema module: install ai-edge-litert") from exc
    return module


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


@cache
def builtin_op_names() -> dict[int, str]:
    """BuiltinOperator value -> name, e.g. 3 -> 'CONV_2D'."""
    return _enum_names(schema().BuiltinOperator)


@cache
def builtin_options_names() -> dict[int, str]:
    """BuiltinOptions union tag -> options table name, e.g. 'Conv2DOptions'."""
    return _enum_names(schema().BuiltinOptions)


@cache
def tensor_type_names() -> dict[int, str]:
    """TensorType value -> lower-case dtype name, e.g. 9 -> 'int8'."""
    return {value: name.lower() for value, name in _enum_names(schema().TensorType).items()}


@cache
def activation_names() -> dict[int, str]:
    """ActivationFunctionType value -> name, e.g. 1 -> 'RELU'."""
    return _enum_names(schema().ActivationFunctionType)
