"""The reporters' building blocks: colour choice, source lines, carets, escaping, fingerprints, rule docs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from report_sample import RULES, sample_report, source_line

import leastcap
from leastcap.model import Confidence, Finding, Location, Report, Severity
from leastcap.report import render, use_color
from leastcap.report.common import defuse, fingerprints
from leastcap.report.github import escape_data, escape_property
from leastcap.report.rulemeta import catalogue, info_from_rule, parse_sections
from leastcap.report.source import DiskSourceLines

REPO = Path(__file__).resolve().parents[2]


def _finding(path: str = "compose.yaml", line: int = 3, column: int = 5, **kw: object) -> Finding:
    base: dict[str, object] = {
        "rule": "privileged",
        "severity": Severity.CRITICAL,
        "confidence": Confidence.HIGH,
        "message": "service 'web' runs privileged",
        "location": Location(path, line, column),
        "project": "p",
        "service": "web",
    }
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


# --- colour ---------------------------------------------------------------------------------------


def test_no_color_env_wins_and_non_tty_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color() is False
    monkeypatch.delenv("NO_COLOR")
    # Under pytest stdout is captured, not a terminal.
    assert use_color() is False
    out = render(sample_report(), "text", source_line=source_line, rules=RULES)
    assert "\x1b" not in out


# --- source lines ---------------------------------------------------------------------------------


def test_default_source_lines_come_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text("services:\r\n  web:\r\n    privileged: true\r\n")
    monkeypatch.chdir(tmp_path)
    out = render(Report(findings=(_finding(line=3, column=5),)), "text", color=False, rules=RULES)
    assert "    3 |     privileged: true\n      |     ^\n" in out


def test_disk_source_lines_cache_and_missing_files(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_text("one\ntwo\u2028three\n")
    lines = DiskSourceLines(tmp_path)
    assert lines("a.yml", 1) == "one"
    # U+2028 is a line break for PyYAML, so the loader's line 3 is "three".
    assert lines("a.yml", 3) == "three"
    f.write_text("changed\n")
    assert lines("a.yml", 1) == "one"  # read once per report
    assert lines("a.yml", 0) is None
    assert lines("a.yml", 99) is None
    assert lines("missing.yml", 1) is None
    assert lines("compose.yaml@0123abc", 1) is None


def test_snippet_is_skipped_when_the_source_is_unknown() -> None:
    out = render(Report(findings=(_finding(),)), "text", source_line=lambda p, n: None, color=False, rules=RULES)
    assert " | " not in out
    assert out.startswith("compose.yaml\n  3:5  critical  privileged  p/web\n    service 'web' runs privileged\n\n")


def test_caret_under_wide_characters_and_long_lines() -> None:
    wide = "  名前: 値  privileged: true"
    out = render(
        Report(findings=(_finding(line=1, column=wide.index("privileged") + 1),)),
        "text",
        source_line=lambda p, n: wide,
        color=False,
        rules=RULES,
    )
    # Each CJK character takes two cells, so the caret moves right by one per character.
    assert "    1 | " + wide + "\n      | " + " " * (wide.index("privileged") + 3) + "^\n" in out

    long = "x" * 500 + "privileged: true" + "y" * 500
    out = render(
        Report(findings=(_finding(line=1, column=501),)),
        "text",
        source_line=lambda p, n: long,
        color=False,
        rules=RULES,
    )
    shown = re.search(r"    1 \| (.*)\n      \| ( *)\^", out)
    assert shown is not None
    assert shown.group(1).startswith("…") and shown.group(1).endswith("…")
    assert shown.group(1)[len(shown.group(2)) :].startswith("privileged: true")


def test_control_characters_from_files_are_defused() -> None:
    hostile = "    image: x\x1b[2J\x07 \u202egnp.exe"
    out = render(
        Report(findings=(_finding(line=1, column=5, message="bad \x1b]0;title\x07"),)),
        "text",
        source_line=lambda p, n: hostile,
        color=True,
        rules=RULES,
    )
    assert "\x1b[2J" not in out and "\x07" not in out and "\u202e" not in out and "\x1b]0" not in out
    assert "x\\x1b[2J\\x07 \\u202egnp.exe" in out
    assert defuse("a\tb\nc") == "a\tb\\x0ac"
    assert defuse("a\nb", keep_newlines=True) == "a\nb"


# --- github escaping ------------------------------------------------------------------------------


def test_github_escaping_follows_the_runner_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done\\x0d%0Anext"
    assert escape_data("a\nb") == "a%0Ab"
    assert escape_property("dir,a/b:c.yml%") == "dir%2Ca/b%3Ac.yml%25"


def test_github_does_not_annotate_suppressed_findings() -> None:
    out = render(sample_report(), "github", source_line=source_line, color=False, rules=RULES)
    assert "line=10" not in out  # the inline-suppressed pid: host
    assert "/dev/kvm" not in out  # the exception-suppressed device
    levels = [line.split(" ", 1)[0] for line in out.splitlines() if line.startswith("::")]
    assert levels == [
        "::warning",
        "::notice",
        "::error",
        "::error",
        "::error",
        "::error",
        "::error",
        "::error",
        "::error",
        "::warning",
    ]


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprints_ignore_lines_but_not_identity() -> None:
    a = _finding(line=3)
    moved = _finding(line=30, column=9)
    other_service = _finding(service="db")
    other_file = _finding(path="other.yaml")
    other_fact = _finding(facts=(("capability", "CAP_SYS_ADMIN"),))
    fa, fm, fs, ff, fx = (fingerprints([f])[0] for f in (a, moved, other_service, other_file, other_fact))
    assert fa == fm
    assert len({fa, fs, ff, fx}) == 4
    # "base.yml:12:3" in a message is a position, not part of the identity.
    assert fingerprints([_finding(message="via base.yml:12:3")]) == fingerprints(
        [_finding(message="via base.yml:40:1")]
    )


def test_identical_findings_get_distinct_fingerprints() -> None:
    twice = fingerprints([_finding(line=3), _finding(line=9)])
    assert twice[0] != twice[1]
    assert twice[0] == fingerprints([_finding(line=3)])[0]


def test_sarif_fingerprints_survive_a_line_shift() -> None:
    report = sample_report()
    shifted = Report(
        findings=tuple(
            replace(f, location=replace(f.location, line=f.location.line + 5 if f.location.line else 0))
            for f in report.findings
        )
    )

    def prints(r: Report) -> list[str]:
        doc = json.loads(render(r, "sarif", source_line=source_line, color=False, rules=RULES))
        return [res["partialFingerprints"]["leastcap/v1"] for res in doc["runs"][0]["results"]]

    assert sorted(prints(report)) == sorted(prints(shifted))


def test_sarif_container_finding_has_no_region() -> None:
    doc = json.loads(render(sample_report(), "sarif", source_line=source_line, color=False, rules=RULES))
    container = next(r for r in doc["runs"][0]["results"] if r["message"]["text"].startswith("container"))
    assert container["locations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": "container/ci-runner"}},
            "logicalLocations": [{"fullyQualifiedName": "HostConfig.Privileged", "kind": "member"}],
        }
    ]


def test_sarif_describes_a_rule_missing_from_the_catalogue() -> None:
    doc = json.loads(render(Report(findings=(_finding(rule="brand-new"),)), "sarif", color=False, rules=RULES))
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["brand-new"]["shortDescription"] == {"text": "brand-new"}
    assert rules["brand-new"]["properties"]["security-severity"] == "9.5"
    result = doc["runs"][0]["results"][0]
    assert doc["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "brand-new"


# --- rule docs ------------------------------------------------------------------------------------


def test_parse_sections_accepts_the_usual_heading_styles() -> None:
    doc = (
        "Intro line.\n\nWhat it does:\n  Finds X.\n\nWhy is this bad?\n----------------\nBecause.\n\n"
        "## Example\n```yaml\nfix: true\nexample: 1\n```\n\nUse instead\nDo Y.\n"
    )
    assert parse_sections(doc) == (
        ("What it does", "  Finds X."),
        ("Why is this bad", "Because."),
        ("Example", "```yaml\nfix: true\nexample: 1\n```"),
        ("Fix", "Do Y."),
    )


def test_rule_info_from_a_rule_class() -> None:
    info = info_from_rule(RULES[0])
    assert (info.slug, info.severity, info.cis) == ("privileged", Severity.CRITICAL, ("5.5",))
    assert info.intro == "Flags ``privileged: true``."
    assert info.section("Fix") == "Remove it and add only the capabilities the service needs."
    assert list(catalogue(RULES)) == sorted(r.slug for r in RULES)


def test_every_registered_rule_has_the_four_doc_sections() -> None:
    for slug, info in catalogue(None).items():
        assert [name for name, _ in info.sections] == ["What it does", "Why is this bad", "Example", "Fix"], slug


# --- docs/json-v1.md ------------------------------------------------------------------------------


def test_the_documented_example_is_valid_v1() -> None:
    text = (REPO / "docs" / "json-v1.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)\n```", text, re.S)
    assert example is not None
    schema = json.loads((Path(leastcap.__file__).parent / "schemas" / "report-v1.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(example.group(1)))
