"""History output: text (a readable timeline), JSON (v1 finding shape plus commit fields), Markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from leastcap.contract import ExitCode
from leastcap.history.model import CommitRef, Event, HistoryReport, Timeline
from leastcap.model import Problem, Severity
from leastcap.report.common import defuse, severity_counts
from leastcap.report.json_v1 import finding_dict

FORMATS = ("text", "json", "markdown")

_MARK = {"introduced": "+", "reintroduced": "+", "removed": "-", "suppressed": "~", "unsuppressed": "!"}


def exit_code(report: HistoryReport, fail_on: Severity) -> int:
    """Judged at the tip, like a scan of it: 2 when a project there cannot be loaded, 1 when a
    finding at or above ``fail_on`` is present and not suppressed, else 0."""
    if report.errors:
        return ExitCode.ERROR
    for t in report.timelines:
        if t.present_at_tip and t.latest.suppressed is None and t.latest.severity >= fail_on:
            return ExitCode.FINDINGS
    return ExitCode.OK


def _shown(report: HistoryReport, min_severity: Severity) -> tuple[HistoryReport, int]:
    """The report with the timelines at or above ``min_severity`` (as last seen), and how many
    findings active at the tip it hides (they still count for the exit code)."""
    if min_severity <= Severity.INFO:
        return report, 0
    shown = tuple(t for t in report.timelines if t.latest.severity >= min_severity)
    hidden = sum(
        1
        for t in report.timelines
        if t.latest.severity < min_severity and t.present_at_tip and t.latest.suppressed is None
    )
    return replace(report, timelines=shown), hidden


def render(
    report: HistoryReport, fmt: str, fail_on: Severity = Severity.HIGH, min_severity: Severity = Severity.INFO
) -> str:
    """``min_severity`` only hides timelines (``--min-severity``); the exit code in the JSON summary
    is still judged on all of them."""
    from leastcap.report import safe_output

    if fmt == "json":
        data = report_dict(report, fail_on, min_severity)
        return safe_output(json.dumps(data, indent=2, ensure_ascii=False) + "\n", fmt)
    shown, hidden = _shown(report, min_severity)
    if fmt == "markdown":
        return safe_output(_markdown(shown), fmt)
    if fmt == "text":
        text = _text(shown)
        if hidden:
            text += f"{hidden} active at tip below --min-severity {min_severity.label} not shown\n"
        return safe_output(text, fmt)
    raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")


# -- JSON -----------------------------------------------------------------------------------------


def commit_dict(c: CommitRef) -> dict[str, Any]:
    return {"hash": c.oid, "short": c.short, "author": c.author, "email": c.email, "date": c.date, "subject": c.subject}


def _event_dict(e: Event) -> dict[str, Any]:
    f = e.finding
    return {
        "kind": e.kind,
        "commit": commit_dict(e.commit),
        "path": e.path,
        "merged_from": e.merged_from or None,
        "boundary": e.boundary,
        "location": None
        if f is None
        else {"path": f.location.path, "line": f.location.line, "column": f.location.column},
        # For a removal: where it was last seen, and whether it was suppressed there.
        "suppressed": None if f is None else finding_dict(f)["suppressed"],
    }


def timeline_dict(t: Timeline) -> dict[str, Any]:
    intro = t.introduced
    return {
        **finding_dict(t.latest),
        "file": t.path,
        "paths": list(t.paths),
        "detail": t.detail,
        "present_at_tip": t.present_at_tip,
        "introduced": None if intro is None else {**commit_dict(intro.commit), "boundary": intro.boundary},
        "removed": [commit_dict(e.commit) for e in t.of_kind("removed")],
        "reintroduced": [commit_dict(e.commit) for e in t.of_kind("reintroduced")],
        "events": [_event_dict(e) for e in t.events],
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "line": p.line, "message": p.message}


def report_dict(
    report: HistoryReport, fail_on: Severity = Severity.HIGH, min_severity: Severity = Severity.INFO
) -> dict[str, Any]:
    """The JSON v1 report: the v1 keys exactly as ``leastcap scan`` writes them (one finding per
    timeline, as last seen), plus history keys: per finding ``file``, ``paths``, ``detail``,
    ``present_at_tip``, ``introduced``, ``removed``, ``reintroduced``, ``events``; at the top level
    ``history`` (repository, tip, range). A finding is "active" when it is present at the tip and
    not suppressed there. ``min_severity`` hides timelines below it; ``not_shown`` counts the
    active ones it hid, and the exit code is judged on all."""
    code = exit_code(report, fail_on)
    report, hidden = _shown(report, min_severity)
    at_tip = [t for t in report.timelines if t.present_at_tip]
    active = [t.latest for t in at_tip if t.latest.suppressed is None]
    return {
        "version": 1,
        "findings": [timeline_dict(t) for t in report.timelines],
        "errors": [_problem(p) for p in report.errors],
        "warnings": [_problem(p) for p in report.warnings],
        "summary": {
            # findings = active + suppressed + gone: a finding removed before the tip is gone,
            # not suppressed.
            "findings": len(report.timelines),
            "active": len(active),
            "suppressed": len(at_tip) - len(active),
            "gone": len(report.timelines) - len(at_tip),
            "by_severity": severity_counts(active),
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "files_scanned": len(report.compose_paths),
            "command": "history",
            "fail_on": fail_on.label,
            "min_severity": min_severity.label,
            "not_shown": hidden,
            "exit_code": code,
        },
        "history": {
            "repository": report.repo,
            "tip": report.tip,
            "revs": list(report.revs),
            "since": report.since,
            "shallow": report.shallow,
            "commits_walked": report.commits_walked,
            "commits_evaluated": report.commits_evaluated,
            "present_at_tip": len(at_tip),
            "suppressed_at_tip": sum(1 for t in at_tip if t.latest.suppressed is not None),
            "compose_paths": list(report.compose_paths),
        },
    }


# -- text -----------------------------------------------------------------------------------------


def _status(t: Timeline) -> str:
    if not t.present_at_tip:
        return "gone at tip"
    if t.latest.suppressed is not None:
        return f"present at tip, suppressed ({t.latest.suppressed.by}: {t.latest.suppressed.justification})"
    return "PRESENT AT TIP"


def _label(e: Event, code: Callable[[str], str], text: Callable[[str], str] = str) -> str:
    """What happened, in words: the kind, a merge that carried it over, the suppression reason."""
    added = e.kind in ("introduced", "reintroduced")
    if e.boundary:
        label = "present at or before this commit (history starts here)"
    elif e.merged_from:
        label = "merged in" if added else f"{e.kind} by merge"
        label += f" (as on {code(e.merged_from[:7])})"
    else:
        label = e.kind
    sup = e.finding.suppressed if e.finding is not None and e.kind != "removed" else None
    if sup is not None:
        reason = text(sup.justification)  # written by the file's author: untrusted
        label += f": {reason}" if e.kind == "suppressed" else f" (suppressed: {reason})"
    return label


def _event_line(e: Event) -> str:
    where = ""
    if e.finding is not None and e.kind != "removed":
        loc = e.finding.location
        where = f"{loc.path}:{loc.line}:{loc.column}" if loc.line else loc.path
    date = defuse(e.commit.date[:10])
    # Authors, subjects and paths are whatever the repository's committers wrote: escaped like
    # every other untrusted text (no terminal control, no line breaks).
    return (
        f"  {_MARK.get(e.kind, '?')} {date} {e.commit.short} {defuse(e.commit.author)}: "
        f"{defuse(e.commit.subject)}\n"
        f"      {defuse(_label(e, str))}" + (f"  at {defuse(where)}" if where else "")
    )


def _text(report: HistoryReport) -> str:
    out: list[str] = []
    for t in report.timelines:
        sev = t.latest.severity.label
        out.append(f"{defuse(t.path)}  service {defuse(t.service)}  {t.rule} ({sev})  {_status(t)}")
        out.append(f"  {defuse(t.latest.message)}")
        if len(t.paths) > 1:
            out.append("  renamed: " + " -> ".join(defuse(p) for p in t.paths))
        out.extend(_event_line(e) for e in t.events)
        out.append("")
    out.extend(f"error: {defuse(p.path)}: {defuse(p.message)}" for p in report.errors)
    out.extend(f"warning: {defuse(p.path)}: {defuse(p.message)}" for p in report.warnings)
    at_tip = sum(1 for t in report.timelines if t.present_at_tip)
    out.append(
        f"{len(report.timelines)} finding timeline(s), {at_tip} present at tip "
        f"({report.tip[:7]}); {report.commits_walked} commit(s) walked, "
        f"{report.commits_evaluated} evaluated"
    )
    return "\n".join(out) + "\n"


# -- Markdown -------------------------------------------------------------------------------------


# Markdown that a name, author, subject or message could use to inject links, images, HTML or
# emphasis into a rendered report (a PR comment): every such character is escaped.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|#&~])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", defuse(text))


def _code(text: str) -> str:
    """``text`` as a code span that no backtick inside it can close early (CommonMark: a fence
    longer than any run of backticks inside), with table pipes escaped."""
    text = defuse(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(report: HistoryReport) -> str:
    out = ["# Privilege history", ""]
    out.append(
        f"Repository {_code(report.repo)}, tip `{report.tip[:7]}`"
        + (f", since {report.since}" if report.since else "")
        + f": {report.commits_walked} commits walked, {report.commits_evaluated} evaluated."
    )
    if report.shallow:
        out.append("")
        out.append("> **Shallow clone**: history before the clone's boundary is not available.")
    out += [
        "",
        "## Summary",
        "",
        "| File | Service | Rule | Severity | Introduced | Removed | At tip |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in report.timelines:
        intro = t.introduced
        intro_s = "" if intro is None else f"`{intro.commit.short}` {intro.commit.date[:10]}"
        if intro is not None and intro.boundary:
            intro_s = "at or before " + intro_s
        removed = ", ".join(f"`{e.commit.short}`" for e in t.of_kind("removed"))
        tip = "no"
        if t.present_at_tip:
            tip = "suppressed" if t.latest.suppressed is not None else "**yes**"
        out.append(
            f"| {_code(t.path)} | {_md(t.service)} | {t.rule} | {t.latest.severity.label} | "
            f"{intro_s} | {removed} | {tip} |"
        )
    out += ["", "## Timelines", ""]
    for t in report.timelines:
        out.append(f"### {_code(t.path)}: {_md(t.service)} / {t.rule}")
        out.append("")
        out.append(_md(t.latest.message))
        if len(t.paths) > 1:
            out.append("")
            out.append("Renamed: " + " → ".join(_code(p) for p in t.paths))
        out += ["", "| Change | Commit | Date | Author | Subject | Where |", "|---|---|---|---|---|---|"]
        for e in t.events:
            kind = _label(e, lambda text: f"`{text}`", _md)
            where = ""
            if e.finding is not None and e.kind != "removed":
                loc = e.finding.location
                where = _code(f"{loc.path}:{loc.line}" if loc.line else loc.path)
            out.append(
                f"| {kind} | `{e.commit.short}` | {e.commit.date[:10]} | {_md(e.commit.author)} | "
                f"{_md(e.commit.subject)} | {where} |"
            )
        out.append("")
    if report.errors or report.warnings:
        out += ["## Problems", ""]
        out += [f"- error: {_code(p.path)}: {_md(p.message)}" for p in report.errors]
        out += [f"- warning: {_code(p.path)}: {_md(p.message)}" for p in report.warnings]
        out.append("")
    return "\n".join(out)
