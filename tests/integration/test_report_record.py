"""report.json as one typed record (issue 21): the schema file in docs/ is what edgeq/record.py generates, real
convert / emit / verify outputs validate against it and round-trip through the record, older reports (no
schema_version) are still read, newer ones are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edgeq import record
from edgeq.record import RecordError, parse_report, read_report

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MODEL, CALIB, VAL = (EXAMPLES / n for n in ("digits.keras", "digits_calib.npz", "digits_val.npz"))
TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
         "null": type(None)}


def schema_errors(value: Any, schema: dict[str, Any], where: str = "report") -> list[str]:
    """The subset of JSON Schema that docs/report.schema.json uses: type, enum, properties, required,
    additionalProperties (false or a schema), items."""
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        ok = any(isinstance(value, TYPES[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                 for k in kinds)
        if not ok:
            return [f"{where}: {type(value).__name__} is not {'/'.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: undocumented key {key}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((REPO / "docs" / "report.schema.json").read_text())


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Real outputs: convert with --val and --recover, emit (TFLM and compiled-C), and that emit verified."""
    from edgeq.emit import emit_project
    from edgeq.emulate import store_emulation, verify
    from edgeq.pipeline import ConvertOptions, convert
    from edgeq.validate.options import ValidationOptions

    root = tmp_path_factory.mktemp("records")
    convert(MODEL, root / "convert", ConvertOptions(calib=CALIB, val=VAL, recover=True,
                                                    validation=ValidationOptions(tflm_samples=10, per_layer=False)))
    convert(MODEL, root / "convert-c", ConvertOptions(calib=CALIB, runtime="c", calib_samples=50))
    convert(MODEL, root / "android", ConvertOptions(target="android-arm64", mode="float16"))
    emit_project(root / "convert" / "model.tflite", root / "emit", target="cortex-m4")
    emit_project(root / "convert" / "model.tflite", root / "emit-c", target="cortex-m4", runtime="c")
    shutil.copytree(root / "emit-c", root / "verified")
    store_emulation(root / "verified", verify(root / "verified", samples=2))
    return {name: root / name for name in ("convert", "convert-c", "android", "emit", "emit-c", "verified")}


def test_the_schema_files_are_generated_from_the_record(schema):
    assert schema == record.json_schema(), "regenerate: python -m edgeq.record docs/"
    assert (REPO / "docs" / "report-schema.md").read_text() == record.schema_table(), \
        "regenerate: python -m edgeq.record docs/"
    table = record.schema_table()
    for key in ("`schema_version`", "`target.name`", "`project.files`", "`emulation`", "`model.sha256`"):
        assert key in table


@pytest.mark.parametrize("name", ["convert", "convert-c", "android", "emit", "emit-c", "verified"])
def test_real_reports_validate_and_round_trip(outputs, schema, name):
    data = json.loads((outputs[name] / "report.json").read_text())
    assert schema_errors(data, schema) == []
    assert data["schema_version"] == record.SCHEMA_VERSION
    report = read_report(outputs[name])
    assert report.to_dict() == data  # nothing lost or added on the way through the typed record
    assert parse_report(report.to_dict()) == report
    expected = "edgeq convert" if name in ("convert", "convert-c", "android") else "edgeq emit"
    assert report.written_by == expected and report.target.name == ("android-arm64" if name == "android" else
                                                                     "cortex-m4")
    if name == "convert":
        assert report.validation.passed is True and report.recovery.chosen and report.calibration.samples == 200
        assert report.source.file == "digits.keras" and report.quantization.mode == "int8"
        assert report.project.dir == "tflm-cmake"
    if name == "convert-c":
        assert report.target.engine and report.target.arena is None and report.project.runtime == "c"
    if name == "android":
        assert report.calibration is None and report.quantization.mode == "float16"
    if name == "verified":
        assert report.emulation.status == "passed" and report.emulation.runtime == "c"
        assert report.project.runtime == "c"


def test_the_validator_catches_what_the_schema_forbids(outputs, schema):
    """The schema is strict enough to fail: an undocumented key, a missing key, a wrong type."""
    data = json.loads((outputs["convert"] / "report.json").read_text())
    assert schema_errors({**data, "surprise": 1}, schema) == ["report: undocumented key surprise"]
    missing = {k: v for k, v in data.items() if k != "edgeq_version"}
    assert schema_errors(missing, schema) == ["report: missing edgeq_version"]
    wrong = json.loads(json.dumps(data))
    wrong["target"]["flash"] = "lots"
    assert schema_errors(wrong, schema) == ["report.target.flash: str is not object/null"]
    wrong["target"]["flash"] = data["target"]["flash"]
    wrong["target"]["new_budget"] = {}
    assert schema_errors(wrong, schema) == ["report.target: undocumented key new_budget"]


def test_a_key_the_record_does_not_declare_is_kept_and_flagged_by_the_schema(schema):
    """A step that writes a new key without declaring it loses nothing, and the schema test names the key."""
    target = record.section(record.TargetRecord, {"name": "cortex-m4", "kind": "mcu", "runtime": "tflm",
                                                  "kernels": "cmsis-nn", "gpu": True, "arena": None})
    assert target.extra == {"gpu": True}
    data = record.Report(edgeq_version="0.1.0", written_by="edgeq emit", target=target).to_dict()
    assert data["target"]["gpu"] is True and data["target"]["arena"] is None
    assert schema_errors(data, schema) == ["report.target: undocumented key gpu"]


def test_old_reports_are_recognised_by_their_missing_version(tmp_path, outputs):
    """A report written before schema_version existed (version 0) is read; rewriting keeps it version 0."""
    from edgeq.emulate.verify import EmulationReport, project_runtime, report_target, store_emulation
    from edgeq.staging import check_output_dir

    old = tmp_path / "old"
    shutil.copytree(outputs["emit-c"], old)
    data = json.loads((old / "report.json").read_text())
    del data["schema_version"], data["written_by"]
    (old / "report.json").write_text(json.dumps(data))
    (old / ".edgeq-manifest.json").unlink()  # an output from before the manifest: ownership from report.json
    report = read_report(old)
    assert report.schema_version == 0 and report.written_by is None and report.to_dict() == data
    assert report_target(old) == "cortex-m4" and project_runtime(old) == "c"
    check_output_dir(old, force=True)  # --force recognises it as edgeq's own output
    emulation = EmulationReport(target="cortex-m4", core="cortex-m4", machine="mps2-an386", qemu_version="7.2",
                                cpu_flags=[], samples=1, status="passed")
    store_emulation(old, emulation)
    rewritten = json.loads((old / "report.json").read_text())
    assert "schema_version" not in rewritten and rewritten["emulation"]["status"] == "passed"
    assert rewritten["emulation"]["outputs_equal"] is None  # an explicit null stays null
    assert {k: v for k, v in rewritten.items() if k != "emulation"} == data

    oldest = tmp_path / "oldest"
    oldest.mkdir()
    (oldest / "report.json").write_text('{"edgeq_version": "0.0.1", "target": "cortex-m7"}')
    assert report_target(oldest) == "cortex-m7"


@pytest.mark.parametrize(("data", "fragment"), [
    ({"edgeq_version": "9.0", "schema_version": record.SCHEMA_VERSION + 1}, "written by a newer edgeq"),
    ({"schema_version": 1}, "not an edgeq report"),
    (["a list"], "not an edgeq report"),
    ({"edgeq_version": "0.1.0", "schema_version": "1"}, "is not a version number"),
    ({"edgeq_version": "0.1.0", "project": {"files": "src/main.cc"}}, "report.project.files is not list"),
])
def test_reports_this_edgeq_cannot_read_are_refused(tmp_path, data, fragment):
    from edgeq.emulate.verify import report_target
    from edgeq.errors import VerifyError
    from edgeq.staging import OutputExistsError, check_output_dir

    with pytest.raises(RecordError, match=fragment):
        parse_report(data)
    (tmp_path / "report.json").write_text(json.dumps(data))
    with pytest.raises(VerifyError, match=fragment):
        report_target(tmp_path)
    with pytest.raises(OutputExistsError, match="is not an edgeq output"):  # --force never replaces it
        check_output_dir(tmp_path, force=True)


def test_verify_without_a_report_writes_a_versioned_one(tmp_path, schema):
    from edgeq.emulate.verify import EmulationReport, store_emulation

    emulation = EmulationReport(target="cortex-m4", core="cortex-m4", machine="mps2-an386", qemu_version="7.2",
                                cpu_flags=[], samples=1, status="passed")
    store_emulation(tmp_path, emulation)
    data = json.loads((tmp_path / "report.json").read_text())
    assert schema_errors(data, schema) == [] and data["written_by"] == "edgeq verify"
    assert read_report(tmp_path).target.kernels == "compiled-c" and read_report(tmp_path).emulation.passed


def test_a_new_section_is_one_dataclass(schema):
    """What a future step (compression, #22) does: a dataclass and a field on Report. The schema, the table and
    reading/writing follow without another edit."""
    import dataclasses

    @dataclasses.dataclass
    class CompressionRecord:
        """`compression`: weight clustering and pruning."""

        ratio: float = record.documented("model bytes before / after", 1.0, required=True)
        method: str = record.documented("clustering or pruning", "", required=True)

    extended = dataclasses.make_dataclass(
        "ExtendedReport", [("compression", "CompressionRecord | None", record.documented("compression"))],
        bases=(record.Report,), namespace={"__doc__": "OUT/report.json with compression."})
    extended.__annotations__["compression"] = CompressionRecord | None
    generated = record.object_schema(extended)
    assert generated["properties"]["compression"]["properties"]["ratio"]["type"] == "number"
    assert generated["properties"]["compression"]["required"] == ["ratio", "method"]
    assert generated["properties"]["target"] == schema["properties"]["target"]
    data = {"schema_version": 1, "edgeq_version": "0.1.0", "written_by": "edgeq convert",
            "target": {"name": "cortex-m4", "kind": "mcu", "runtime": "tflm", "kernels": "cmsis-nn"},
            "compression": {"ratio": 3.5, "method": "clustering"}}
    assert schema_errors(data, generated) == [] and schema_errors(data, schema) == [
        "report: undocumented key compression"]
    parsed = record._from_json(extended, data, "report")
    assert parsed.compression == CompressionRecord(3.5, "clustering") and record._to_json(parsed) == data
