"""``leastcap diff --format text|json|markdown|github|sarif``.

markdown is written to be posted as a pull-request comment: per service, the privilege the change
adds (severity, what, where), with the rule's one-line why and its fix; then what it removes.
github and sarif carry the added findings only (annotations on the changed lines; code scanning
closes what is gone on its own by fingerprint).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from leastcap.contract import ExitCode
from leastcap.diff.compare import ChangeSet, Side
from leastcap.model import Finding, Problem, Report, Suppression
from leastcap.report import render as render_report
from leastcap.report.common import defuse, dumps, plural, sorted_problems
from leastcap.report.json_v1 import finding_dict
from leastcap.report.markdown import code, fix, md, why
from leastcap.report.rulemeta import RuleInfo, catalogue

VERSION = 1


def render(changes: ChangeSet, fmt: str, rules: dict[str, RuleInfo] | None = None) -> str:
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    return renderer(changes, dict(rules) if rules is not None else dict(catalogue(None)))


def summary(changes: ChangeSet) -> str:
    head = (
        f"{plural(len(changes.added), 'finding')} added, {len(changes.removed)} removed, {changes.unchanged} unchanged"
    )
    failing = len(changes.failing)
    tail = f"; {failing} added at or above {changes.fail_on.label}" if failing else ""
    errors = f"; {plural(len(changes.errors), 'error')}" if changes.errors else ""
    return f"{head}{tail}{errors}."


def _side(side: Side) -> str:
    if side.commit is None:
        return side.name
    if side.commit.startswith(side.name.lower()):  # given as an object id: once, short
        return side.commit[:12]
    return f"{side.name} ({side.commit[:12]})"


def _where(f: Finding) -> str:
    loc = f.location
    return f"{loc.path}:{loc.line}:{loc.column}" if loc.line else loc.path


def _who(f: Finding) -> str:
    return "/".join(part for part in (f.project, f.service) if part)


# -- text -----------------------------------------------------------------------------------------


def _text(changes: ChangeSet, rules: dict[str, RuleInfo]) -> str:
    del rules
    out = [f"leastcap diff {defuse(_side(changes.base))} -> {defuse(_side(changes.head))}", ""]
    for title, findings in (("added", changes.added), ("removed", changes.removed)):
        if not findings:
            continue
        out.append(f"{title}:")
        for f in findings:
            mark = "  [suppressed]" if f.suppressed is not None else ""
            out.append(f"  {f.severity.label}  {f.rule}  {defuse(_who(f))}  {defuse(_where(f))}{mark}")
            out.append(f"    {defuse(f.message)}")
        out.append("")
    out += _problems_text(changes)
    out.append(summary(changes))
    return "\n".join(out) + "\n"


def _problems_text(changes: ChangeSet) -> list[str]:
    out: list[str] = []
    for title, problems in (("errors", changes.errors), ("warnings", changes.warnings)):
        if problems:
            out.append(f"{title}:")
            out += [f"  {defuse(_problem_where(p))}  {defuse(p.message)}" for p in sorted_problems(problems)]
            out.append("")
    return out


def _problem_where(p: Problem) -> str:
    return f"{p.path}:{p.line}" if p.line else p.path


# -- json -----------------------------------------------------------------------------------------


def _json(changes: ChangeSet, rules: dict[str, RuleInfo]) -> str:
    del rules
    document: dict[str, Any] = {
        "version": VERSION,
        "base": {"revision": changes.base.name, "commit": changes.base.commit},
        "head": {"revision": None if changes.head.commit is None else changes.head.name, "commit": changes.head.commit},
        "added": [finding_dict(f) for f in changes.added],
        "removed": [finding_dict(f) for f in changes.removed],
        "unchanged": changes.unchanged,
        "errors": [_problem(p) for p in sorted_problems(changes.errors)],
        "warnings": [_problem(p) for p in sorted_problems(changes.warnings)],
        "fail_on": changes.fail_on.label,
        "exit_code": changes.exit_code(),
    }
    return dumps(document, frozenset({"added", "removed", "errors", "warnings"}))


def _problem(p: Problem) -> dict[str, Any]:
    return {"path": p.path, "line": p.line, "message": p.message}


# -- markdown (a pull-request comment) ------------------------------------------------------------


def _markdown(changes: ChangeSet, rules: dict[str, RuleInfo]) -> str:
    verdict = (
        "fails the gate"
        if changes.exit_code() == ExitCode.FINDINGS
        else "could not be fully checked"
        if changes.errors
        else "passes the gate"
    )
    out = [
        "## leastcap: privilege changes",
        "",
        f"{code(_side(changes.base))} → {code(_side(changes.head))}: {md(summary(changes))} "
        f"This change **{verdict}** (`--fail-on {changes.fail_on.label}`).",
        "",
    ]
    if changes.added:
        out += ["### Privilege this change adds", ""]
        out += _by_service(changes.added, rules, with_advice=True)
    if changes.removed:
        out += ["### Privilege this change removes", ""]
        out += _by_service(changes.removed, rules, with_advice=False)
    if not changes.added and not changes.removed:
        out += ["No privilege added or removed.", ""]
    for title, problems in (("Errors", changes.errors), ("Warnings", changes.warnings)):
        if problems:
            out += [f"### {title}", ""]
            out += [f"- {code(_problem_where(p))}: {md(p.message)}" for p in sorted_problems(problems)]
            out.append("")
    return "\n".join(out)


def _by_service(findings: tuple[Finding, ...], rules: dict[str, RuleInfo], with_advice: bool) -> list[str]:
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.project, f.service)].append(f)
    out: list[str] = []
    for (project, service), items in sorted(groups.items()):
        name = f"{project}/{service}" if service else (project or "configuration")
        out += [f"#### {code(name)}", ""]
        for f in items:
            info = rules.get(f.rule)
            accepted = f" ({_accepted(f.suppressed)})" if f.suppressed else ""
            out.append(
                f"- **{f.severity.label}** [{f.rule}]({info.uri if info else ''}) at "
                f"{code(_where(f))}: {md(f.message)}{accepted}"
            )
            if with_advice and info is not None:
                out.append(f"  - Why: {why(info)}")
                out.append(f"  - Fix: {fix(info)}")
        out.append("")
    return out


def _accepted(s: Suppression) -> str:
    """Who the change says accepted a finding, until when: what the reviewer checks on the forge
    (an exception's approver must really have approved this change; an inline ignore has nobody)."""
    if s.by == "exception":
        until = f" until {md(s.expires)}" if s.expires else ""
        ticket = f", ticket {md(s.ticket)}" if s.ticket else ""
        who = md(s.approved_by or "nobody")
        return f"accepted by an exception approved by {who}{until}{ticket}: {md(s.justification)}"
    if s.by == "inline":
        return f"accepted by an inline ignore, no approver: {md(s.justification)}"
    return f"accepted by {md(s.by)}: {md(s.justification)}"


# -- github and sarif: the added findings as a scan report of HEAD ---------------------------------


def _added_report(changes: ChangeSet) -> Report:
    return replace(changes.head.report, findings=changes.added, fail_on=changes.fail_on)


def _github(changes: ChangeSet, rules: dict[str, RuleInfo]) -> str:
    del rules
    annotations = render_report(_added_report(changes), "github", color=False).splitlines()[:-1]
    from leastcap.report.github import escape_data

    return "\n".join([*annotations, f"leastcap diff: {escape_data(summary(changes))}"]) + "\n"


def _sarif(changes: ChangeSet, rules: dict[str, RuleInfo]) -> str:
    del rules
    return render_report(_added_report(changes), "sarif", color=False)


# format name -> renderer, in the order --help shows them.
_RENDERERS: dict[str, Callable[[ChangeSet, dict[str, RuleInfo]], str]] = {
    "text": _text,
    "json": _json,
    "markdown": _markdown,
    "github": _github,
    "sarif": _sarif,
}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)
