"""What a rule is. One module per rule under leastcap.rules, registered in leastcap.rules.registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from leastcap.model import Confidence, Finding, Location, Project, Service, Severity

# The one CIS Docker Benchmark version every rule's ``cis`` items are numbered in. v1.6.0 is the
# version docker/docker-bench-security implements (its tests/5_container_runtime.sh numbers 5.1
# swarm mode ... 5.32 the Docker socket); older versions number section 5 one lower.
CIS_VERSION = "1.6.0"


class Rule:
    """A rule judges one service of a project (whatever the project's input was).

    The class docstring is the rule's documentation, with the sections
    ``What it does``, ``Why is this bad``, ``Example``, ``Fix`` (checked by a test).
    """

    slug: ClassVar[str]
    summary: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence] = Confidence.HIGH
    # Items of the CIS Docker Benchmark this rule checks, numbered in version ``cis_version``
    # (CIS_VERSION for every rule; a test holds them to it).
    cis: ClassVar[tuple[str, ...]] = ()
    cis_version: ClassVar[str] = CIS_VERSION

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        raise NotImplementedError

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
