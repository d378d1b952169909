"""One identity per finding: ``Finding.fingerprint`` is what SARIF, Code Quality, scan's dedupe and
history timelines use, and it ignores what moves (lines, explanations, variable names)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from history_gitrepo import GitRepo

from leastcap.model import Confidence, Finding, Location, Severity
from leastcap.scan import ScanOptions, run_scan

PRIV = "services:\n  web:\n    image: x\n    privileged: true\n"
SHIFTED = "# a comment\n\nservices:\n  web:\n    image: x\n    cap_add: [CHOWN]\n    privileged: true\n"


def _finding(message: str, line: int = 3, **kw: object) -> Finding:
    return Finding(
        rule="privileged",
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        message=message,
        location=Location("compose.yaml", line, 5),
        project="p",
        service="web",
        **kw,
    )  # type: ignore[arg-type]


def test_subject_is_the_head_of_the_message_without_context_or_positions() -> None:
    plain = _finding("service 'web' runs privileged: all capabilities")
    assert plain.subject == "service 'web' runs privileged"
    # The context tail rules add (rules._common.context) names variables and profiles, not the value.
    tail = _finding("service 'web' runs privileged (privileged is true unless ${A} is set to false)")
    renamed = _finding("service 'web' runs privileged (privileged is true unless ${B} is set to false)", line=9)
    profiles = _finding("service 'web' runs privileged (depends on ${A}; only with profiles x or y)")
    assert tail.subject == renamed.subject == profiles.subject == "service 'web' runs privileged"
    assert tail.fingerprint == renamed.fingerprint == plain.fingerprint
    # A parenthesis that is part of the value stays.
    caps = _finding("service 'web' keeps 2 capabilities (CHOWN, KILL)")
    assert caps.subject == "service 'web' keeps 2 capabilities (CHOWN, KILL)"
    assert _finding("mounted via base.yml:12:3").subject == _finding("mounted via base.yml:4:1").subject
    # A rule's facts, when it gives them, are the subject.
    assert _finding("x", facts=(("source", "/run/docker.sock"),)).subject == "source=/run/docker.sock"


def _scan(root: Path, text: str) -> Finding:
    root.mkdir(parents=True)
    (root / "compose.yaml").write_text(text)
    report = run_scan(ScanOptions(cwd=str(root), scripts=False))
    (finding,) = (f for f in report.findings if f.rule == "privileged")
    return finding


def _sarif_print(root: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "leastcap", "scan", "--format", "sarif"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    (result,) = (r for r in json.loads(proc.stdout)["runs"][0]["results"] if r["ruleId"] == "privileged")
    fp: str = result["partialFingerprints"]["leastcap/v1"]
    return fp


def test_scan_sarif_and_codeclimate_share_the_fingerprint_across_a_line_move(tmp_path: Path) -> None:
    before = _scan(tmp_path / "app", PRIV)
    after = _scan(tmp_path / "moved" / "app", SHIFTED)
    assert (before.location.line, after.location.line) == (4, 7)
    assert before.fingerprint == after.fingerprint
    assert _sarif_print(tmp_path / "app") == before.fingerprint
    proc = subprocess.run(
        [sys.executable, "-m", "leastcap", "scan", "--format", "codeclimate"],
        cwd=tmp_path / "app",
        capture_output=True,
        text=True,
        check=False,
    )
    (issue,) = (i for i in json.loads(proc.stdout) if i["check_name"] == "leastcap/privileged")
    assert issue["fingerprint"] == before.fingerprint


def test_history_timeline_is_the_scan_finding(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("add", {"compose.yaml": PRIV})
    repo.commit("shift it down", {"compose.yaml": SHIFTED})  # moved lines: the same finding
    proc = subprocess.run(
        [sys.executable, "-m", "leastcap", "history", "--rule", "privileged", "--format", "json"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    (timeline,) = json.loads(proc.stdout)["findings"]
    assert [e["kind"] for e in timeline["events"]] == ["introduced"]
    scanned = run_scan(ScanOptions(cwd=str(repo.path), scripts=False))
    (finding,) = (f for f in scanned.findings if f.rule == "privileged")
    assert timeline["detail"] == finding.subject
    assert timeline["location"] == {"path": "compose.yaml", "line": 7, "column": 5, "note": ""}
