"""What a rule is. One module per rule under leastcap.rules, registered in leastcap.rules.registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from leastcap.model import Confidence, Finding, Location, Project, Service, Severity


class Rule:
    """A rule judges one service of a project (whatever the project's input was).

    The class docstring is the rule's documentation, with the sections
    ``What it does``, ``Why is this bad``, ``Example``, ``Fix`` (checked by a test).
    """

    slug: ClassVar[str]
    summary: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence] = Confidence.HIGH
    # CIS Docker Benchmark items this rule checks (e.g. ("5.4",)).
    cis: ClassVar[tuple[str, ...]] = ()

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
