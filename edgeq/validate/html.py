"""A self-contained HTML validation report: inline CSS and inline SVG plots, no scripts, no network.

Plots are SVG elements built with ElementTree (text is escaped by the serializer, never pasted into
markup), rendered into one jinja2 template. Every data mark carries a data-* attribute with its value so
tests (and curious users) can read the plotted numbers back.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from markupsafe import Markup

from edgeq.render import render
from edgeq.validate.gates import METRICS
from edgeq.validate.metrics import HISTOGRAM_LABELS
from edgeq.validate.results import ValidationReport, fmt
from edgeq.version import __version__

TEMPLATE = "_report/validation_report.html.j2"
SQNR_AXIS_DB = 60.0  # bars longer than this (and infinite SQNR) are drawn full length
SQNR_TICK_DB = 10.0
FOLD_ROWS = 20  # longer per-layer tables (and their chart) are folded into <details>
GOOD, FAIR, POOR = "#2e7d32", "#ef6c00", "#c62828"
COLUMNS = {metric.key: metric.heading for metric in METRICS}


def _svg(width: int, height: int, plot_id: str, title: str) -> ET.Element:
    svg = ET.Element("svg", {"id": plot_id, "class": "plot", "width": str(width), "height": str(height),
                             "viewBox": f"0 0 {width} {height}", "role": "img"})
    ET.SubElement(svg, "title").text = title
    return svg


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> None:
    ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", **attrs}).text = text


def _markup(svg: ET.Element) -> Markup:
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704 - ElementTree escaped every text and attribute


def _sqnr_colour(sqnr: float) -> str:
    return GOOD if sqnr >= 30 else FAIR if sqnr >= 20 else POOR


def layer_plot(rows: list[dict[str, Any]]) -> Markup:
    """Horizontal bars: SQNR (dB) of each matched layer, in execution order."""
    rows = sorted(rows, key=lambda r: r["order"])
    label_w, bar_w, row_h = 180, 360, 20
    bottom = 22 + row_h * len(rows)
    svg = _svg(label_w + bar_w + 70, bottom + 20, "plot-layers", "Per-layer SQNR, float vs integer")
    _text(svg, label_w, 14, "SQNR (dB), higher is better", **{"class": "axis"})
    for step in range(int(SQNR_AXIS_DB / SQNR_TICK_DB) + 1):
        db = step * SQNR_TICK_DB
        x = label_w + db / SQNR_AXIS_DB * bar_w
        ET.SubElement(svg, "line", {"class": "tick", "x1": f"{x:.1f}", "x2": f"{x:.1f}", "y1": "20",
                                    "y2": str(bottom), "stroke": "#ddd", "data-db": f"{db:g}"})
        label = f"≥{db:g}" if db == SQNR_AXIS_DB else f"{db:g}"
        _text(svg, x, bottom + 14, label, **{"text-anchor": "middle", "class": "axis"})
    for i, row in enumerate(rows):
        y = 22 + i * row_h
        sqnr = float(row["sqnr_db"])
        length = bar_w if math.isinf(sqnr) and sqnr > 0 else max(0.0, min(sqnr, SQNR_AXIS_DB)) / SQNR_AXIS_DB * bar_w
        _text(svg, label_w - 6, y + 13, row["layer"], **{"text-anchor": "end"})
        ET.SubElement(svg, "rect", {"class": "bar", "x": str(label_w), "y": str(y + 2), "width": f"{length:.1f}",
                                    "height": str(row_h - 5), "fill": _sqnr_colour(sqnr),
                                    "data-layer": row["layer"], "data-value": fmt(sqnr)})
        _text(svg, label_w + length + 4, y + 13, fmt(sqnr))
    return _markup(svg)


def confusion_plot(counts: list[list[int]], plot_id: str, title: str) -> Markup:
    """Heat map of counts[label][predicted], shaded per row (recall), with counts in the cells."""
    classes = len(counts)
    cell = 28 if classes <= 12 else max(8, 336 // classes)
    margin = 44
    size = margin + cell * classes + 10
    svg = _svg(size, size, plot_id, title)
    middle = margin + cell * classes / 2
    _text(svg, middle, 12, "predicted", **{"text-anchor": "middle", "class": "axis"})
    _text(svg, 10, middle, "label",
          **{"class": "axis", "text-anchor": "middle", "transform": f"rotate(-90 10 {middle})"})
    for c in range(classes):
        if cell >= 14:
            _text(svg, margin + c * cell + cell / 2, margin - 6, str(c), **{"text-anchor": "middle"})
            _text(svg, margin - 6, margin + c * cell + cell / 2 + 4, str(c), **{"text-anchor": "end"})
    for r, row in enumerate(counts):
        total = max(sum(row), 1)
        for c, count in enumerate(row):
            share = count / total
            colour = (f"rgba(46,125,50,{0.15 + 0.85 * share:.3f})" if r == c
                      else f"rgba(198,40,40,{min(1.0, 0.15 + 0.85 * share):.3f})" if count else "#f5f5f5")
            ET.SubElement(svg, "rect", {"class": "cell", "x": str(margin + c * cell), "y": str(margin + r * cell),
                                        "width": str(cell - 1), "height": str(cell - 1), "fill": colour,
                                        "data-label": str(r), "data-predicted": str(c), "data-count": str(count)})
            if count and cell >= 20:
                _text(svg, margin + c * cell + cell / 2, margin + r * cell + cell / 2 + 4, str(count),
                      **{"text-anchor": "middle", "class": "count"})
    return _markup(svg)


def histogram_plot(counts: list[int], unit_name: str, plot_id: str, title: str) -> Markup:
    """Bars per error bucket (0, 1, 2, ... LSB); heights on a log scale so rare large errors stay visible."""
    bar, gap, height, base = 40, 6, 140, 170
    svg = _svg(30 + (bar + gap) * len(counts), base + 40, plot_id, title)
    top = math.log10(max(max(counts), 1) + 1)
    for i, (label, count) in enumerate(zip(HISTOGRAM_LABELS, counts, strict=True)):
        x = 20 + i * (bar + gap)
        h = height * math.log10(count + 1) / top if top > 0 else 0.0
        ET.SubElement(svg, "rect", {"class": "bar", "x": str(x), "y": f"{base - h:.1f}", "width": str(bar),
                                    "height": f"{h:.1f}", "fill": GOOD if i <= 1 else FAIR if i <= 4 else POOR,
                                    "data-bucket": label, "data-count": str(count)})
        _text(svg, x + bar / 2, base - h - 4, str(count), **{"text-anchor": "middle", "class": "count"})
        _text(svg, x + bar / 2, base + 14, label, **{"text-anchor": "middle"})
    _text(svg, 20, base + 32, f"|error| in {unit_name} (log-scaled bar heights)", **{"class": "axis"})
    return _markup(svg)


def _metric_rows(report: ValidationReport) -> list[dict[str, str]]:
    return [{"interpreter": name, "output": output.name, "samples": str(values["samples"]),
             **{k: fmt(values[k]) if k in values else "" for k in COLUMNS}}
            for name, output, values in report.metric_rows()]


def _plots(report: ValidationReport) -> dict[str, list[dict[str, Any]]]:
    confusion, histograms = [], []
    for output in report.outputs:
        sources = [("float", report.float_stats[output.position])] if report.float_stats is not None else []
        sources += [(name, stats[output.position]) for name, stats in report.stats.items()]
        for name, stats in sources:
            if stats.confusion is not None:
                title = f"Confusion matrix, {name}, output {output.name} ({stats.samples} samples)"
                confusion.append({"title": title, "svg": confusion_plot(stats.confusion.counts.tolist(),
                                                                        f"plot-confusion-{name}-{output.position}",
                                                                        title)})
            if stats.histogram is not None:
                title = f"Error vs float, {name}, output {output.name}"
                histograms.append({"title": title, "svg": histogram_plot(
                    [int(c) for c in stats.histogram.counts], f"{output.unit_name} ({fmt(output.unit)})",
                    f"plot-hist-{name}-{output.position}", title)})
    return {"confusion": confusion, "histograms": histograms}


def render_html(report: ValidationReport, recovery: Any = None) -> str:
    """The report as one HTML page that opens offline (deterministic bytes for the same report); with the
    accuracy-recovery candidates when `edgeq convert --recover` ran (`recovery`: an edgeq.recover.RecoveryReport,
    which sits above this layer, so only its `rows()` are used)."""
    layers = report.layers
    view = {
        "version": __version__,
        "report": report,
        "passed": report.passed,
        "checks": [{"status": c.status, "name": c.name, "text": c.describe()} for c in report.checks],
        "explanations": [f"{c.name}: {c.reason}" for c in report.failures if c.reason],
        "columns": COLUMNS,
        "metric_rows": _metric_rows(report),
        "interpreters": [{"name": n, "ran": i.ran, "samples": i.samples, "text": i.detail if i.ran else i.reason}
                         for n, i in report.interpreters.items()],
        "cross": report.litert_vs_tflm,
        "layers": layers,
        "layer_rows": [{**r, "sqnr": fmt(r["sqnr_db"]), "max": fmt(r["max_abs_error"]),
                        "mean": fmt(r["mean_abs_error"]), "lsb": fmt(r["max_error_lsb"])}
                       for r in layers.get("rows", [])],
        "layer_plot": layer_plot(layers["rows"]) if layers.get("rows") else None,
        "fold_rows": FOLD_ROWS,
        **_plots(report),
        "recovery": recovery,
        "recovery_rows": recovery.rows() if recovery is not None else [],
    }
    return render(TEMPLATE, view)
