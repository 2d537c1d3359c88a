"""edgeq's seven kinds of TOML data file load through the one schema loader (edgeq/schema.py): the shipped files
load, and a wrong key or type in any of them is a one-line error naming the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeq import resources, schema
from edgeq.check import c_engine, optable
from edgeq.check.targets import load_targets
from edgeq.emit import boards, tflm_build
from edgeq.errors import EdgeqError
from edgeq.templates import registry, shared_sources


def test_every_shipped_data_file_loads() -> None:
    assert "cortex-m4" in load_targets() and "zephyr" in registry()
    assert shared_sources()["model_data.cc.j2"] == "model_data{ext}"
    assert optable.load_op_table()["CONV_2D"].int8_registration == "Register_CONV_2D_INT8"
    assert boards.machines()["mps2-an386"].cpu == "cortex-m4"
    assert tflm_build.build_settings().device_header == "edgeq_cmsis_device.h"
    fit = c_engine.load_fit()
    assert fit.default_core in fit.code and fit.cpi["default"] > 0 and "invoke" in fit.instructions


def _copy(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_op_table_names_op_and_key(tmp_path) -> None:
    path = _copy(tmp_path, resources.data_dir("tflm_ops.toml"))
    _edit(path, 'resolver_method = "AddConv2D"', "resolver_method = 2")
    with pytest.raises(EdgeqError, match=r"^tflm_ops.toml \[ops.CONV_2D\]: resolver_method: expected str, got int 2$"):
        optable._load.__wrapped__(path)


def test_the_machine_table_names_machine_region_and_key(tmp_path, monkeypatch) -> None:
    path = _copy(tmp_path, boards.data_dir() / "machines.toml")
    _edit(path, 'cpu = "cortex-m4"', 'cpu = "cortex-m4"\nclock = 1')
    monkeypatch.setattr(boards, "data_dir", lambda: tmp_path)
    with pytest.raises(EdgeqError, match=r"^machines.toml \[mps2-an386\]: unknown key\(s\) clock; known: cpu"):
        boards.machines.__wrapped__()
    _edit(path, "clock = 1", "")
    _edit(path, "length = 0x00400000, note", "size = 4, note")
    with pytest.raises(EdgeqError, match=r"^machines.toml \[mps2-an385.flash\]: unknown key\(s\) size"):
        boards.machines.__wrapped__()


def test_the_tflm_build_settings_name_the_key(tmp_path, monkeypatch) -> None:
    path = _copy(tmp_path, resources.data_dir("tflm_build.toml"))
    _edit(path, "device_header = ", "device_header = 1\nold_device_header = ")
    monkeypatch.setattr(resources, "data_dir", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(EdgeqError, match=r"^tflm_build.toml: unknown key\(s\) old_device_header"):
        tflm_build.build_settings.__wrapped__()


def test_the_engine_fit_names_core_function_and_key(tmp_path, monkeypatch) -> None:
    path = _copy(tmp_path, resources.data_dir(c_engine.FIT_FILE))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("eq_add_s8 = { bytes = ", 'eq_add_s8 = { bytes = "many", was = ', 1),
                    encoding="utf-8")
    monkeypatch.setattr(c_engine, "data_dir", lambda *parts: tmp_path.joinpath(*parts))
    with pytest.raises(EdgeqError, match=r"^engine_fit.toml \[code.cortex-m0plus.functions.eq_add_s8\]: "
                                         r"unknown key\(s\) was; known: bytes, calls$"):
        c_engine.load_fit.__wrapped__()


def test_the_shared_sources_list_names_the_key(tmp_path, monkeypatch) -> None:
    from edgeq import templates

    shutil.copytree(resources.templates_dir() / "_sources", tmp_path / "_sources")
    _edit(tmp_path / "_sources" / "sources.toml", "[outputs]", "[output]")
    monkeypatch.setattr(templates, "templates_dir", lambda: tmp_path)
    with pytest.raises(EdgeqError, match=r"^sources.toml: unknown key\(s\) output; known: outputs$"):
        templates.shared_sources.__wrapped__()


def test_a_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(schema.DataFileError, match="nothing.toml: cannot read the file: No such file"):
        schema.read_toml(tmp_path / "nothing.toml")
