"""JUnit XML parsed back, and the HTML report rendered, checked for its plots and for opening offline."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from edgeq.validate.html import render_html
from edgeq.validate.junit import junit_xml
from edgeq.validate.session import validate_model

DIGITS_VAL = Path(__file__).resolve().parents[2] / "examples" / "digits_val.npz"


class _Elements(HTMLParser):
    """Every start tag with its attributes, and whether the document nests properly."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def test_junit_has_one_case_per_check(digits_report):
    root = ET.fromstring(junit_xml(digits_report))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(digits_report.checks) == int(suite.get("tests"))
    assert suite.get("failures") == "0" and suite.find("testcase/failure") is None
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("edgeq.validate.tflm", "probs.top1_agreement >= 0.97") in names
    assert ("edgeq.validate.litert", "probs.accuracy_drop_pp <= 1") in names
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["reference"] == "digits.keras" and "reference kernels" in props["litert"]


def test_junit_failures_name_the_metric(mismatched_int8_path, digits_source):
    report = validate_model(mismatched_int8_path, DIGITS_VAL, digits_source)
    suite = ET.fromstring(junit_xml(report)).find("testsuite")
    failures = {(case.get("classname"), case.get("name")): case.find("failure") for case in suite.findall("testcase")
                if case.find("failure") is not None}
    assert int(suite.get("failures")) == len(failures) == len(report.failures) > 0
    agreement = failures[("edgeq.validate.tflm", "probs.top1_agreement >= 0.97")]
    assert "top-1 agreement with float" in agreement.get("message")
    value = report.metric("tflm", "top1_agreement")
    assert f"{value:.4g} < 0.97" in " ".join(f.get("message") for f in failures.values())


def test_junit_marks_skipped_checks(sine_int8_path, tmp_path):
    import numpy as np

    np.savez(tmp_path / "sine.npz", x=np.linspace(0, 6.28, 10, dtype=np.float32)[:, None])
    report = validate_model(sine_int8_path, tmp_path / "sine.npz")  # no reference
    suite = ET.fromstring(junit_xml(report)).find("testsuite")
    skipped = [c.find("skipped").get("message") for c in suite.findall("testcase")]
    assert skipped and all("no float reference" in m for m in skipped)
    assert suite.get("skipped") == str(len(skipped))
    assert report.passed and "no threshold could be evaluated" in report.verdict()


def test_html_report_has_its_plots_and_opens_offline(digits_report):
    html = render_html(digits_report)
    doc = _parse(html)
    svg_ids = {a["id"] for a in doc.find("svg")}
    assert {"plot-layers", "plot-confusion-float-0", "plot-confusion-litert-0", "plot-confusion-tflm-0",
            "plot-hist-litert-0", "plot-hist-tflm-0"} <= svg_ids
    # per-layer plot: one bar per matched layer, carrying the reported SQNR
    bars = {a["data-layer"]: a["data-value"] for a in doc.find("rect", **{"class": "bar"}) if "data-layer" in a}
    assert set(bars) == {r["layer"] for r in digits_report.layers["rows"]}
    # confusion matrix: cells add up to the samples TFLM ran, diagonal = correct predictions
    cells = [a for a in doc.find("rect", **{"class": "cell"}) if a.get("data-count") is not None]
    tflm_cells = cells[200:300]  # float, litert, tflm: 10x10 each, in that order
    assert sum(int(c["data-count"]) for c in tflm_cells) == 200
    correct = sum(int(c["data-count"]) for c in tflm_cells if c["data-label"] == c["data-predicted"])
    assert correct == round(digits_report.metric("tflm", "top1_accuracy") * 200)
    # error histogram: every output value counted once (200 samples x 10 classes)
    hist = [a for a in doc.find("rect", **{"class": "bar"}) if "data-bucket" in a]
    assert sum(int(a["data-count"]) for a in hist[9:]) == 2000
    # self-contained: no scripts, stylesheets or images from anywhere, no URLs at all
    assert not doc.find("script") and not doc.find("link") and not doc.find("img")
    assert not re.search(r"https?:|//cdn|@import|url\(", html)
    assert "PASSED" in html and "digits.keras" in html


def test_html_is_deterministic_and_escapes_names(digits_report):
    assert render_html(digits_report) == render_html(digits_report)
    digits_report.outputs[0].name = "<probs&>"
    try:
        html = render_html(digits_report)
    finally:
        digits_report.outputs[0].name = "probs"
    assert "<probs&>" not in html and "&lt;probs&amp;&gt;" in html


def test_html_layer_table_wraps_folds_and_has_axis_ticks(digits_report):
    import copy
    import re

    html = render_html(digits_report)
    assert re.search(r"\(keras\)\s+· data", html) and re.search(r"samples[^·<]*\s+· edgeq", html)  # spaced meta line
    ticks = re.findall(r'<line class="tick"[^>]*data-db="(\d+)"', html)
    assert ticks == ["0", "10", "20", "30", "40", "50", "60"]
    assert "<details>" not in html  # a short table stays open
    many = copy.copy(digits_report)
    row = dict(digits_report.layers["rows"][0], tensor=";".join(f"model/block_{i}/conv2d/BiasAdd" for i in range(6)))
    many.layers = {**digits_report.layers, "rows": [dict(row, layer=f"layer_{i}", order=i) for i in range(66)]}
    html = render_html(many)
    assert html.count("<details>") == 2 and "Table of all 66 layers, worst first" in html
    assert '<div class="tensor">model/block_0/conv2d/BiasAdd; model/block_1/conv2d/BiasAdd;' in html


def test_junit_counts_skipped_as_skipped_and_failed_as_failures(mismatched_int8_path, digits_source):
    """A report with failed, passed and skipped checks (LiteRT not run): each kind is counted in its own attribute,
    on <testsuites> and <testsuite> alike, and a skipped case carries <skipped>, never <failure>."""
    from edgeq.validate.session import ValidationOptions

    report = validate_model(mismatched_int8_path, DIGITS_VAL, digits_source,
                            ValidationOptions(litert=False, tflm_samples=60, per_layer=False))
    statuses = [c.status for c in report.checks]
    assert {"failed", "skipped"} <= set(statuses)
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert not [c for c in cases if c.find("failure") is not None and c.find("skipped") is not None]
    assert len(failed) == statuses.count("failed") and len(skipped) == statuses.count("skipped")
    assert all(c.get("classname") == "edgeq.validate.litert" for c in skipped)
    assert all("litert did not run" in c.find("skipped").get("message") for c in skipped)
    for element in (root, suite):
        assert element.get("tests") == str(len(cases)) == str(len(statuses))
        assert element.get("failures") == str(len(failed)) and element.get("skipped") == str(len(skipped))
        assert element.get("errors") == "0"
    assert len(cases) - len(failed) - len(skipped) == statuses.count("passed")
