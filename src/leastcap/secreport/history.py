"""The History section: the same walk as ``leastcap history`` (git objects, every commit), kept to
the report's paths: when each privilege was introduced and removed, and the count over time of
services with a high or critical finding (the chart)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from leastcap.model import Problem, Severity
from leastcap.secreport.model import HistoryPoint, HistoryRow, HistorySection


def _inside(path: str, prefixes: Sequence[str]) -> bool:
    return any(p in ("", ".") or path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def history_section(root: str, shown_roots: Sequence[str], cwd: str) -> tuple[HistorySection | None, Problem | None]:
    from leastcap.history import GitError, HistoryOptions, run_history
    from leastcap.history.git import run_git

    try:
        top = run_git(root if os.path.isdir(root) else os.path.dirname(root), ["rev-parse", "--show-toplevel"]).strip()
    except (GitError, OSError):
        return None, None  # not in a git repository: no history section
    try:
        report = run_history(HistoryOptions(path=root))
    except GitError as exc:
        return None, Problem(root, f"no history: {exc}")
    prefixes = [os.path.relpath(os.path.join(cwd, r), top) for r in shown_roots]
    prefixes = ["" if p == "." else p for p in prefixes]
    timelines = [t for t in report.timelines if any(_inside(p, prefixes) for p in t.paths)]
    rows: list[HistoryRow] = []
    deltas: dict[str, list[tuple[str, str, int]]] = {}
    for t in timelines:
        intro = t.introduced
        introduced = "" if intro is None else f"{intro.commit.short} {intro.commit.date[:10]} {intro.commit.author}"
        if intro is not None and intro.boundary:
            introduced = "at or before " + introduced
        removed = ", ".join(f"{e.commit.short} {e.commit.date[:10]} {e.commit.author}" for e in t.of_kind("removed"))
        at_tip = ("suppressed" if t.latest.suppressed is not None else "yes") if t.present_at_tip else "no"
        rows.append(HistoryRow(t.rule, t.detail, t.service, t.path, introduced, removed, at_tip))
        if t.latest.severity >= Severity.HIGH:
            for e in t.events:
                step = {"introduced": 1, "reintroduced": 1, "removed": -1}.get(e.kind, 0)
                if step:
                    deltas.setdefault(e.commit.date, []).append((e.commit.short, f"{t.path}\x00{t.service}", step))
    points: list[HistoryPoint] = []
    live: dict[str, int] = {}
    for date in sorted(deltas):
        for _, key, step in deltas[date]:
            live[key] = live.get(key, 0) + step
        points.append(HistoryPoint(deltas[date][-1][0], date[:10], sum(1 for n in live.values() if n > 0)))
    note = "shallow clone: history before its boundary is not available" if report.shallow else ""
    return HistorySection(report.repo, report.tip[:7], tuple(rows), tuple(points), note), None
