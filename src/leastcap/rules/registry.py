"""All rules, in one explicit list per kind. Adding a rule: a module, one line here, fixtures, a
rule-test file; the docs regenerate. ``configured`` is the one place a rule is switched off or its
severity changed (``rules:`` in .leastcap.yml), whatever its kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache, partial
from typing import Protocol

from leastcap.audit.drift import DriftRule
from leastcap.model import Finding, Project
from leastcap.rules.base import BaseRule, Comparison, ComparisonRule, Fixable, GovernanceRule, Ledger, Rule
from leastcap.rules.cap_add_all import CapAddAll
from leastcap.rules.dangerous_capability import DangerousCapability
from leastcap.rules.docker_socket import DockerSocket
from leastcap.rules.exceptions import ExceptionExpired, ExceptionInvalid, ExceptionUnused
from leastcap.rules.host_device import HostDevice
from leastcap.rules.host_namespace import HostNamespace
from leastcap.rules.host_socket import HostSocket
from leastcap.rules.missing_cap_drop import MissingCapDrop
from leastcap.rules.no_new_privileges import NoNewPrivileges
from leastcap.rules.privileged import Privileged
from leastcap.rules.sensitive_mount import SensitiveMount
from leastcap.rules.unconfined_profile import UnconfinedProfile


class RuleSettings(Protocol):
    """What the registry needs of a configuration (``leastcap.config.Config``)."""

    def rule_enabled(self, slug: str) -> bool: ...

    def with_severity(self, finding: Finding) -> Finding: ...


# Rules that judge services, in the order of the docs.
RULES: tuple[Rule, ...] = (
    Privileged(),
    CapAddAll(),
    DangerousCapability(),
    MissingCapDrop(),
    UnconfinedProfile(),
    NoNewPrivileges(),
    HostDevice(),
    DockerSocket(),
    HostSocket(),
    SensitiveMount(),
    HostNamespace(),
)
# Rules about the suppressions, run on the suppression pass's ledger (leastcap.suppress).
META_RULES: tuple[GovernanceRule, ...] = (ExceptionInvalid(), ExceptionExpired(), ExceptionUnused())
# Rules that judge a container against its Compose file (leastcap audit --drift).
AUDIT_RULES: tuple[ComparisonRule, ...] = (DriftRule(),)
ALL_RULES: tuple[BaseRule, ...] = RULES + META_RULES + AUDIT_RULES

_BY_SLUG = {rule.slug: rule for rule in ALL_RULES}


def rule_by_slug(slug: str) -> BaseRule:
    """The rule with this slug (KeyError if there is none)."""
    return _BY_SLUG[slug]


@cache  # asked for every service the fixer plans
def fixable_slugs(*, with_all: bool = False) -> tuple[str, ...]:
    """The rules whose findings ``leastcap fix`` answers (``fix --all``: ``with_all``)."""
    wanted = {Fixable.YES, Fixable.WITH_ALL} if with_all else {Fixable.YES}
    return tuple(rule.slug for rule in RULES if rule.fixable in wanted)


def slugs() -> tuple[str, ...]:
    return tuple(rule.slug for rule in ALL_RULES)


def configured(rule: BaseRule, config: RuleSettings | None, run: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """``run()``'s findings as the configuration wants them: none when the rule is switched off
    (then it does not run), else with the configured severity."""
    if config is None:
        return list(run())
    if not config.rule_enabled(rule.slug):
        return []
    return [config.with_severity(f) for f in run()]


def check_project(project: Project, config: RuleSettings | None = None) -> list[Finding]:
    """Every finding of every enabled service rule on every service, sorted (path, line, column,
    rule, message). Suppression is a separate pass (:func:`leastcap.suppress.apply`)."""
    findings: list[Finding] = []
    for rule in RULES:
        findings += configured(rule, config, partial(_on_services, rule, project))
    return sorted(findings, key=_order)


def compare(pairs: Sequence[Comparison], config: RuleSettings | None = None) -> list[Finding]:
    """Every finding of every enabled comparison rule on each (container, Compose service) pair."""
    findings: list[Finding] = []
    for rule in AUDIT_RULES:
        findings += configured(rule, config, partial(_on_pairs, rule, pairs))
    return findings


def review(ledger: Ledger, config: RuleSettings | None = None) -> list[Finding]:
    """Every finding of every enabled governance rule on the suppression pass's ledger."""
    findings: list[Finding] = []
    for rule in META_RULES:
        findings += configured(rule, config, partial(rule.review, ledger))
    return findings


def _on_services(rule: Rule, project: Project) -> Iterator[Finding]:
    for service in project.services:
        yield from rule.check(service, project)


def _on_pairs(rule: ComparisonRule, pairs: Sequence[Comparison]) -> Iterator[Finding]:
    for pair in pairs:
        yield from rule.compare(pair)


def _order(finding: Finding) -> tuple[str, int, int, str, str, str, str]:
    return (*finding.sort_key(), finding.project, finding.service)
