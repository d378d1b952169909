"""Hand-built suppression ledgers for the governance rules' tests (the suppression pass that fills
a ledger from comments and .leastcap.yml is tested in tests/config/test_suppress.py)."""

from __future__ import annotations

import datetime as dt

from leastcap.model import Finding, Location
from leastcap.rules.base import BaselineRecord, ExceptionRecord, IgnoreRecord, Ledger
from leastcap.rules.registry import rule_by_slug

CONFIG = ".leastcap.yml"


def ignore(line: int, *rules: str, problem: str | None = None, unused: tuple[str, ...] = ()) -> IgnoreRecord:
    return IgnoreRecord(Location("compose.yml", line, 12), rules, problem, unused)


def exception(
    line: int,
    *problems: str,
    expires: dt.date | None = None,
    expired: bool = False,
    used: bool = False,
    covers_enabled_rule: bool = True,
) -> ExceptionRecord:
    return ExceptionRecord(
        label=f"for rule 'privileged' (service 'web{line}')",
        location=Location(CONFIG, line, 5),
        problems=problems,
        expires=expires,
        expires_location=Location(CONFIG, line + 4, 14),
        expired=expired,
        used=used,
        covers_enabled_rule=covers_enabled_rule,
    )


def baseline_entry(line: int) -> BaselineRecord:
    return BaselineRecord("for rule 'privileged' (project 'p', service 'web')", Location("baseline.json", line, 5))


def review(slug: str, ledger: Ledger) -> list[tuple[str, str, str, Location, str]]:
    """(rule, severity, message, location, service) of each finding the rule makes of ``ledger``."""
    findings: list[Finding] = list(rule_by_slug(slug).review(ledger))  # type: ignore[attr-defined]
    return [(f.rule, f.severity.label, f.message, f.location, f.service) for f in findings]
