"""JUnit XML for CI systems: one test case per check (interpreter x output x metric/threshold)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgeq.validate.results import ValidationReport, fmt

SUITE = "edgeq.validate"


def junit_xml(report: ValidationReport) -> str:
    """The report's checks as a JUnit XML document (deterministic: no timestamps, no host names)."""
    checks = report.checks
    failures = sum(c.status == "failed" for c in checks)
    skipped = sum(c.status == "skipped" for c in checks)
    suites = ET.Element("testsuites", name=SUITE, tests=str(len(checks)), failures=str(failures), errors="0",
                        skipped=str(skipped))
    suite = ET.SubElement(suites, "testsuite", name=f"{SUITE}.{report.model['file']}", tests=str(len(checks)),
                          failures=str(failures), errors="0", skipped=str(skipped))
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(properties, "property", name=name, value=value)
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{check.interpreter}",
                             name=f"{check.output}.{check.metric} {check.operator} {fmt(check.threshold)}")
        if check.status == "failed":
            failure = ET.SubElement(case, "failure", message=check.describe(), type="ThresholdMissed")
            failure.text = f"{check.name} = {fmt(check.value)}, required {check.operator} {fmt(check.threshold)}"
        elif check.status == "skipped":
            ET.SubElement(case, "skipped", message=check.reason)
        else:
            ET.SubElement(case, "system-out").text = check.describe()
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _properties(report: ValidationReport) -> list[tuple[str, str]]:
    props = [("model", report.model["file"]), ("model_sha256", report.model["sha256"]),
             ("data", report.data["source"]), ("samples", str(report.data["samples"]))]
    if report.reference is not None:
        props.append(("reference", report.reference["file"]))
    for name, info in report.interpreters.items():
        props.append((f"{name}", info.detail if info.ran else f"skipped: {info.reason}"))
    return props
