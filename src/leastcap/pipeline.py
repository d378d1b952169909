"""The one pipeline every command judges through: projects -> rules -> dedupe -> suppression ->
governance -> ``Report``.

``scan`` (files on disk and the scripts that run containers), ``history`` (each directory at each
commit), ``audit`` (running containers, and with ``--drift`` their Compose services) and ``fix``
(which findings to act on, and the ``Fix`` each gets) differ only in how they make projects and how
they render the report:

    report = evaluate(projects, config, Context(command="scan", source_lines=..., ...))

Each stage is a pure function of its inputs. The rule stage (``judge``) can run elsewhere first,
such as in a scan's worker processes: ``evaluate`` then takes ``Judged`` projects and does not judge
them again.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from leastcap import suppress
from leastcap.baseline import Baseline
from leastcap.config import Config
from leastcap.model import Finding, Fix, Problem, Project, Report, Service, Severity
from leastcap.rules.base import Comparison
from leastcap.rules.registry import check_project, compare, fixable_slugs


def _no_lines(path: str) -> Sequence[str] | None:
    return None


def disk_source_lines(cwd: str) -> Callable[[str], list[str] | None]:
    """Lines of files on disk (display paths relative to ``cwd``) for the suppression pass, which
    only looks for ``leastcap:`` comments: a file without one gives no lines."""

    def lines(display: str) -> list[str] | None:
        path = display if os.path.isabs(display) else os.path.join(cwd, display)
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(8 * 1024 * 1024)
        except OSError:
            return None
        return text.splitlines() if "leastcap" in text else []

    return lines


class Fixer(Protocol):
    """Makes the ``Fix`` for one service's fixable findings (leastcap.fix.apply.Planner)."""

    @property
    def with_all(self) -> bool:
        """Which rules' findings get fixes: those ``fix`` answers by default, or with ``fix --all`` too."""
        ...

    def fix(self, project: Project, service: Service, findings: tuple[Finding, ...]) -> Fix | None:
        """``findings``: the service's findings of fixable rules, suppressed ones included (a
        suppressed one is the user's decision to keep the privilege, which the fixer respects)."""
        ...


@dataclass(frozen=True)
class Context:
    """What the input side knows besides its projects, and what the report passes on."""

    command: str = "scan"
    # A file's lines for inline ignore comments (None: not a readable text file); containers have none.
    source_lines: suppress.SourceLines = _no_lines
    today: dt.date | None = None  # decides expiry; None: the real today
    fail_on: Severity = Severity.HIGH
    comparisons: tuple[Comparison, ...] = ()  # (container, Compose service) pairs for comparison rules
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    scanned_files: tuple[str, ...] = ()
    baseline: Baseline | None = None  # scan --baseline: fingerprints accepted as they are
    fixer: Fixer | None = None  # attaches a Fix to each unsuppressed finding it can answer


@dataclass(frozen=True)
class Judged:
    """A project whose rule stage already ran (``judge``), with its findings."""

    project: Project
    findings: tuple[Finding, ...]


def judge(project: Project, config: Config | None) -> tuple[Finding, ...]:
    """The rule stage of one project: every enabled service rule on every service."""
    return tuple(check_project(project, config))


def dedupe(findings: Iterable[Finding], own_files: Mapping[str, frozenset[str]] | None = None) -> list[Finding]:
    """Each finding once, where several projects hold the same file:

    - a file shared by a main file and its variants (one project name): the same finding
      (``Finding.fingerprint``) at the same place;
    - a service discovered both as its own project and through another project's ``include``
      (two project names): the same rule, service and subject at the same place, kept once under
      the project whose own (``-f``) file it is, so its exceptions and suppressions apply.

    ``own_files`` maps a project name to its own files (``Project.files``)."""
    own = own_files or {}
    chosen: dict[tuple[str, str, str, str, int, int, str], Finding] = {}
    for finding in findings:
        loc = finding.location  # a container's places differ only in their note (the inspect path)
        key = (finding.rule, finding.service, finding.subject, loc.path, loc.line, loc.column, loc.note)
        kept = chosen.get(key)
        if kept is None:
            chosen[key] = finding
        elif loc.path not in own.get(kept.project, ()) and loc.path in own.get(finding.project, ()):
            chosen[key] = finding  # the file's own project wins over one that includes it
    return list(chosen.values())


def evaluate(projects: Iterable[Project | Judged], config: Config | None, context: Context) -> Report:
    config = config or Config()
    judged = [p if isinstance(p, Judged) else Judged(p, judge(p, config)) for p in projects]
    findings = [f for j in judged for f in j.findings]
    findings += compare(context.comparisons, config)
    own: dict[str, frozenset[str]] = {}
    for j in judged:
        own[j.project.name] = own.get(j.project.name, frozenset()) | frozenset(j.project.files)
    today = context.today or dt.date.today()
    findings = suppress.apply(
        dedupe(findings, own), config, context.source_lines, today, [j.project for j in judged], context.baseline
    )
    if context.fixer is not None:
        findings = attach_fixes(findings, [j.project for j in judged], context.fixer)
    return Report(
        findings=tuple(findings),
        errors=context.errors,
        warnings=context.warnings,
        fail_on=context.fail_on,
        command=context.command,
        scanned_files=context.scanned_files,
    )


def plan_fixes(findings: Sequence[Finding], projects: Sequence[Project], fixer: Fixer) -> dict[tuple[str, str], Fix]:
    """(project, service) -> the ``Fix`` the fixer makes for the service's findings of fixable rules
    (suppressed ones included: the fixer decides what a suppression means to it)."""
    fixable = frozenset(fixable_slugs(with_all=fixer.with_all))
    by_service: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        if finding.rule in fixable and finding.service:
            by_service.setdefault((finding.project, finding.service), []).append(finding)
    fixes: dict[tuple[str, str], Fix] = {}
    for project in projects:
        for service in project.services:
            mine = by_service.get((project.name, service.name))
            if mine and (project.name, service.name) not in fixes:
                fix = fixer.fix(project, service, tuple(mine))
                if fix is not None:
                    fixes[(project.name, service.name)] = fix
    return fixes


def attach_fixes(findings: Sequence[Finding], projects: Sequence[Project], fixer: Fixer) -> list[Finding]:
    """Each finding of a fixable rule that is open to a fix (unsuppressed, or only deferred by a
    baseline) with the ``Fix`` the fixer makes for its service (one per service: its findings share
    it); every other finding as it was."""
    fixable = frozenset(fixable_slugs(with_all=fixer.with_all))
    fixes = plan_fixes(findings, projects, fixer)
    return [
        replace(f, fix=fixes[(f.project, f.service)])
        if f.open_to_fix and f.rule in fixable and (f.project, f.service) in fixes
        else f
        for f in findings
    ]
