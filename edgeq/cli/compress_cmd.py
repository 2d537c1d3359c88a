"""`edgeq compress`: weight sharing or int4 weights for an existing full-int8 .tflite, with the evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgeq.cli.app import CONTEXT_SETTINGS, OutputPath, State, cli, common_options, print_json

COMPRESS_HELP = ("Techniques, comma-separated: cluster=BITS (weight sharing: per channel at most 2^BITS shared "
                 "int8 values, BITS 2..6, stored as TFLM LUT indices) or int4 (packed int4 filters). Parsed but "
                 "not implemented yet (refused with one line): prune=FRACTION, lowrank=ENERGY, distill[=EPOCHS], "
                 "auto.")


def _validate_compress(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
    from edgeq.compress.options import parse_compress, refuse_unbuilt

    techniques = parse_compress(value)
    refuse_unbuilt(techniques)  # up front: before the model is read
    return techniques


def _table(result: Any) -> Table:
    table = Table(title=Text(f"edgeq compress → {result.output or '(not written)'}"), show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column()

    def row(label: str, value: str) -> None:
        table.add_row(label, Text(value))

    row("technique", ", ".join(str(t) for t in result.techniques))
    row("format", result.runtime_format)
    row("model bytes", f"{result.bytes_before:,} → {result.bytes_after:,} ({result.ratio:.3f}×)")
    weights_before = sum(t.bytes_before for t in result.tensors)
    weights_after = sum(t.bytes_after for t in result.tensors)
    row("weights rewritten", f"{len(result.tensors)} tensors, {weights_before:,} → {weights_after:,} bytes")
    for name, why in result.skipped:
        row("kept as int8", f"{name}: {why}")
    agreement = result.agreement
    top1 = "" if agreement.top1_agreement is None else f"top-1 agreement {agreement.top1_agreement:.1%}, "
    what = "random inputs (no --calib)" if agreement.synthetic else "calibration samples"
    row("vs plain int8", f"{top1}identical outputs on {agreement.outputs_equal:.1%} of {agreement.samples} "
                         f"{what}, max {agreement.max_lsb} LSB (host TFLM)")
    row("vs uncompressed", f"max {agreement.equivalent_max_lsb} LSB (host TFLM: compressed vs the same weights "
                           "stored as plain int8)")
    if agreement.litert_max_lsb is not None:
        row("LiteRT", f"max {agreement.litert_max_lsb} LSB (LiteRT reference kernels on the uncompressed "
                      "equivalent vs host TFLM on the compressed model)")
    before, after = result.fit_before, result.fit_after
    if before is not None and after is not None:
        row("flash", f"{before.flash_bytes:,} → {after.flash_bytes:,} bytes on {result.target} (runtime code "
                     "estimated, as `edgeq check`)")
        if before.arena_bytes is not None and after.arena_bytes is not None:
            row("arena", f"{before.arena_bytes:,} → {after.arena_bytes:,} bytes (TFLM, decode buffers included)")
        row("fit", after.summary)
    return table


@cli.command("compress", context_settings=CONTEXT_SETTINGS)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", default="cortex-m4", show_default=True, help="Target profile (see `edgeq targets`).")
@click.option("--calib", "-c", type=click.Path(path_type=Path),
              help="Calibration inputs (.npy/.npz/image folder, as the float model takes them): the compressed "
                   "model is compared with the plain one on these, on host TFLM (without: on 8 seeded random "
                   "inputs, which prove the decoding but say little about accuracy).")
@click.option("--compress", "techniques", default="cluster=4", show_default=True, callback=_validate_compress,
              help=COMPRESS_HELP)
@click.option("-o", "--output", required=True, type=OutputPath("FILE"), help="The compressed .tflite to write.")
@click.option("--report", "report", type=OutputPath("FILE"), help="Also write the report as JSON to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the table.")
@click.option("--force", is_flag=True, help="Overwrite -o/--report files that exist.")
@common_options
@click.pass_obj
def compress_command(state: State, model: Path, target: str, calib: Path | None, techniques: Any, output: Path,
                     report: Path | None, as_json: bool, force: bool, **_options: Any) -> None:
    """Shrink an existing full-int8 .tflite: weight sharing (cluster=BITS, written as TFLM_DECODE LUT ops the
    tflite-micro package and TFLM trees with the DECODE kernel read) or int4 filters (kTfLiteInt4).

    Prints the model bytes before and after and, with --calib, how the compressed model's outputs compare with
    the plain model's and with the same weights stored uncompressed (host TFLM; 0 LSB expected)."""
    from edgeq.compress import compress_model
    from edgeq.errors import UsageError
    from edgeq.staging import check_output_file, json_text, write_text_atomic

    if report is not None:
        if Path(report).resolve() == Path(output).resolve():
            raise UsageError(f"-o and --report both name {output}; give two files")
        check_output_file(report, force, [model, calib], option="--report")
    state.err.print(f"[bold cyan]•[/] Compressing {escape(model.name)} ({', '.join(map(str, techniques))})")
    result = compress_model(model, output, target=target, calib=calib, techniques=techniques, force=force)
    if report is not None:
        write_text_atomic(Path(report), json_text(result.to_dict()))
    if as_json:
        print_json(result.to_dict())
    else:
        state.out.print(_table(result))
