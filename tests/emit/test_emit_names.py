"""Names from users and model files cannot break or inject into generated code."""

from __future__ import annotations

import re

import pytest
from emit_cc import project_jobs, run_jobs
from emit_models import build_tiny_model

from edgeq.check.targets import get_target
from edgeq.emit import write_project
from edgeq.emit.boards import data_dir
from edgeq.render import (
    MAX_IDENTIFIER,
    c_identifier,
    c_string_literal,
    comment_text,
    kotlin_class_name,
    kotlin_package_segment,
)
from edgeq.tflite import read_model

HOSTILE = [
    "", " ", "model", "Model", "123", "9lives", "_private", "__reserved", "int", "class", "NULL", "main",
    "*/ #include <stdio.h> /*", 'x"; system("rm -rf /"); //', "a\nb\r\nc", "\\\n#error injected", "??/", "tab\there",
    "über-net ✓", "名前", "a" * 200, "../../etc/passwd", "$(reboot)", "`id`", "x" + "\x00" + "y", "--", "---a---",
]
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


@pytest.mark.parametrize("name", HOSTILE)
def test_identifiers_are_valid_c(name: str) -> None:
    ident = c_identifier(name)
    assert IDENTIFIER.fullmatch(ident), ident
    assert len(ident) <= MAX_IDENTIFIER
    assert "__" not in f"{ident}_model_data", "C++ reserves identifiers containing a double underscore"
    assert c_identifier(ident) == ident, "sanitizing is idempotent"
    assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", kotlin_class_name(ident))
    assert kotlin_class_name(ident).endswith("Model")
    assert re.fullmatch(r"[a-z][a-z0-9_]*", kotlin_package_segment(ident))


def test_keywords_and_reserved_names_are_escaped() -> None:
    assert c_identifier("int") == "m_int"  # a prefix: `int_` would give `int__model_data`
    assert c_identifier("NULL") == "m_null"
    assert c_identifier("tflite") == "m_tflite"
    assert c_identifier("__init__") == "init"
    assert c_identifier("7up") == "m_7up"
    assert c_identifier("") == "model"
    assert c_identifier("Über Net") == "uber_net"


def test_comment_text_cannot_end_a_comment() -> None:
    for text in HOSTILE:
        safe = comment_text(text)
        assert "*/" not in safe and "/*" not in safe and "\n" not in safe and "\r" not in safe
        assert "??" not in safe and "\\" not in safe
        assert all(" " <= ch <= "~" for ch in safe)


def test_string_literal_escapes_everything_risky() -> None:
    literal = c_string_literal('a"b\\c??/\n')
    assert literal.startswith('"') and literal.endswith('"')
    assert '"' not in literal[1:-1] and "\\\\" not in literal and "??" not in literal and "\n" not in literal


@pytest.mark.arm
def test_hostile_names_compile(tmp_path, tools) -> None:
    """A hostile --name and hostile tensor names give a project that compiles and contains neither verbatim."""
    tensor_name = "in */ #error pwned /* ??/\n\\"
    model = read_model(build_tiny_model(tensor_name=tensor_name))
    name = 'x"; */ #error injected\n//'
    jobs = []
    for template in ("tflm-cmake", "arduino"):
        project = tmp_path / template
        result = write_project(model, project, target=get_target("cortex-m4"), template=template, name=name)
        assert result.name == "x_error_injected"
        for path in project.rglob("*"):
            text = path.read_text() if path.is_file() else ""
            assert name not in text and tensor_name not in text, path
            if path.relative_to(project).as_posix() == "board/qemu/startup.c":  # fixed code; its #error is its own
                assert text == (data_dir() / "startup.c").read_text()
                continue
            # the only #error is the sketch's own refusal of boards no library serves
            assert re.search(r'^\s*#\s*error(?! "edgeq: no Arduino)', text, re.MULTILINE) is None, path
        jobs += project_jobs(project, template, result.name, tools["g++"], tools["gcc"])
    run_jobs(jobs)


def test_several_outputs_are_each_identifiable_by_name() -> None:
    from edgeq.emit.sources import named_constants

    assert named_constants("output", ["probs", "box-coords", "probs"]) == \
        ["OUTPUT_PROBS_0", "OUTPUT_BOX_COORDS", "OUTPUT_PROBS_2"]
    assert named_constants("input", ["a", "a", "a_1"]) == ["INPUT_A_0", "INPUT_A_1", "INPUT_A_1_2"]
    assert named_constants("input", ["", "é"]) == ["INPUT_0", "INPUT_E"]
