"""What a rule is. Three kinds, one registry (leastcap.rules.registry), configured alike:

* ``Rule``: judges one service of a project, whatever the project's input was (one module per
  rule under leastcap.rules);
* ``ComparisonRule``: judges a running container against the Compose service it came from
  (``drift``, under leastcap.audit);
* ``GovernanceRule``: judges the suppressions themselves (``exception-*``) from the ledger the
  suppression pass keeps, and words its own findings.

The pipeline (leastcap.pipeline) runs each kind at its stage; ``.leastcap.yml`` switches any of
them off or changes its severity the same way (``registry.configured``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from leastcap.model import Confidence, Finding, Location, Project, Service, Severity

# The one CIS Docker Benchmark version every rule's ``cis`` items are numbered in. v1.6.0 is the
# version docker/docker-bench-security implements (its tests/5_container_runtime.sh numbers 5.1
# swarm mode ... 5.32 the Docker socket); older versions number section 5 one lower.
CIS_VERSION = "1.6.0"


class BaseRule:
    """What every kind of rule declares. The class docstring is the rule's documentation, with
    the sections ``What it does``, ``Why is this bad``, ``Example``, ``Fix`` (checked by a test)."""

    kind: ClassVar[str]
    slug: ClassVar[str]
    summary: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence] = Confidence.HIGH
    # Items of the CIS Docker Benchmark this rule checks, numbered in version ``cis_version``
    # (CIS_VERSION for every rule; a test holds them to it).
    cis: ClassVar[tuple[str, ...]] = ()
    cis_version: ClassVar[str] = CIS_VERSION

    def finding(
        self,
        service: Service,
        project: Project,
        message: str,
        location: Location,
        related: tuple[Location, ...] = (),
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        facts: tuple[tuple[str, str], ...] = (),
    ) -> Finding:
        return Finding(
            rule=self.slug,
            severity=self.severity if severity is None else severity,
            confidence=self.confidence if confidence is None else confidence,
            message=message,
            location=location,
            project=project.name,
            service=service.name,
            related=related,
            facts=facts,
        )


class Fixable(enum.Enum):
    """Whether ``leastcap fix`` answers a rule's findings (the planner, leastcap.fix.plan, makes the
    ``Fix`` objects the pipeline attaches to them)."""

    NO = "no"
    YES = "yes"  # fix acts on these findings
    WITH_ALL = "with --all"  # only with ``fix --all``: alone they are not worth an edit by default


class Rule(BaseRule):
    """A rule judges one service of a project (whatever the project's input was)."""

    kind = "service"
    fixable: ClassVar[Fixable] = Fixable.NO

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Comparison:
    """A running container (as a ``Service`` of its own project) and what its Compose files say.

    ``declared`` is the effective Compose service; None with ``compose_files`` set: the service is
    no longer in those files; None without: the container was not created by Compose.
    """

    running: Service
    running_project: Project
    declared: Service | None
    compose_files: tuple[str, ...] = ()
    created: str = ""  # the container's creation time (RFC 3339), "" when unknown
    file_modified: float | None = None  # the newest Compose file's mtime


class ComparisonRule(BaseRule):
    """A rule that judges a running container against its Compose service."""

    kind = "comparison"

    def compare(self, pair: Comparison) -> list[Finding]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class IgnoreRecord:
    """One inline ``# leastcap: ignore[...]`` comment as the suppression pass saw it."""

    location: Location
    rules: tuple[str, ...]
    problem: str | None  # why it cannot be honoured
    unused: tuple[str, ...]  # the enabled rules it names that reported nothing there


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    """One ``exceptions:`` entry of ``.leastcap.yml`` as the suppression pass saw it."""

    label: str  # "for rule 'x' (service 'y')"
    location: Location
    problems: tuple[str, ...]
    expires: dt.date | None
    expires_location: Location
    expired: bool
    used: bool  # it matched a finding
    covers_enabled_rule: bool  # its rule pattern matches a rule that is switched on


@dataclass(frozen=True, slots=True)
class BaselineRecord:
    """One entry of a baseline file (``scan --baseline``) that matched no finding."""

    label: str  # "for rule 'x' (project 'p', service 'y')"
    location: Location  # its line in the baseline file


@dataclass(frozen=True, slots=True)
class Ledger:
    ignores: tuple[IgnoreRecord, ...] = ()
    exceptions: tuple[ExceptionRecord, ...] = ()
    baseline: tuple[BaselineRecord, ...] = ()  # the baseline entries no finding matched


class GovernanceRule(BaseRule):
    """A rule about the suppressions themselves; its findings belong to no service."""

    kind = "governance"

    def review(self, ledger: Ledger) -> Iterator[Finding]:
        raise NotImplementedError

    def at(self, message: str, location: Location) -> Finding:
        return Finding(
            rule=self.slug, severity=self.severity, confidence=self.confidence, message=message, location=location
        )
