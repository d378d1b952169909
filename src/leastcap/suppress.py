"""Suppression: its own pass after every rule has run (rules never know it exists).

Three ways to accept a finding, all kept in the output as ``suppressed`` with their reason:

* inline, ``# leastcap: ignore[rule-a,rule-b] reason text`` on the line of the finding's primary
  location, or on the line of the service's key (then it covers the whole service);
* an ``exceptions:`` entry of ``.leastcap.yml`` (rule + project/service globs, justification,
  approver, expiry);
* a baseline file (``scan --baseline``, leastcap.baseline): the fingerprints of the findings a
  legacy repository had when it adopted the gate.

The pass keeps a ledger of every suppression (honoured or not, used or not); the governance rules
(``exception-invalid``, ``exception-expired``, ``exception-unused``, leastcap.rules.exceptions) turn
it into findings of their own, switched on and off like any rule.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from leastcap.baseline import Baseline
from leastcap.config import Config, ExceptionEntry, glob_match, trivial_reason
from leastcap.model import Finding, Location, Project, SourceKind, Suppression
from leastcap.rules.base import BaselineRecord, ExceptionRecord, IgnoreRecord, Ledger
from leastcap.rules.registry import META_RULES, review, slugs

# A YAML comment starts at the line start or after whitespace.
_INLINE = re.compile(r"(?:^|(?<=\s))#\s*leastcap:\s*ignore\[(?P<rules>[^\]]*)\](?P<reason>.*)$")
_META = frozenset(rule.slug for rule in META_RULES)

SourceLines = Callable[[str], Sequence[str] | None]


@dataclass(frozen=True, slots=True)
class InlineIgnore:
    location: Location  # the '#' of the comment
    rules: tuple[str, ...]
    reason: str
    whole_line: bool = False  # nothing but the comment on its line

    @property
    def problem(self) -> str | None:
        unknown = [r for r in self.rules if r not in slugs()]
        if not self.rules:
            return "it names no rule"
        if unknown:
            return f"it names unknown rule(s) {', '.join(unknown)}"
        why_not = trivial_reason(self.reason)
        return None if why_not is None else f"its reason is not acceptable: {why_not}"


def inline_problem(ignore: InlineIgnore, config: Config | None) -> str | None:
    """Why an inline ignore is not honoured under ``config``. With ``approvers:`` set, every
    acceptance must name an approver on the list, and a comment in the file names none: otherwise
    any change could accept its own privilege with one line."""
    if ignore.problem is not None:
        return ignore.problem
    if config is not None and config.approvers:
        return "inline ignores name no approver; with approvers: in the config, accept it with an exception"
    return None


def parse_inline(path: str, lines: Iterable[str]) -> list[InlineIgnore]:
    """Every ``# leastcap: ignore[...]`` comment in a file, with its 1-based position."""
    found: list[InlineIgnore] = []
    for number, line in enumerate(lines, start=1):
        if "leastcap" not in line:
            continue
        match = _INLINE.search(line)
        if match is None:
            continue
        rules = tuple(r.strip() for r in match.group("rules").split(",") if r.strip())
        found.append(
            InlineIgnore(
                Location(path, number, match.start() + 1),
                rules,
                match.group("reason").strip(),
                not line[: match.start()].strip(),
            )
        )
    return found


def apply(
    findings: Sequence[Finding],
    config: Config | None,
    source_lines: SourceLines,
    today: dt.date,
    projects: Sequence[Project] = (),
    baseline: Baseline | None = None,
) -> list[Finding]:
    """Mark suppressed findings and add the ``exception-*`` findings; returns a new sorted list.

    Call it ONCE per scan with the findings of all projects: "unused" means unused by the whole
    scan. ``source_lines(display_path)`` returns a file's lines (None when it is not a readable
    text file); it is asked for the files of the findings, of the service keys and, when
    ``projects`` are given, of every project file, so stale inline ignores there are reported too.
    ``today`` decides expiry (injectable for tests). A finding no inline ignore or exception
    accepts is suppressed ``by baseline`` when its fingerprint is in ``baseline``.
    """
    config = config or Config()
    keys = {(p.name, s.name): s.key for p in projects for s in p.services}
    # A command in a script can span lines; its ignore comment may stand alone on the line above.
    script_keys = {(p.name, s.name) for p in projects for s in p.services if s.source is SourceKind.SCRIPT}
    inline = _inline_ignores(findings, projects, keys, source_lines)

    used_inline: set[tuple[Location, str]] = set()
    used_exceptions: set[int] = set()
    honoured = [e for e in config.exceptions if not config.exception_problems(e) and not _expired(e, today)]
    baselined = baseline.by_fingerprint() if baseline is not None else {}
    used_baseline: set[str] = set()
    out: list[Finding] = []
    for finding in findings:
        if finding.rule in _META:
            out.append(finding)
            continue
        suppression = _inline_for(finding, inline, keys, used_inline, script_keys, config)
        for index, exception in enumerate(config.exceptions):
            if _matches(exception, finding):
                used_exceptions.add(index)
                if suppression is None and exception in honoured:
                    suppression = Suppression(
                        by="exception",
                        justification=exception.justification,
                        approved_by=exception.approved_by,
                        expires=exception.expires.isoformat() if exception.expires else "",
                        ticket=exception.ticket,
                        location=exception.location,
                    )
        entry = baselined.get(baseline.key(finding)) if baseline is not None and baselined else None
        if entry is not None and baseline is not None:
            used_baseline.add(entry.fingerprint)
            if suppression is None:
                suppression = Suppression(
                    by="baseline",
                    justification=f"recorded in {baseline.path} on {baseline.created or 'an unknown date'}",
                    location=entry.location,
                )
        out.append(finding if suppression is None else replace(finding, suppressed=suppression))

    ledger = _ledger(config, today, inline, used_inline, used_exceptions)
    if baseline is not None:
        stale = tuple(
            BaselineRecord(e.label, e.location) for e in baseline.entries if e.fingerprint not in used_baseline
        )
        ledger = replace(ledger, baseline=stale)
    out.extend(review(ledger, config))
    return sorted(out, key=lambda f: (*f.sort_key(), f.project, f.service))


def _inline_ignores(
    findings: Sequence[Finding],
    projects: Sequence[Project],
    keys: dict[tuple[str, str], Location],
    source_lines: SourceLines,
) -> dict[tuple[str, int], list[InlineIgnore]]:
    """Every inline ignore comment, by (file, line), in the files of the findings, of the service
    keys and of every project file."""
    paths = {f.location.path for f in findings if f.location.line > 0}
    paths |= {k.path for k in keys.values() if k.line > 0}
    for project in projects:
        paths.update(project.files)
        for service in project.services:
            paths.update(service.files)
    inline: dict[tuple[str, int], list[InlineIgnore]] = {}
    for path in sorted(paths):
        lines = source_lines(path)
        if lines is None:
            continue
        for ignore in parse_inline(path, lines):
            inline.setdefault((path, ignore.location.line), []).append(ignore)
    return inline


def _inline_for(
    finding: Finding,
    inline: dict[tuple[str, int], list[InlineIgnore]],
    keys: dict[tuple[str, str], Location],
    used: set[tuple[Location, str]],
    script_keys: AbstractSet[tuple[str, str]] = frozenset(),
    config: Config | None = None,
) -> Suppression | None:
    places = [(finding.location.path, finding.location.line)]
    key = keys.get((finding.project, finding.service))
    if key is not None and key.line > 0:
        places.append((key.path, key.line))
        if (finding.project, finding.service) in script_keys and key.line > 1:
            places.append((key.path, key.line - 1))
    line_above = places[-1] if len(places) == 3 else None
    suppression: Suppression | None = None
    for place in places:
        for ignore in inline.get(place, ()):
            if finding.rule not in ignore.rules or (place == line_above and not ignore.whole_line):
                continue
            used.add((ignore.location, finding.rule))
            if suppression is None and inline_problem(ignore, config) is None:
                suppression = Suppression(by="inline", justification=ignore.reason, location=ignore.location)
    return suppression


def _matches(exception: ExceptionEntry, finding: Finding) -> bool:
    return (
        glob_match(exception.rule, finding.rule)
        and glob_match(exception.project, finding.project)
        and glob_match(exception.service, finding.service)
    )


def _expired(exception: ExceptionEntry, today: dt.date) -> bool:
    return exception.expires is not None and exception.expires < today


def _ledger(
    config: Config,
    today: dt.date,
    inline: dict[tuple[str, int], list[InlineIgnore]],
    used_inline: set[tuple[Location, str]],
    used_exceptions: set[int],
) -> Ledger:
    ignores = tuple(
        IgnoreRecord(
            ignore.location,
            ignore.rules,
            inline_problem(ignore, config),
            tuple(r for r in ignore.rules if (ignore.location, r) not in used_inline and config.rule_enabled(r)),
        )
        for found in inline.values()
        for ignore in found
    )
    exceptions = tuple(
        ExceptionRecord(
            label=_label(exception),
            location=exception.location,
            problems=config.exception_problems(exception),
            expires=exception.expires,
            expires_location=exception.field_location("expires"),
            expired=_expired(exception, today),
            used=index in used_exceptions,
            covers_enabled_rule=any(config.rule_enabled(s) for s in slugs() if glob_match(exception.rule, s)),
        )
        for index, exception in enumerate(config.exceptions)
    )
    return Ledger(ignores, exceptions)


def _label(exception: ExceptionEntry) -> str:
    scope = [f"{k} {v!r}" for k, v in (("project", exception.project), ("service", exception.service)) if v]
    return f"for rule {exception.rule!r}" + (f" ({', '.join(scope)})" if scope else "")
