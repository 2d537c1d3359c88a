"""Terminal tables for `edgeq targets`, `edgeq targets show`, `edgeq check` and `edgeq inspect`.

Text from the model file (tensor, subgraph and custom op names) and the file name go through `escape`:
rich reads `[...]` in a cell as markup, and a name such as `x[/b]` would otherwise crash the command.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from edgeq.check.optable import load_op_table
from edgeq.check.rules import CheckResult, kib_text
from edgeq.check.targets import TargetProfile


def targets_table(targets: dict[str, TargetProfile]) -> Table:
    """One row per profile: core, clock, flash, RAM, runtime."""
    table = Table(title="edgeq targets (details: edgeq targets show NAME)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for column in ("name", "core", "MHz", "flash", "RAM", "runtime"):
        table.add_column(column, justify="right" if column in ("MHz", "flash", "RAM") else "left", no_wrap=True)
    for name, p in sorted(targets.items()):
        table.add_row(name, p.cpu.core, f"{p.cpu.clock_mhz:g}", _size(p.memory.flash_kb), _size(p.memory.ram_kb),
                      f"{p.runtime.name}/{p.runtime.kernels}")
    return table


def _size(kib: float) -> str:
    """256K, 1M, 4G: short enough for an 80-column table."""
    for unit, scale in (("G", 1024 * 1024), ("M", 1024)):
        if kib >= scale and kib % scale == 0:
            return f"{kib / scale:g}{unit}"
    return f"{kib:g}K"


def target_detail(p: TargetProfile) -> Group:
    """Everything about one profile, including the ops its runtime supports."""
    table = Table(title=f"target {p.name}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("description", p.description), ("kind", p.kind), ("inherits", p.inherit or "-"),
        ("CPU", f"{p.cpu.core} ({p.cpu.arch}), {p.cpu.clock_mhz:g} MHz, FPU {p.cpu.fpu or 'none'}, "
                f"DSP {'yes' if p.cpu.dsp else 'no'}, MVE {'yes' if p.cpu.mve else 'no'}"),
        ("compiler flags", " ".join(p.cpu.cflags) or "-"),
        ("flash", f"{p.memory.flash_kb:,.0f} KiB, reserved {p.memory.reserved_flash_kb:,.0f} KiB, "
                  f"runtime code {p.runtime.code_flash_kb:,.0f} KiB (estimate)"),
        ("RAM", f"{p.memory.ram_kb:,.0f} KiB, reserved {p.memory.reserved_ram_kb:,.0f} KiB"),
        ("runtime", f"{p.runtime.name}, {p.runtime.kernels} kernels"),
        ("arena margin", f"{p.runtime.arena_margin_bytes} B + {p.runtime.arena_margin_percent:g}%"),
        ("modes", ", ".join(p.modes)),
        ("cycles/MAC (estimate)", ", ".join(f"{k} {v:g}" for k, v in p.latency.cycles_per_mac.items())
         + f"; {p.latency.cycles_per_element:g} per element otherwise"),
        ("latency source", p.latency.source),
        ("emulator", p.emulator.qemu_machine or "-"),
        ("default template", p.default_template or "-"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    if p.runtime.name != "tflm":
        return Group(table, "supported ops: every LiteRT builtin op (custom/Flex ops need extra libraries)")
    ops = load_op_table()
    fast = sorted(n for n, i in ops.items() if not i.custom and i.optimized(p.runtime.kernels))
    other = sorted(n for n, i in ops.items() if not i.custom and not i.optimized(p.runtime.kernels))
    custom = sorted(n for n, i in ops.items() if i.custom)
    lines = [f"kernels: {p.runtime.kernels}; ops with an optimized {p.runtime.kernels} kernel ({len(fast)}): "
             + (", ".join(fast) or "none"),
             f"other TFLM builtin ops ({len(other)}, reference kernels): {', '.join(other)}",
             f"TFLM custom ops ({len(custom)}): {', '.join(custom)}"]
    return Group(table, *lines)


def check_tables(result: CheckResult, model_name: str) -> Group:
    """The verdict: rules, ops, flash, RAM and the latency estimate."""
    verdict = "[bold green]FITS[/]" if result.ok else "[bold red]DOES NOT FIT[/]"
    rules = Table(title=f"edgeq check {escape(model_name)} --target {result.target.name}: {verdict}",
                  title_justify="left")
    for column in ("rule", "", "detail"):
        rules.add_column(column)
    for r in result.rules:
        mark = "[green]ok[/]" if r.ok else ("[red]FAIL[/]" if r.severity == "error" else "[yellow]warn[/]")
        rules.add_row(r.rule, mark, escape(r.detail))
    ops = Table(title="ops", title_justify="left")
    for column in ("op", "count", "version", "supported", "kernel"):
        ops.add_column(column)
    for row in result.ops:
        ops.add_row(escape(row["op"]), str(row["count"]), str(row["version"]),
                    "yes" if row["supported"] else "[red]NO[/]", row["kernel"] or "-")
    numbers = Table(show_header=False, title="numbers", title_justify="left")
    numbers.add_column(style="bold")
    numbers.add_column(justify="right")
    numbers.add_column()
    for budget in (result.flash, result.ram):
        numbers.add_row(budget.name, f"{kib_text(budget.used)} / {kib_text(budget.capacity)}", budget.breakdown())
    if result.arena is not None:
        a = result.arena
        numbers.add_row("arena", f"{a.recommended_bytes:,} B",
                        f"measured {a.measured.host_bytes:,} B on the 64-bit host + {a.kernel_buffers.total:,} B "
                        f"{a.kernel_buffers.kernels} buffers (estimate) + {a.margin_bytes} B margin")
    numbers.add_row("activation peak", f"{result.peak.bytes:,} B", escape(result.peak.describe()))
    numbers.add_row("MACs", f"{result.macs:,}", "")
    basis = (f"from the profile's cycles per MAC (source: `edgeq targets show {result.target.name}`)"
             if result.engine is None else f"from {result.latency.instructions:,} instructions (see report.json)")
    numbers.add_row("latency (ESTIMATE)", f"{result.latency.ms:,.2f} ms",
                    f"{result.latency.cycles:,} cycles at {result.latency.clock_mhz:g} MHz {basis}")
    return Group(rules, ops, numbers)


def inspect_tables(data: dict[str, Any]) -> Group:
    """Summary, ops (with MACs) and tensors of an inspection."""
    summary = Table(title=f"edgeq inspect {escape(data['file'])}", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column()
    arena = data["arena"]
    peak = data["activation_peak"]
    summary.add_row("size", f"{data['size_bytes']:,} bytes")
    summary.add_row("sha256", data["sha256"])
    summary.add_row("ops", ", ".join(f"{escape(name)}×{count}" for name, count in data["ops"].items()) or "none")
    summary.add_row("MACs", f"{data['macs']['total']:,}")
    summary.add_row("arena (host TFLM)", f"{arena['host_bytes']:,} bytes (measured)" if arena.get("host_bytes")
                    else f"not measured: {escape(arena.get('error', ''))}")
    if peak:
        summary.add_row("activation peak", f"{peak['bytes']:,} bytes at op #{peak['op_index']} {escape(peak['op'])}")
    parts: list[Any] = [summary]
    for sg in data["subgraphs"]:
        label = f" (subgraph {sg['index']}: {escape(sg['name'])})" if len(data["subgraphs"]) > 1 else ""
        ops = Table(title=f"operators{label}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("#", "op", "v", "inputs", "outputs", "MACs"):
            ops.add_column(column, justify="right" if column in ("#", "MACs") else "left")
        tensors = {t["index"]: t for t in sg["tensors"]}

        def shapes(indices: list[int], tensors: dict[int, Any] = tensors) -> str:
            return " ".join("-" if i < 0 else f"#{i}{tensors[i]['shape']}" for i in indices)

        for op in sg["operators"]:
            ops.add_row(str(op["index"]), escape(op["op"]), str(op["version"]), shapes(op["inputs"]),
                        shapes(op["outputs"]), f"{op['macs']:,}" if op["kernel_class"] else "-")
        table = Table(title=f"tensors{label}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("#", "name", "shape", "dtype", "quantization", "bytes", "kind"):
            # a name a user copies is wrapped on a terminal (fold), never cut with an ellipsis
            table.add_column(column, justify="right" if column in ("#", "bytes") else "left",
                             overflow="fold" if column == "name" else "ellipsis")
        for t in sg["tensors"]:
            q = t["quantization"]
            quant = "-"
            if q:
                quant = (f"per-channel ({len(q['scale'])}, axis {q['quantized_dimension']})" if q["per_channel"]
                         else f"scale {q['scale'][0]:.6g} zp {q['zero_point'][0]}")
            table.add_row(str(t["index"]), escape(t["name"]), str(t["shape"]), t["dtype"], quant,
                          f"{t['bytes']:,}", t["kind"])
        parts += [ops, table]
    return Group(*parts)
