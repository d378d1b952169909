"""``--format json``: the version 1 contract (docs/json-v1.md, schemas/report-v1.schema.json).

Every key is always present (null or empty rather than missing) and lists are in a fixed order, so
two runs over the same input give byte-identical output and consumers need no existence checks.
"""

from __future__ import annotations

from typing import Any

from leastcap.model import Finding, Fix, Location, Problem, Report, Suppression
from leastcap.report.common import RenderContext, dumps, severity_counts, sorted_findings, sorted_problems

VERSION = 1
SHOWS_FIXES = True  # each finding's ``fix`` (leastcap.report.shows_fixes)
# One finding, error or warning per line.
_ONE_LINE = frozenset({"findings", "errors", "warnings"})


def _location(loc: Location) -> dict[str, Any]:
    # ``note`` is the inspect field for a container (``HostConfig.CapAdd[1]``): without it an audit
    # finding would not say which setting it is about. Files have no note on their primary place.
    return {"path": loc.path, "line": loc.line, "column": loc.column, "note": loc.note}


def _suppression(s: Suppression | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "by": s.by,
        "justification": s.justification,
        "approved_by": s.approved_by or None,
        "expires": s.expires or None,
        "ticket": s.ticket or None,
        "location": None if s.location is None else _location(s.location),
    }


def _fix(fix: Fix | None) -> dict[str, Any] | None:
    # What ``leastcap fix --all`` would change for the finding's service, and how safe that is.
    if fix is None:
        return None
    return {
        "safety": fix.safety.label,
        "confidence": fix.confidence,
        "summary": fix.summary,
        "at": _location(fix.at),
        "edits": [
            {
                "action": e.action.value,
                "key": e.key,
                "value": e.value,
                "comment": e.comment,
                "location": None if e.at is None else _location(e.at),
            }
            for e in fix.edits
        ],
    }


def finding_dict(f: Finding, fixes: dict[int, dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """``fixes``: the fixes rendered so far, by object: one service's findings share one ``Fix``, and
    a big report renders each once (the report holds them, so their ids stay theirs)."""
    rendered = {} if fixes is None else fixes
    if id(f.fix) not in rendered:
        rendered[id(f.fix)] = _fix(f.fix)
    return {
        "rule": f.rule,
        "severity": f.severity.label,
        "confidence": f.confidence.label,
        "project": f.project,
        "service": f.service,
        "message": f.message,
        "location": _location(f.location),
        "related": [_location(r) for r in f.related],
        "suppressed": _suppression(f.suppressed),
        "fix": rendered[id(f.fix)],
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "line": p.line, "message": p.message}


def summary_dict(report: Report) -> dict[str, Any]:
    # The counts describe the findings listed; not_shown counts the active ones --min-severity hid.
    shown = report.shown_findings
    active = tuple(f for f in shown if f.suppressed is None)
    return {
        "findings": len(shown),
        "active": len(active),
        "suppressed": len(shown) - len(active),
        "by_severity": severity_counts(active),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "files_scanned": len(report.scanned_files),
        "command": report.command,
        "fail_on": report.fail_on.label,
        "min_severity": report.min_severity.label,
        "not_shown": report.not_shown,
        "exit_code": report.exit_code(),
    }


def report_dict(report: Report) -> dict[str, Any]:
    fixes: dict[int, dict[str, Any] | None] = {}
    return {
        "version": VERSION,
        "findings": [finding_dict(f, fixes) for f in sorted_findings(report)],
        "errors": [_problem(p) for p in sorted_problems(report.errors)],
        "warnings": [_problem(p) for p in sorted_problems(report.warnings)],
        "summary": summary_dict(report),
    }


def render(report: Report, ctx: RenderContext) -> str:
    del ctx  # the JSON contract carries no rule docs and no source text
    return dumps(report_dict(report), _ONE_LINE)
