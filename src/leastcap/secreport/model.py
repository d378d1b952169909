"""What ``leastcap report`` says, as data; the renderers only lay it out."""

from __future__ import annotations

from dataclasses import dataclass

from leastcap.model import Finding, Problem


@dataclass(frozen=True, slots=True)
class ServiceRow:
    project: str
    service: str
    image: str
    privileged: bool
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    devices: tuple[str, ...]
    host_namespaces: tuple[str, ...]  # "pid", "network", ...
    sensitive_mounts: tuple[str, ...]  # host sources, with ":ro" when read-only
    no_new_privileges: bool
    status: str  # "open (critical)", "accepted", "clean"
    worst: str  # the highest active severity, "" when none
    counts: tuple[tuple[str, int], ...]  # active findings per severity label, highest first


@dataclass(frozen=True, slots=True)
class Rationale:
    source: str  # "profile", "knowledge base", "compose comment", "none"
    text: str
    reference: str = ""  # a file, a URL


@dataclass(frozen=True, slots=True)
class KeptCapability:
    project: str
    service: str
    capability: str
    rationales: tuple[Rationale, ...]  # empty: no rationale recorded


@dataclass(frozen=True, slots=True)
class ExceptionRow:
    rule: str
    project: str
    service: str
    justification: str
    approved_by: str
    expires: str
    days_left: int | None
    ticket: str
    flags: tuple[str, ...]  # "expired", "expires within 30 days", "unjustified: ...", "unused"
    where: str


@dataclass(frozen=True, slots=True)
class Exposure:
    project: str
    service: str
    status: str  # "open" or "accepted"
    detail: str  # who accepted it and until when; what was found
    where: str


@dataclass(frozen=True, slots=True)
class ThreatPath:
    title: str
    exposures: tuple[Exposure, ...]  # empty: closed

    @property
    def status(self) -> str:
        if not self.exposures:
            return "closed"
        return "open" if any(e.status == "open" for e in self.exposures) else "accepted"


@dataclass(frozen=True, slots=True)
class Threat:
    title: str
    why: str
    paths: tuple[ThreatPath, ...]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    rule: str
    detail: str  # which privilege: ``Finding.subject`` (a service may have several of one rule)
    service: str
    path: str
    introduced: str  # "abc1234 2024-01-01 Ada"
    removed: str
    at_tip: str  # "yes", "no", "suppressed"


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    commit: str
    date: str
    services: int  # services with a high or critical finding present after this commit


@dataclass(frozen=True, slots=True)
class HistorySection:
    repository: str
    tip: str
    rows: tuple[HistoryRow, ...]
    points: tuple[HistoryPoint, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class DriftRow:
    container: str
    service: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class ChangeRow:
    change: str  # "new", "removed", "changed"
    rule: str
    project: str
    service: str
    severity: str
    detail: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Summary:
    projects: int
    services: int
    by_severity: tuple[tuple[str, int], ...]
    suppressed: int
    privileged_services: int
    exceptions_active: int
    exceptions_expiring: int
    exceptions_expired: int
    profiles_verified: int
    profiles: int


@dataclass(frozen=True, slots=True)
class SecurityReport:
    date: str
    paths: tuple[str, ...]
    summary: Summary
    services: tuple[ServiceRow, ...]
    capabilities: tuple[KeptCapability, ...]
    exceptions: tuple[ExceptionRow, ...]
    threats: tuple[Threat, ...]
    history: HistorySection | None
    drift: tuple[DriftRow, ...] | None  # None: no --audit given
    changes: tuple[ChangeRow, ...] | None  # None: no --previous given
    previous: str
    findings: tuple[Finding, ...]
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
