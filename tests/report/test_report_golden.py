"""Exact output of every format for the sample report (tests/report/report_sample.py).

Regenerate after an intended change with: python -m pytest --update-golden tests/report -q
and review the diff of tests/report/golden/.
"""

from __future__ import annotations

import pytest
from report_golden_support import assert_golden, scrub_version
from report_sample import RULES, clean_report, sample_report, source_line

from leastcap.report import FORMATS, render

EXTENSIONS = {
    "text": "txt",
    "json": "json",
    "sarif": "sarif",
    "github": "txt",
    "codeclimate": "json",
    "junit": "xml",
}


def test_formats_are_the_documented_ones() -> None:
    assert FORMATS == ("text", "json", "sarif", "github", "codeclimate", "junit")


@pytest.mark.parametrize("fmt", FORMATS)
def test_sample_report(fmt: str) -> None:
    out = render(sample_report(), fmt, source_line=source_line, color=False, rules=RULES)
    assert_golden(f"sample.{fmt}.{EXTENSIONS[fmt]}", scrub_version(out))


@pytest.mark.parametrize("fmt", FORMATS)
def test_clean_report(fmt: str) -> None:
    out = render(clean_report(), fmt, source_line=source_line, color=False, rules=RULES)
    assert_golden(f"clean.{fmt}.{EXTENSIONS[fmt]}", scrub_version(out))


def test_text_in_colour() -> None:
    out = render(sample_report(), "text", source_line=source_line, color=True, rules=RULES)
    assert "\x1b[" in out
    assert_golden("sample.text-color.txt", out)


def test_input_order_does_not_matter() -> None:
    report = sample_report()
    shuffled = type(report)(
        findings=tuple(reversed(report.findings)),
        errors=report.errors,
        warnings=report.warnings,
        scanned_files=report.scanned_files,
    )
    for fmt in FORMATS:
        a = render(report, fmt, source_line=source_line, color=False, rules=RULES)
        b = render(shuffled, fmt, source_line=source_line, color=False, rules=RULES)
        assert a == b, fmt


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown format 'xml' \(expected one of: text, json, sarif"):
        render(clean_report(), "xml")
