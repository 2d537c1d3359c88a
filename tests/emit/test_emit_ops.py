"""model_ops.h: the op table (edgeq/data/tflm_ops.toml) covers TFLM's MicroMutableOpResolver, and a resolver
registering every op in it compiles against TFLM's API (the shim lists the pinned revision's methods)."""

from __future__ import annotations

import re

import pytest
from emit_cc import TFLM_SHIM, Job, run_jobs

from edgeq.check.optable import load_op_table, table_source
from edgeq.check.targets import get_target
from edgeq.emit import write_project
from edgeq.emit.sources import OpEntry, op_entries
from edgeq.errors import UnsupportedOpError
from edgeq.render import macro_prefix, render
from edgeq.tflite import read_model

RESOLVER_SHIM = TFLM_SHIM / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
NOT_OPS = {"AddCustom", "AddBuiltin"}  # generic registration entry points, not one op each


def resolver_methods() -> set[str]:
    """The Add* methods of TFLM's MicroMutableOpResolver at the op table's commit (from the shim)."""
    return set(re.findall(r"TfLiteStatus (Add\w+)\(", RESOLVER_SHIM.read_text())) - NOT_OPS


def shim_declarations() -> dict[str, str]:
    """Registration function -> the TFLM header (in the shim) that declares it."""
    found = {}
    for header in (TFLM_SHIM / "tensorflow" / "lite" / "micro" / "kernels").glob("*.h"):
        for name in re.findall(r"TFLMRegistration (Register_\w+)\(\);", header.read_text()):
            found[name] = f"tensorflow/lite/micro/kernels/{header.name}"
    return found


def test_shim_and_table_describe_the_same_tflm() -> None:
    assert table_source()["commit"] in RESOLVER_SHIM.read_text()


def test_every_op_has_a_resolver_method_and_every_method_an_op() -> None:
    table = load_op_table()
    methods = resolver_methods()
    assert len(methods) > 100
    assert all(info.resolver_method.startswith("Add") for info in table.values())
    in_table = {info.resolver_method for info in table.values()}
    assert methods - in_table == set(), "TFLM resolver methods the op table lacks"
    assert in_table - methods == set(), "op table methods TFLM's resolver does not have"


def test_int8_registrations_are_declared_where_model_ops_h_includes() -> None:
    declared = shim_declarations()
    resolver_includes = set(re.findall(r'#include "(tensorflow/lite/micro/kernels/\w+\.h)"', RESOLVER_SHIM.read_text()))
    for name, info in load_op_table().items():
        if not info.int8_registration:
            continue
        header = declared.get(info.int8_registration)
        assert header is not None, f"{name}: {info.int8_registration} is not a TFLM function"
        if header in resolver_includes:
            assert info.int8_header is None, f"{name}: micro_mutable_op_resolver.h already includes {header}"
        else:
            assert info.int8_header == header, f"{name}: model_ops.h must include {header}"


@pytest.mark.arm
def test_a_resolver_with_every_op_compiles(tmp_path, tools) -> None:
    """model_ops.h rendered with every op of the table (int8 kernels where they exist) compiles."""
    ops = [OpEntry(name=name, method=info.resolver_method, int8_registration=info.int8_registration or "",
                   header=(info.int8_header or "") if info.int8_registration else "")
           for name, info in sorted(load_op_table().items())]
    context = {"banner": ["test"], "name": "all_ops", "NAME": macro_prefix("all_ops"), "ops": ops,
               "op_headers": sorted({op.header for op in ops if op.header})}
    header = tmp_path / "model_ops.h"
    header.write_text(render("_sources/model_ops.h.j2", context))
    user = tmp_path / "use.cc"
    user.write_text('#include "model_ops.h"\nTfLiteStatus use(all_ops_op_resolver& r);\n'
                    "TfLiteStatus use(all_ops_op_resolver& r) { return all_ops_register_ops(r); }\n")
    text = header.read_text()
    assert "MicroMutableOpResolver<ALL_OPS_OP_COUNT>" in text and f"#define ALL_OPS_OP_COUNT {len(ops)}" in text
    run_jobs([Job(tools["g++"], user, "c++", (), (tmp_path, TFLM_SHIM)),
              Job(tools["g++"], user, "c++", ("-DALL_OPS_INT8_KERNELS=0",), (tmp_path, TFLM_SHIM))])


def test_model_ops_registers_exactly_the_models_ops(tmp_path, digits_int8) -> None:
    write_project(digits_int8, tmp_path, target=get_target("cortex-m4"), template="tflm-cmake", name="digits")
    text = (tmp_path / "src" / "model_ops.h").read_text()
    ops = digits_int8.op_counts()
    assert f"#define DIGITS_OP_COUNT {len(ops)}" in text
    table = load_op_table()
    registered = re.findall(r"resolver\.(Add\w+)\(\) != kTfLiteOk", text)
    assert sorted(registered) == sorted(table[name].resolver_method for name in ops)


def test_int16_ops_use_the_generic_kernel(digits_int16x8) -> None:
    """int16x8 models must not get the int8-only kernel variants."""
    assert all(entry.int8_registration == "" for entry in op_entries(digits_int16x8))


def test_an_op_tflm_lacks_is_refused(tiny_int8) -> None:
    table = {k: v for k, v in load_op_table().items() if k != "SOFTMAX"}
    with pytest.raises(UnsupportedOpError, match="SOFTMAX"):
        op_entries(tiny_int8, table)


def test_person_model_with_custom_free_ops(person_path) -> None:
    model = read_model(person_path)
    entries = op_entries(model)
    names = [entry.name for entry in entries]
    assert names == sorted(model.op_counts())
    assert "AVERAGE_POOL_2D" in names
    # every tensor is int8, so each op with an int8-only kernel gets it
    assert {e.name for e in entries if e.int8_registration} == {"AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D",
                                                                 "SOFTMAX"}
