"""Build model objects by hand for rule unit tests (the loader has its own tests)."""

from __future__ import annotations

from typing import Any, TypeVar

from leastcap.model import Device, Finding, Located, Location, Mount, Project, Service, SourceKind
from leastcap.rules.registry import rule_by_slug

T = TypeVar("T")
PATH = "compose.yml"


def at(
    value: T, line: int, column: int = 5, variables: tuple[str, ...] = (), via: tuple[Location, ...] = ()
) -> Located[T]:
    return Located(value, Location(PATH, line, column), via, variables)


def service(name: str = "web", **fields: Any) -> Service:
    fields.setdefault("key", Location(PATH, 2, 3))
    return Service(name=name, project="proj", source=fields.pop("source", SourceKind.FILE), **fields)


def project(*services: Service) -> Project:
    return Project(name="proj", files=(PATH,), working_dir="/w", services=services)


def bind(source: str, target: str, read_only: bool = False, propagation: str = "") -> Mount:
    return Mount("bind", target, source, read_only, propagation)


def device(source: str, target: str | None = None, permissions: str = "rwm", cdi: bool = False) -> Device:
    return Device(source, target or source, permissions, cdi)


def run(slug: str, *services: Service) -> list[Finding]:
    """The findings of one rule on these services (of one project)."""
    proj = project(*services)
    return [f for s in proj.services for f in rule_by_slug(slug).check(s, proj)]  # type: ignore[attr-defined]


def brief(findings: list[Finding]) -> list[tuple[str, str, int, int]]:
    return [(f.rule, f.severity.label, f.location.line, f.location.column) for f in findings]
