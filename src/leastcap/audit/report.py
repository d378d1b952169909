"""From an audit to the shared ``Report``: config (rule switches, severities), suppression, catalogue.

Everything after the findings is what ``scan`` does, so suppression, exit codes and every output
format behave the same. The rule catalogue handed to the reporters always includes ``drift`` (so
SARIF describes it) even while the registry does not list it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from leastcap.audit.run import AuditOptions, audit
from leastcap.config import Config
from leastcap.model import Finding, Project, Report, Severity
from leastcap.rules.base import Rule
from leastcap.rules.drift import DriftRule


def catalogue() -> tuple[Rule, ...]:
    from leastcap.rules.registry import ALL_RULES

    return ALL_RULES


def build_report(
    *,
    hosts: Sequence[str] = (),
    contexts: Sequence[str] = (),
    include_stopped: bool = False,
    drift: bool = False,
    jobs: int = 4,
    timeout: float = 10.0,
    config: Config | None = None,
    fail_on: Severity = Severity.HIGH,
) -> tuple[Report, tuple[Rule, ...]]:
    from leastcap.rules.registry import check_project

    cfg = config or Config()

    def check(project: Project) -> list[Finding]:
        return check_project(project, cfg)

    result = audit(
        AuditOptions(tuple(hosts), tuple(contexts), include_stopped, drift, jobs, timeout), check
    )
    findings = [
        cfg.with_severity(f) if f.rule == DriftRule.slug else f
        for f in result.findings
        if f.rule != DriftRule.slug or cfg.rule_enabled(DriftRule.slug)
    ]
    findings = _suppress(findings, cfg)
    report = Report(
        findings=tuple(findings),
        errors=result.errors,
        warnings=result.warnings,
        fail_on=fail_on,
        command="audit",
        scanned_files=tuple(c.location.path for c in result.containers),
    )
    return report, catalogue()


def _suppress(findings: list[Finding], config: Config) -> list[Finding]:
    """The scan's suppression pass: config exceptions match by rule and project/service glob (a
    container without Compose labels has project "" and its container name as service). Containers
    have no source text, so inline ``# leastcap: ignore`` comments do not apply to them."""
    from leastcap import suppress

    return suppress.apply(findings, config, lambda path: None, dt.date.today())
