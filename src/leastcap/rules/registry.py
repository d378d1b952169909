"""All rules, in one explicit list. Adding a rule: a module, one line here, fixtures, docs regenerate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leastcap.model import Finding, Project
from leastcap.rules.base import Rule
from leastcap.rules.cap_add_all import CapAddAll
from leastcap.rules.dangerous_capability import DangerousCapability
from leastcap.rules.docker_socket import DockerSocket
from leastcap.rules.drift import DriftRule
from leastcap.rules.exceptions import ExceptionExpired, ExceptionInvalid, ExceptionUnused
from leastcap.rules.host_device import HostDevice
from leastcap.rules.host_namespace import HostNamespace
from leastcap.rules.host_socket import HostSocket
from leastcap.rules.missing_cap_drop import MissingCapDrop
from leastcap.rules.no_new_privileges import NoNewPrivileges
from leastcap.rules.privileged import Privileged
from leastcap.rules.sensitive_mount import SensitiveMount
from leastcap.rules.unconfined_profile import UnconfinedProfile

if TYPE_CHECKING:
    from leastcap.config import Config

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
# Rules whose findings the suppression pass produces (leastcap.suppress).
META_RULES: tuple[Rule, ...] = (ExceptionInvalid(), ExceptionExpired(), ExceptionUnused())
# Rules that judge a container against its Compose file (leastcap audit --drift).
AUDIT_RULES: tuple[Rule, ...] = (DriftRule(),)
ALL_RULES: tuple[Rule, ...] = RULES + META_RULES + AUDIT_RULES

_BY_SLUG = {rule.slug: rule for rule in ALL_RULES}


def rule_by_slug(slug: str) -> Rule:
    """The rule with this slug (KeyError if there is none)."""
    return _BY_SLUG[slug]


def slugs() -> tuple[str, ...]:
    return tuple(rule.slug for rule in ALL_RULES)


def check_project(project: Project, config: Config | None = None) -> list[Finding]:
    """Every finding of every enabled rule on every service, sorted (path, line, column, rule, message).

    ``config`` disables rules and overrides severities (``rules:`` in .leastcap.yml); suppression
    is a separate pass (:func:`leastcap.suppress.apply`).
    """
    findings: list[Finding] = []
    for rule in RULES:
        if config is not None and not config.rule_enabled(rule.slug):
            continue
        for service in project.services:
            findings.extend(rule.check(service, project))
    if config is not None:
        findings = [config.with_severity(f) for f in findings]
    return sorted(findings, key=_order)


def _order(finding: Finding) -> tuple[str, int, int, str, str, str, str]:
    return (*finding.sort_key(), finding.project, finding.service)
