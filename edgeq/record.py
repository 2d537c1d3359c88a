"""OUT/report.json as one typed, versioned record: every command writes and reads it through this module.

`edgeq convert` (report.ConvertResult) and `edgeq emit` (emit.emit_report) build a `Report`; `edgeq verify` reads
its target and project (`read_report`) and stores its `emulation` section; `--force` reads the project's file
list to tell edgeq's own output. `schema_version` says which layout a file has: a report without it is an
older edgeq's (version 0), read as far as it goes. The JSON schema (docs/report.schema.json) and its table
(docs/report-schema.md) are generated from these dataclasses. A new report section (compression, say) is one
dataclass here and one field on `Report`, filled by its writer with `section(...)`; then `python -m edgeq.record
docs/` and the schema test validates it on real outputs. A key added without a version bump must be optional.
Step results stay typed in their own packages; a section's deep content (a list of rows) is theirs.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError

SCHEMA_VERSION = 1
REPORT_FILE = "report.json"
MAX_REPORT_BYTES = 64 << 20  # far above any real report (a few hundred KiB with per-layer rows); bounds the read
WRITERS = ("edgeq convert", "edgeq emit", "edgeq verify")  # verify only where OUT had no report.json


class RecordError(EdgeqError):
    """A report.json that is not an edgeq report this edgeq can read (the reason is the message)."""


def doc(text: str, *, required: bool = False, null: bool = False, keys: tuple[str, ...] = (),
        enum: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Field metadata: its description; `required`: every writer of this schema version sets it; `null`: None is
    written as null (else the key is left out); `keys`: keys an open mapping always holds; `enum`: allowed values."""
    return {"doc": text, "required": required, "null": null, "keys": keys, "enum": enum}


def documented(text: str, default: Any = None, **spec: Any) -> Any:
    """A record field with its schema description (`doc` has the keywords); a list or dict default is copied."""
    if isinstance(default, list | dict):
        return field(default_factory=type(default), metadata=doc(text, **spec))
    return field(default=default, metadata=doc(text, **spec))


def _extra() -> Any:
    """Keys a step wrote that its record does not declare (kept, written back; the schema test flags them)."""
    return field(default_factory=dict, metadata={"extra": True})


@dataclass
class ModelRecord:
    """`model`: the .tflite file in OUT."""

    file: str = documented("file name inside OUT", "", required=True)
    sha256: str = documented("sha256 of the file", "", required=True)
    size_bytes: int = documented("file size in bytes", 0, required=True)
    ops: dict[str, int] = documented("operator name -> how many times the model uses it", {}, required=True)
    op_versions: dict[str, int] = documented("operator name -> highest version used", {}, required=True)
    inputs: list[dict[str, Any]] = documented("input tensors: name, shape, dtype, scale, zero_point", [], required=True)
    outputs: list[dict[str, Any]] = documented("output tensors: name, shape, dtype, scale, zero_point", [],
                                           required=True)
    extra: dict[str, Any] = _extra()


@dataclass
class SourceRecord:
    """`source`: the Keras/SavedModel model convert read (convert only)."""

    file: str = documented("file or folder name", "", required=True)
    format: str = documented("keras, h5 or saved_model", "", required=True)
    loader: str = documented("which loader read it (keras, or the tf-keras fallback)", "", required=True)
    sha256: str = documented("sha256 of the file (of the folder's files for a SavedModel)", "", required=True)
    inputs: list[dict[str, Any]] = documented("inputs: name, shape, dtype", [], required=True)
    outputs: list[dict[str, Any]] = documented("outputs: name, shape, dtype", [], required=True)
    compat_fixes: list[str] = documented("what the legacy loader rewrote to load the file", [], required=True)
    extra: dict[str, Any] = _extra()


@dataclass
class QuantizationRecord:
    """`quantization`: how convert quantized (convert only)."""

    mode: str = documented("int8, int16x8, float16 or dynamic", "", required=True)
    io_type: str = documented("the model's input/output type", "", required=True)
    integer_only: bool = documented("no float op left (microcontroller targets)", False, required=True)
    extra: dict[str, Any] = _extra()


@dataclass
class TargetRecord:
    """`target`: the target profile and, after convert's check, the verdict and its numbers."""

    name: str = documented("target profile name", "", required=True)
    kind: str | None = documented("mcu or android", required=True)
    runtime: str | None = documented("what runs the model: tflm, litert or c (edgeq's compiled-C engine)",
                                     required=True)
    kernels: str | None = documented("kernel family: cmsis-nn, reference, esp-nn, xnnpack or compiled-c", required=True)
    ok: bool | None = documented("the model fits and runs (convert)")
    flash: dict[str, Any] | None = documented("flash budget: used, capacity, parts (convert)", keys=("used_bytes",))
    ram: dict[str, Any] | None = documented("RAM budget: used, capacity, parts (convert)", keys=("used_bytes",))
    macs: int | None = documented("multiply-accumulates per inference (convert)")
    latency: dict[str, Any] | None = documented("estimated or counted latency (convert)", keys=("ms",))
    ops: list[dict[str, Any]] | None = documented("per-op support on the target's runtime (convert)")
    rules: list[dict[str, Any]] | None = documented("every fit rule with its verdict (convert)")
    activation_peak: dict[str, Any] | None = documented("the op where live activations peak (convert)")
    arena: dict[str, Any] | None = documented("recommended TFLM arena, measured on the core after verify (null: the "
                                          "runtime has no TFLM arena)")
    engine: dict[str, Any] | None = documented("the compiled-C engine's own figures (convert --runtime c)")
    extra: dict[str, Any] = _extra()


@dataclass
class ProjectRecord:
    """`project`: the firmware project edgeq wrote."""

    dir: str = documented("its folder inside OUT ('.' for edgeq emit)", "", required=True)
    template: str = documented("template name (compiled-c for --runtime c)", "", required=True)
    runtime: str = documented("tflm, litert or c", "", required=True)
    name: str = documented("C symbol prefix", "", required=True)
    arena_bytes: int | None = documented("the arena size compiled into the project (null: none)", required=True,
                                     null=True)
    files: list[str] = documented("every file of the project, relative to its folder", [], required=True)
    engine_memory: dict[str, Any] | None = documented("the compiled-C engine's memory plan (--runtime c)")
    extra: dict[str, Any] = _extra()


@dataclass
class CalibrationRecord:
    """`calibration`: the samples convert calibrated on."""

    source: str = documented("file name, or synthetic:<distribution>:<count>:<seed>", "", required=True)
    sha256: str = documented("sha256 of the samples as used", "", required=True)
    samples: int = documented("how many samples", 0, required=True)
    synthetic: bool = documented("random data (--synthetic-calib)", False, required=True)
    labels: bool = documented("the file held labels y", False, required=True)
    preprocess: dict[str, Any] | None = documented("--scale/--mean/--std/--channel-order when not the identity")
    inputs: list[dict[str, Any]] = documented("per input: min, max, mean, std of the preprocessed samples", [],
                                          required=True)
    extra: dict[str, Any] = _extra()


@dataclass
class ValidationRecord:
    """`validation`: float model vs LiteRT vs TFLM on the validation data (--val)."""

    passed: bool = documented("no check failed", False, required=True)
    verdict: str = documented("one line: what held and what did not", "", required=True)
    model: dict[str, Any] = documented("the .tflite validated: file, sha256", {}, required=True)
    reference: dict[str, Any] | None = documented("the float model compared with (null: none)", required=True)
    data: dict[str, Any] = documented("the validation data: source, samples, sha256, labels", {}, required=True)
    thresholds: dict[str, Any] = documented("every gate's threshold (null: off)", {}, required=True)
    interpreters: dict[str, Any] = documented("float, litert, tflm: ran or skipped, samples", {}, required=True)
    outputs: list[dict[str, Any]] = documented("per output: kind, classes, metrics per interpreter", [], required=True)
    litert_vs_tflm: dict[str, Any] = documented("LiteRT against TFLM in LSB", {}, required=True)
    layers: dict[str, Any] = documented("the per-layer comparison", {}, required=True)
    checks: list[dict[str, Any]] = documented("every metric against its threshold", [], required=True)
    failures: list[str] = documented("the failed checks, one line each", [], required=True)
    explanations: list[str] = documented("why a failed check may have failed", [], required=True)
    warnings: list[str] | None = documented("what about the data the gates cannot judge (a few samples, ...)")
    extra: dict[str, Any] = _extra()


@dataclass
class RecoveryRecord:
    """`recovery`: accuracy recovery (--recover)."""

    chosen: str = documented("the technique shipped", "", required=True)
    kept_plain_int8: bool = documented("no technique beat plain int8", False, required=True)
    summary: str = documented("one line", "", required=True)
    shipped: str = documented("which model was shipped and on how many samples it was calibrated", "", required=True)
    selection: dict[str, Any] = documented("how the technique was chosen: method, held-out samples", {}, required=True)
    gap_closed: dict[str, Any] = documented("the share of the gap to float closed", {}, required=True)
    candidates: list[dict[str, Any]] = documented("every technique: status, detail, scores", [], required=True)
    validation: dict[str, Any] | None = documented("the float model's accuracy on --val, when given")
    extra: dict[str, Any] = _extra()


@dataclass
class EmulationRecord:
    """`emulation`: the firmware run on an emulated board (--verify, edgeq verify)."""

    passed: bool = documented("every output equal to the host TFLM interpreter's", False, required=True)
    status: str = documented("passed, mismatch, fault, timeout, invoke-error or arena-error", "", required=True)
    detail: str = documented("what went wrong, when it did", "", required=True)
    target: str = documented("target profile", "", required=True)
    core: str = documented("CPU core of the emulated board", "", required=True)
    qemu_machine: str = documented("QEMU machine", "", required=True)
    qemu_version: str = documented("QEMU version", "", required=True)
    cpu_flags: list[str] = documented("compiler flags for the core", [], required=True)
    samples: int = documented("golden inputs run", 0, required=True)
    runtime: str = documented("c or tflm", "", required=True)
    kernels: str = documented("compiled-c, cmsis-nn or reference", "", required=True)
    outputs_equal: bool | None = documented("every output equal (null: did not get that far)", required=True)
    max_abs_diff: float | None = documented("largest difference to the host", required=True)
    mismatched_values: int | None = documented("output values that differ", required=True)
    values_compared: int = documented("output values compared", 0, required=True)
    flash_bytes: int | None = documented("flash of the linked image", required=True)
    ram_bytes: int | None = documented("RAM of the linked image", required=True)
    memory: dict[str, Any] = documented("the image's sections, the model's share, the stack used", {}, required=True)
    instructions_per_inference: int | None = documented("guest instructions per inference", required=True)
    instructions_min: int | None = documented("fewest instructions of one sample", required=True)
    instructions_max: int | None = documented("most instructions of one sample", required=True)
    instructions_per_sample: list[int] = documented("instructions per sample", [], required=True)
    instruction_count: str = documented("what is counted", "", required=True)
    macs: int | None = documented("multiply-accumulates per inference", required=True)
    instructions_per_mac: float | None = documented("instructions per MAC", required=True)
    per_op: list[dict[str, Any]] = documented("instructions per operator (compiled-C engine)", [], required=True)
    per_op_type: list[dict[str, Any]] = documented("the same, summed by operator type", [], required=True)
    exit_code: int | None = documented("the guest's exit status", required=True)
    timeout_seconds: float = documented("time the run was allowed", 0.0, required=True)
    arena: dict[str, Any] | None = documented("TFLM's arena on the core: used, needed, given", required=True)
    tflm: dict[str, Any] | None = documented("the TFLM tree and cached library linked (runtime tflm)", required=True)
    extra: dict[str, Any] = _extra()


@dataclass
class Report:
    """OUT/report.json."""

    schema_version: int = documented("layout of this file (absent in reports written before it existed: version 0)",
                                 SCHEMA_VERSION, required=True, enum=(SCHEMA_VERSION,))
    edgeq_version: str = documented("the edgeq that wrote it", "", required=True)
    written_by: str | None = documented("the command that wrote it first", required=True, enum=WRITERS)
    model: ModelRecord | None = documented("the .tflite in OUT (convert, emit)")
    target: TargetRecord | None = documented("the target", required=True)
    source: SourceRecord | None = documented("the source model (convert)")
    quantization: QuantizationRecord | None = documented("how it was quantized (convert)")
    calibration: CalibrationRecord | None = documented("the calibration samples (convert)")
    warnings: list[str] | None = documented("every warning convert printed")
    recovery: RecoveryRecord | None = documented("accuracy recovery (--recover)")
    validation: ValidationRecord | None = documented("validation (--val)")
    project: ProjectRecord | None = documented("the firmware project")
    emulation: EmulationRecord | None = documented("the emulated run (--verify, edgeq verify)")
    extra: dict[str, Any] = _extra()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (a version-0 report read from disk is written back as version 0)."""
        data = _to_json(self)
        if self.schema_version == 0:
            data.pop("schema_version", None)
        return data


# --------------------------------------------------------------------------------------------- (de)serializing

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # each class's annotations in its own module


def _to_json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        data: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("extra"):
                data.update({k: v for k, v in value.items() if k not in data})
            elif value is not None or f.metadata.get("null") or f.name in getattr(obj, "_nulls", ()):
                data[f.name] = _to_json(value)
        return data
    if isinstance(obj, list | tuple):
        return [_to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    return obj


def _strip_none(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return args[0] if is_union and len(args) == 1 else hint


_PLAIN = {str: str, int: int, float: (int, float), bool: bool, list: list, dict: dict}


def _from_json(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RecordError(f"{where} is not an object")
    hints, values, extra = _hints(cls), {}, {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        f = names.get(key)
        if f is None or f.metadata.get("extra"):
            extra[key] = value
            continue
        hint = _strip_none(hints[key])
        if value is None:
            values[key] = None
        elif dataclasses.is_dataclass(hint):
            values[key] = _from_json(hint, value, f"{where}.{key}")
        else:
            expected = _PLAIN.get(typing.get_origin(hint) or hint)
            if expected is not None and (not isinstance(value, expected) or
                                         (expected is int and isinstance(value, bool))):
                raise RecordError(f"{where}.{key} is not {getattr(hint, '__name__', str(hint))}")
            values[key] = value
    if "extra" in names:
        values["extra"] = extra
    made = cls(**values)
    made._nulls = frozenset(k for k, v in data.items() if v is None and k in names)  # written back as null
    return made


def parse_report(data: Any) -> Report:
    """The Report in a parsed report.json; RecordError if it is not an edgeq report this edgeq can read. A report
    without `schema_version` is version 0 (an older edgeq's), read leniently: its old `"target": "name"` too."""
    if not isinstance(data, dict) or not isinstance(data.get("edgeq_version"), str):
        raise RecordError("not an edgeq report (no edgeq_version)")
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise RecordError(f"schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise RecordError(f"written by a newer edgeq (schema_version {version}; this edgeq reads up to "
                          f"{SCHEMA_VERSION})")
    data = dict(data)
    if version == 0 and isinstance(data.get("target"), str):
        data["target"] = {"name": data["target"]}
    report = _from_json(Report, data, "report")
    report.schema_version = version
    return report


def read_report(out_dir: str | Path) -> Report:
    """OUT/report.json as a Report; RecordError naming why not (missing, not a file, too large, not JSON, not
    edgeq's, too new)."""
    path = Path(out_dir) / REPORT_FILE
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read, a device never end it
            raise RecordError(f"{path} is not a regular file")
        if info.st_size > MAX_REPORT_BYTES:
            raise RecordError(f"{path} holds {info.st_size:,} bytes, over the {MAX_REPORT_BYTES >> 20} MiB an "
                              "edgeq report can have")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path} cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"{path} is not valid JSON ({exc})") from None
    try:
        return parse_report(data)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from None


def section(cls: type, data: dict[str, Any]) -> Any:
    """A typed section from the mapping its step produced (target_report, model_info, ValidationReport.to_dict()):
    an explicit null stays null; a key the dataclass does not declare is kept in `extra` (so nothing is lost)
    and is an error for the schema test, which validates real outputs."""
    return _from_json(cls, data, cls.__name__)


# --------------------------------------------------------------------------------------------- the schema

def _nullable(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _schema_of(hint: Any, meta: dict[str, Any]) -> dict[str, Any]:
    hint = _strip_none(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return object_schema(hint)
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0], {})}
    if origin is dict or hint is dict:
        schema: dict[str, Any] = {"type": "object"}
        if args and args[1] is not Any:
            schema["additionalProperties"] = _schema_of(args[1], {})
        if meta.get("keys"):
            schema["required"] = list(meta["keys"])
        return schema
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": names[hint]} if hint in names else {}


def object_schema(cls: type) -> dict[str, Any]:
    hints = _hints(cls)
    properties, required = {}, []
    for f in dataclasses.fields(cls):
        if f.metadata.get("extra"):
            continue
        schema = {"description": f.metadata["doc"], **_schema_of(hints[f.name], f.metadata)}
        if _nullable(hints[f.name]) and "type" in schema:  # a field typed `X | None` may be written as null
            schema["type"] = [schema["type"], "null"]
        if f.metadata.get("enum"):
            schema["enum"] = list(f.metadata["enum"])
        properties[f.name] = schema
        if f.metadata.get("required"):
            required.append(f.name)
    return {"type": "object", "description": (cls.__doc__ or "").strip(), "properties": properties,
            "required": required, "additionalProperties": False}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of report.json at SCHEMA_VERSION, from the dataclasses above."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "edgeq/report.schema.json",
            "title": f"edgeq OUT/report.json, schema_version {SCHEMA_VERSION}", **object_schema(Report)}


def schema_table(schema: dict[str, Any] | None = None) -> str:
    """The schema as a Markdown table: one row per key (nested keys dotted), its type, whether it is always
    there, and what it holds."""
    schema = schema or json_schema()
    rows = ["| key | type | always | description |", "| --- | --- | --- | --- |"]

    def visit(node: dict[str, Any], prefix: str) -> None:
        for key, child in node.get("properties", {}).items():
            kind = child.get("type", "any")
            kind = " or ".join(kind) if isinstance(kind, list) else kind
            if kind == "array" and child["items"].get("type"):
                kind = f"array of {child['items']['type']}"
            always = "yes" if key in node.get("required", []) else ""
            rows.append(f"| `{prefix}{key}` | {kind} | {always} | {child.get('description', '')} |")
            if child.get("properties"):
                visit(child, f"{prefix}{key}.")

    visit(schema, "")
    return (f"# report.json (schema_version {SCHEMA_VERSION})\n\nGenerated from `edgeq/record.py` "
            "(`python -m edgeq.record docs/`); the JSON Schema is `docs/report.schema.json`. A report without "
            "`schema_version` was written by an older edgeq (version 0) and is still read.\n\n"
            + "\n".join(rows) + "\n")


def write_docs(folder: Path) -> None:
    """Write report.schema.json and report-schema.md into `folder` (docs/ in the repository)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.schema.json").write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    (folder / "report-schema.md").write_text(schema_table(), encoding="utf-8")


if __name__ == "__main__":  # python -m edgeq.record docs/
    write_docs(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
