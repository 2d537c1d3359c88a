"""The TFLM op table (edgeq/data/tflm_ops.toml) against the installed tflite-micro runtime.

For every builtin op of the TFLite schema, a two-op model [op, TOPK_V2] goes to the TFLM interpreter.
TFLM resolves every op before it prepares any, so the first op it cannot find is named in its log: the op
under test when TFLM lacks it, else TOPK_V2 (which TFLM lacks). No kernel ever runs.
"""

from __future__ import annotations

import re

import pytest

from edgeq.check.optable import load_op_table, table_source
from edgeq.tfenv import captured_output
from edgeq.tflite.schema import builtin_op_names, schema

SENTINEL = "TOPK_V2"
_NOT_FOUND = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'")


def _unresolved(tflite_builder, name: str, custom: bool = False) -> str:
    """The op TFLM reports it cannot find in the model [name, SENTINEL] ('CUSTOM' for a custom op)."""
    from tflite_micro import runtime

    T, Op = tflite_builder.T, tflite_builder.Op
    # the Python wrapper reads VAR_HANDLE's options itself before TFLM sees the model
    options = schema().VarHandleOptionsT() if name == "VAR_HANDLE" else None
    data = tflite_builder.build([T((1, 4), "float32"), T((1, 4), "float32")],
                                [Op(name, [0], [1], options, custom=custom), Op(SENTINEL, [0], [1])], [0], [1])
    with captured_output() as log, pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(data, arena_size=1 << 16)
    found = _NOT_FOUND.search(log[0])
    if found:
        return found.group(1)
    assert "Failed to get registration from op code CUSTOM" in log[0], log[0]
    return "CUSTOM"


def test_sentinel_is_not_registered():
    assert SENTINEL not in load_op_table()


def test_every_builtin_op_is_registered_exactly_when_the_table_says(tflite_builder):
    table = load_op_table()
    names = sorted(n for n in builtin_op_names().values() if n not in ("CUSTOM", "PLACEHOLDER_FOR_GREATER_OP_CODES"))
    registered = {name for name in names if _unresolved(tflite_builder, name) != name}
    assert registered == {name for name, info in load_op_table().items() if not info.custom}
    assert len(registered) >= 95  # TFLM registered 100 builtin ops when the table was made
    assert {n for n in names if n not in table} == set(names) - registered


def test_custom_ops_are_registered_unless_they_need_a_build_option(tflite_builder):
    for name, info in load_op_table().items():
        if info.custom:
            unresolved = _unresolved(tflite_builder, name, custom=True)
            assert (unresolved == SENTINEL) == (info.requires is None), name
    assert _unresolved(tflite_builder, "NotATflmOp", custom=True) == "CUSTOM"


def test_table_rows_are_consistent():
    table = load_op_table()
    enum = schema().BuiltinOperator
    for name, info in table.items():
        assert info.resolver_method.startswith("Add"), name
        if not info.custom:
            assert hasattr(enum, name), name
            assert info.registration == f"Register_{name}", name
        for reg in (info.int8_registration, info.int16_registration):
            if reg is not None:  # type-specialised kernels exist only where CMSIS-NN has an optimized one
                assert info.cmsis_nn and reg.startswith(f"Register_{name}_INT"), name
    assert re.fullmatch(r"[0-9a-f]{40}", table_source()["commit"])


def test_the_resolver_facts_the_emitter_needs():
    table = load_op_table()
    conv = table["CONV_2D"]
    assert (conv.resolver_method, conv.cmsis_nn, conv.int8_registration) == (
        "AddConv2D", True, "Register_CONV_2D_INT8")
    assert table["DEPTHWISE_CONV_2D"].resolver_method == "AddDepthwiseConv2D"
    assert table["FULLY_CONNECTED"].int8_registration == "Register_FULLY_CONNECTED_INT8"
    assert table["RESHAPE"].cmsis_nn is False and table["RESHAPE"].int8_registration is None
    assert table["TFLite_Detection_PostProcess"].custom
    # the CMSIS-NN int8 kernels FACTS.md lists
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "MAX_POOL_2D",
            "AVERAGE_POOL_2D"} <= {name for name, info in load_op_table().items() if info.cmsis_nn}
    assert table["CONV_2D"].esp_nn and not table["TRANSPOSE"].esp_nn
