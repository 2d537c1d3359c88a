"""`edgeq convert`: the whole pipeline, and its summary table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from edgeq.cli.app import (
    CONTEXT_SETTINGS,
    PREPROCESS_KEYS,
    OutputPath,
    RichProgress,
    State,
    build_preprocess,
    cli,
    common_options,
    preprocess_options,
    print_json,
)
from edgeq.cli.gates import gate_names, gate_options, validation_options

if TYPE_CHECKING:
    from edgeq.report import ConvertResult


def _used_of(used: int, capacity: int) -> str:
    """'22.0 of 256 KiB', '4.0 of 4,096 MiB'; a use too small for the capacity's unit gets its own
    ('2.5 KiB of 4,096 MiB', not '0.0 of 4,096 MiB')."""
    unit, scale = ("MiB", 1024 * 1024) if capacity >= 16 * 1024 * 1024 else ("KiB", 1024)
    if unit == "MiB" and used < 0.1 * scale:
        return f"{used / 1024:,.1f} KiB of {capacity / scale:,.0f} {unit}"
    return f"{used / scale:,.1f} of {capacity / scale:,.0f} {unit}"


def _milliseconds(ms: float) -> str:
    """'1.71 ms', '0.0032 ms': three significant digits below 1 ms, so a phone's microseconds are not '0.00'."""
    return f"{ms:,.2f} ms" if ms >= 1 else f"{ms:.3g} ms"


def _summary_table(result: ConvertResult) -> Table:
    """The terminal summary of a conversion, from its typed results."""
    table = Table(title=Text(f"edgeq convert → {result.out_dir}"), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str) -> None:
        table.add_row(label, Text(value))  # Text: names from the model are never read as rich markup

    tflite = result.tflite
    row("target", result.target.name)
    row("mode", f"{result.quantization.mode} (I/O {result.quantization.effective_io_type})")
    row("model.tflite", f"{tflite.size:,} bytes")
    row("ops", ", ".join(f"{name}×{count}" for name, count in tflite.op_counts().items()))
    from edgeq.tflite.signature import io_names

    names = io_names(tflite)
    for kind, tensors, labels in (("input", tflite.main.input_tensors(), names[0]),
                                  ("output", tflite.main.output_tensors(), names[1])):
        for t, label in zip(tensors, labels, strict=True):
            q = t.quantization
            quant = f" scale={float(q.scale[0]):.6g} zp={int(q.zero_point[0])}" if q is not None and \
                len(q.scale) == 1 else ""
            tensor = f" (tensor {t.name})" if t.name != label else ""
            row(kind, f"{label}: {list(t.shape)} {t.dtype}{quant}{tensor}")
    if result.samples is not None:
        row("calibration", f"{result.samples.source} ({result.samples.count} samples)")
        for stat in result.samples.stats():
            row("calib input", f"{stat.name}: {stat.describe()}")
    check = result.check
    if check is not None:
        arena = "" if check.arena is None else (
            f", arena {check.arena.recommended_bytes:,} B recommended "
            f"(host TFLM measured {check.arena.measured.host_bytes:,} B + kernel buffers + margin)")
        row("fits" if check.ok else "DOES NOT FIT", f"flash {_used_of(check.flash.used, check.flash.capacity)}, "
                    f"RAM {_used_of(check.ram.used, check.ram.capacity)}{arena}; "
                    f"~{_milliseconds(check.latency.ms)} ({check.latency.label})")
    project = result.project
    if project is not None:
        row("project", f"{project.out_dir.name}/ ({project.template}, {len(project.files)} files, "
                       f"symbol prefix {project.name})")
    if result.recovery is not None:
        row("recovery", result.recovery.summary())
    validation = result.validation
    if validation is not None:
        held = sum(c.status == "passed" for c in validation.checks)
        row("validation", f"{'passed' if validation.passed else 'FAILED'}: {held} of {len(validation.checks)} "
                          "checks held (validation.html, validation.junit.xml)")
    emulation = result.emulation
    if emulation is not None:
        instructions = emulation.instructions_per_inference
        counted = f", {instructions:,} instructions/inference" if instructions else ""
        row("emulation", f"{emulation.status} on {emulation.machine}: max diff {emulation.max_abs_diff} over "
                         f"{emulation.samples} samples{counted}")
    return table


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", default="cortex-m4", show_default=True, help="Target profile (see `edgeq targets`).")
@click.option("-o", "--output", "out_dir", type=OutputPath("DIR"), default="edgeq-out", show_default=True,
              help="Output folder: absent, empty, or an earlier edgeq output with --force.")
@click.option("--calib", type=click.Path(path_type=Path),
              help="Calibration data: .npy [N,*shape], .npz (key x, or one key per input) or an image folder.")
@click.option("--calib-samples", type=click.IntRange(min=1), help="Use at most N samples (seeded selection).")
@click.option("--synthetic-calib", is_flag=True, help="Calibrate on random data (NOT recommended; warns).")
@click.option("--mode", type=click.Choice(["int8", "int16x8", "float16", "dynamic"]), default="int8",
              show_default=True, help="Quantization: int8 / int16x8 (MCU and Android); float16 / dynamic (Android).")
@click.option("--io-type", type=click.Choice(["int8", "uint8", "float32"]), default="int8", show_default=True,
              help="Model input/output type (int8 means int16 for int16x8).")
@preprocess_options
@click.option("--unsafe-load", is_flag=True,
              help="Allow Keras unsafe deserialization (Lambda layers). Trusted files only.")
@click.option("--force", is_flag=True,
              help="Replace an earlier edgeq output in OUT (never a folder holding other files or an input).")
@click.option("--template", help="Firmware project template (see `edgeq templates`; default: the target's).")
@click.option("--name", default="model", show_default=True,
              help="C symbol prefix of the generated sources (sanitized to a C identifier).")
@click.option("--runtime", type=click.Choice(["tflm", "c"]), default="tflm", show_default=True,
              help="tflm: a TensorFlow Lite Micro project from --template; c: edgeq's compiled-C engine.")
@click.option("--val", type=click.Path(path_type=Path),
              help="Validation data (.npz with x, or one key per input, and optional labels y; .npy; or an image "
                   "folder): validate float vs LiteRT vs TFLM after "
                   "quantizing; results in report.json, OUT/validation.html and OUT/validation.junit.xml.")
@gate_options
@click.option("--recover", is_flag=True,
              help="Try accuracy-recovery techniques (activation clipping, bias correction, cross-layer "
                   "equalization, int16x8 as the last resort), chosen on held-out calibration samples; keep the best.")
@click.option("--verify", is_flag=True,
              help="Build for the target's core and run on an emulated board (QEMU); fails on any output that "
                   "differs from the host TFLM interpreter. --runtime tflm needs --tflm-tree; the arena TFLM used "
                   "on the core then sets the project's arena.")
@click.option("--tflm-tree", type=click.Path(path_type=Path, file_okay=False), envvar="EDGEQ_TFLM_TREE",
              help="TFLM sources for --verify --runtime tflm: a tree made by tflite-micro's create_tflm_tree.py "
                   "[env: EDGEQ_TFLM_TREE].")
@click.option("--verify-samples", type=click.IntRange(min=1), default=8, show_default=True,
              help="Golden inputs to run on the emulated board with --verify.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary table.")
@common_options
@click.pass_obj
def convert(state: State, model: Path, target: str, out_dir: Path, calib: Path | None, calib_samples: int | None,
            synthetic_calib: bool, mode: str, io_type: str, unsafe_load: bool, force: bool, template: str | None,
            name: str, runtime: str, val: Path | None, recover: bool, verify: bool, tflm_tree: Path | None,
            verify_samples: int, as_json: bool, **options: Any) -> None:
    """Convert MODEL (.keras, .h5 or SavedModel dir) to a full-integer .tflite for a target.

    Writes OUT/model.tflite, OUT/report.json and a firmware project in OUT/<template>/ (OUT/compiled-c/ with
    --runtime c). Nothing is written when a step fails; a model that converts but misses a validation gate,
    does not fit the target or differs on the emulated board still gets OUT (to inspect), and exit code 1.
    """
    from edgeq.pipeline import ConvertOptions, convert_failure
    from edgeq.pipeline import convert as run_convert

    preprocessing = {key: options.pop(key) for key in PREPROCESS_KEYS}
    gates = {key: options.pop(key) for key in gate_names()}
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params
             if p.name in gates and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
    if given and val is None:
        raise click.UsageError(f"{', '.join(given)}: validation options apply only with --val (validation data)")

    preprocess = build_preprocess(**preprocessing)
    options = ConvertOptions(target=target, mode=mode, io_type=io_type, calib=calib, calib_samples=calib_samples,
                             synthetic_calib=synthetic_calib, preprocess=preprocess, unsafe_load=unsafe_load,
                             force=force, template=template, name=name, runtime=runtime, val=val,
                             verify=verify, verify_samples=verify_samples, tflm_tree=tflm_tree, recover=recover,
                             validation=validation_options(**gates))
    progress = RichProgress(state.err)
    try:
        result = run_convert(model, out_dir, options, progress, raise_failures=False)
    finally:
        progress.close()
    if as_json:
        print_json(result.report)
    else:
        state.out.print(_summary_table(result))
    failure = convert_failure(result)  # a missed gate still shows the summary first, then the one-line error
    if failure is not None:
        raise failure
