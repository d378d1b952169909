"""``--format codeclimate``: a GitLab Code Quality report (a JSON array of Code Climate issues).

GitLab needs ``description``, ``check_name``, ``fingerprint``, ``severity`` (info, minor, major,
critical, blocker), ``location.path`` and ``location.lines.begin``; it compares merge request and
target branch by fingerprint, so ours are line-free (moving a service does not make a "new" issue).
Suppressed findings and warnings are left out; files that could not be loaded are issues, because a
scan that went blind on a file must show in the merge request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from leastcap.model import Finding, Problem, Report, Severity
from leastcap.report.common import RenderContext, dumps, fingerprints, sorted_findings, sorted_problems, via

SEVERITY = {
    Severity.INFO: "info",
    Severity.LOW: "minor",
    Severity.MEDIUM: "major",
    Severity.HIGH: "critical",
    Severity.CRITICAL: "blocker",
}


def _lines(line: int) -> dict[str, int]:
    # GitLab requires a line; 1 stands for "the input as a whole" (a container has no text lines).
    begin = max(line, 1)
    return {"begin": begin, "end": begin}


def _issue(f: Finding, fp: str) -> dict[str, Any]:
    body = [f.message]
    if f.service:
        body.append(f"Service: {f.project}/{f.service}" if f.project else f"Service: {f.service}")
    body.extend(via(r) for r in f.related)
    return {
        "type": "issue",
        "check_name": f"leastcap/{f.rule}",
        "description": f"[{f.rule}] {f.message}",
        "content": {"body": "\n\n".join(body)},
        "categories": ["Security"],
        "severity": SEVERITY[f.severity],
        "fingerprint": fp,
        "location": {"path": f.location.path, "lines": _lines(f.location.line)},
    }


def _error(p: Problem) -> dict[str, Any]:
    key = "\x1f".join(("leastcap/load-error", p.path, p.message))
    return {
        "type": "issue",
        "check_name": "leastcap/load-error",
        "description": f"leastcap could not load this file: {p.message}",
        "categories": ["Bug Risk"],
        "severity": "major",
        "fingerprint": hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32],
        "location": {"path": p.path, "lines": _lines(p.line)},
    }


def render(report: Report, ctx: RenderContext) -> str:
    del ctx
    findings = sorted_findings(report)
    issues = [_issue(f, fp) for f, fp in zip(findings, fingerprints(findings), strict=True) if f.suppressed is None]
    issues += [_error(p) for p in sorted_problems(report.errors)]
    return dumps(issues, frozenset(), compact_root_items=True)  # one issue per line
