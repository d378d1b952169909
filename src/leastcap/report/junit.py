"""``--format junit``: JUnit XML for CI systems that show test reports (GitLab, Jenkins, Azure...).

One ``testsuite`` per rule. Each finding is a failing ``testcase``; a suppressed finding is a
``skipped`` one (with its justification); a rule with no findings is one passing testcase, so a
clean scan still shows N passed instead of an empty report. Files that could not be loaded are
``error`` testcases in the ``leastcap.inputs`` suite, whose system-out also lists the warnings.
Times are 0: the report must be reproducible byte for byte.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from leastcap.model import Finding, Report
from leastcap.report.common import RenderContext, sorted_findings, sorted_problems, via

# XML 1.0 forbids most C0 controls even when escaped; they become visible \xNN escapes instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _case_name(f: Finding) -> str:
    who = "/".join(part for part in (f.project, f.service) if part)
    return f"{f.location} {who}".strip()


def _details(f: Finding) -> str:
    lines = [f"{f.location}: {f.severity.label} [{f.rule}] {f.message}"]
    if f.location.line == 0 and f.location.note:
        lines.append(f"at {f.location.note}")
    lines.extend(via(r) for r in f.related)
    return "\n".join(lines)


def _case(suite: ET.Element, name: str, classname: str, **extra: str) -> ET.Element:
    attrs = {"name": xml_text(name), "classname": classname, "time": "0", **extra}
    return ET.SubElement(suite, "testcase", attrs)


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", {"name": name})


def _count(suite: ET.Element) -> tuple[int, int, int, int]:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", "0")
    return len(cases), failures, errors, skipped


def _finding_case(suite: ET.Element, slug: str, f: Finding) -> None:
    """A failing testcase for an active finding, a skipped one (with its justification) if suppressed."""
    position = {"file": xml_text(f.location.path)}
    if f.location.line > 0:
        position["line"] = str(f.location.line)
    case = _case(suite, _case_name(f), f"leastcap.{slug}", **position)
    if f.suppressed is not None:
        why = f"suppressed ({f.suppressed.by}): {f.suppressed.justification}"
        ET.SubElement(case, "skipped", {"message": xml_text(why)})
        return
    failure = ET.SubElement(case, "failure", {"message": xml_text(f.message), "type": f.severity.label})
    failure.text = xml_text(_details(f))


def _rule_suite(root: ET.Element, slug: str, findings: list[Finding]) -> None:
    suite = _suite(root, f"leastcap.{slug}")
    if not findings:
        _case(suite, "no findings", f"leastcap.{slug}")
    for f in findings:
        _finding_case(suite, slug, f)


def _inputs_suite(root: ET.Element, report: Report) -> None:
    """Files that could not be loaded as error testcases; the warnings in the suite's system-out."""
    if not (report.errors or report.warnings):
        return
    inputs = _suite(root, "leastcap.inputs")
    for p in sorted_problems(report.errors):
        where = f"{p.path}:{p.line}" if p.line else p.path
        case = _case(inputs, f"load {where}", "leastcap.inputs", file=xml_text(p.path))
        error = ET.SubElement(case, "error", {"message": xml_text(p.message), "type": "load-error"})
        error.text = xml_text(f"{where}: {p.message}")
    if report.warnings:
        out = ET.SubElement(inputs, "system-out")
        out.text = xml_text(
            "\n".join(
                f"warning: {f'{p.path}:{p.line}' if p.line else p.path}: {p.message}"
                for p in sorted_problems(report.warnings)
            )
        )


def _set_totals(root: ET.Element) -> None:
    """Counts each suite's testcases, then sums them onto the root."""
    totals = [0, 0, 0, 0]
    for suite in root.findall("testsuite"):
        for i, n in enumerate(_count(suite)):
            totals[i] += n
    for key, n in zip(("tests", "failures", "errors", "skipped"), totals, strict=True):
        root.set(key, str(n))
    root.set("time", "0")


def render(report: Report, ctx: RenderContext) -> str:
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted_findings(report):
        by_rule[f.rule].append(f)

    root = ET.Element("testsuites", {"name": "leastcap"})
    for slug in sorted(set(ctx.rules) | set(by_rule)):
        _rule_suite(root, slug, by_rule.get(slug, []))
    _inputs_suite(root, report)
    _set_totals(root)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
