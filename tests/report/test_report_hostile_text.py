"""Any text a scanned file can put into a finding (paths, values quoted in messages, notes) leaves
every format well-formed: one line per GitHub command, parseable XML and JSON, no raw escapes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st
from report_sample import RULES

from leastcap.model import Confidence, Finding, Location, Problem, Report, Severity, Suppression
from leastcap.report import render

texts = st.text(min_size=1, max_size=40)


def _report(path: str, message: str, note: str, justification: str) -> Report:
    findings = (
        Finding(
            rule="privileged",
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message=message,
            location=Location(path, 2, 3),
            project="p",
            service=note,
            related=(Location(path, 5, 1, note),),
        ),
        Finding(
            rule="host-namespace",
            severity=Severity.HIGH,
            confidence=Confidence.LOW,
            message=message,
            location=Location(path, 0, 0, note),
            suppressed=Suppression(by="inline", justification=justification),
        ),
    )
    return Report(findings=findings, errors=(Problem(path, message, 1),), warnings=(Problem(path, note),))


@settings(max_examples=40, deadline=None)
@given(path=texts, message=texts, note=st.text(max_size=20), justification=texts)
def test_every_format_stays_well_formed(path: str, message: str, note: str, justification: str) -> None:
    report = _report(path, message, note, justification)

    def out(fmt: str) -> str:
        return render(report, fmt, source_line=lambda p, n: message, color=False, rules=RULES)

    github = out("github").rstrip("\n").split("\n")
    # 1 active finding + 1 error + 1 warning, then the summary: a newline never starts a new command.
    assert len(github) == 4
    assert [line.split(" ", 1)[0] for line in github[:3]] == ["::error", "::error", "::warning"]
    assert all("\r" not in line for line in github)

    ET.fromstring(out("junit").encode("utf-8"))
    assert json.loads(out("json"))["findings"][0]["message"] == message
    json.loads(out("sarif"))
    json.loads(out("codeclimate"))

    text = out("text")
    assert "\x1b" not in text and "\x07" not in text
