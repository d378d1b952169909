"""``leastcap audit`` minus the command line: hosts -> snapshots -> services -> findings.

Hosts are inspected concurrently by a bounded thread pool (engine round trips are I/O); the
mapping and the rules run afterwards in this thread, host by host in the order given, so the
result does not depend on which host answered first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from leastcap.audit.engine import HostSnapshot, HostUnavailableError, snapshot
from leastcap.audit.mapping import AuditedContainer, group_projects, map_container
from leastcap.audit.procfs import capability_facts
from leastcap.audit.targets import HostTarget, resolve_targets
from leastcap.model import Finding, Problem, Project
from leastcap.rules.drift import DriftRule

CheckProject = Callable[[Project], list[Finding]]


@dataclass(frozen=True)
class AuditOptions:
    hosts: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    include_stopped: bool = False
    drift: bool = False
    jobs: int = 4
    timeout: float = 10.0
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class AuditResult:
    targets: tuple[HostTarget, ...]
    containers: tuple[AuditedContainer, ...]
    findings: tuple[Finding, ...]
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    # Compose files read for --drift, as given by the container labels.
    compose_files: tuple[str, ...] = field(default=())


def collect(targets: Sequence[HostTarget], include_stopped: bool, jobs: int, timeout: float) -> list[
    HostSnapshot | Problem
]:
    """One snapshot (or the host's error) per target, in the order of ``targets``."""

    def one(target: HostTarget) -> HostSnapshot | Problem:
        try:
            return snapshot(target, include_stopped, timeout)
        except HostUnavailableError as exc:
            return Problem(target.label, str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(targets)))) as pool:
        return list(pool.map(one, targets))


def containers_of(snap: HostSnapshot) -> list[AuditedContainer]:
    refs = {}
    for inspect in snap.containers:
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        refs[str(inspect.get("Id", ""))] = (
            str(inspect.get("Name", "")).lstrip("/"),
            str(labels.get("com.docker.compose.project", "")),
            str(labels.get("com.docker.compose.service", "")),
        )
    out = []
    for inspect in snap.containers:
        facts: tuple[tuple[str, str], ...] = ()
        if snap.target.is_local_socket:
            pid = int((inspect.get("State") or {}).get("Pid") or 0)
            facts = capability_facts(pid, str(inspect.get("Id", "")))
        out.append(map_container(
                inspect, snap.target.label, snap.engine, volume_options=snap.volume_options,
                runtime_facts=facts, refs=refs,
            ))
    return out


def with_origin(finding: Finding, by_path: Mapping[str, AuditedContainer]) -> Finding:
    """Every audit finding names host, container, image and Compose origin (related locations,
    which every output format shows), whatever rule produced it. ``facts`` stay the rule's own,
    so fingerprints do not change when a container is recreated."""
    container = by_path.get(finding.location.path)
    if container is None:
        return finding
    return replace(finding, related=finding.related + container.origin())


def audit(options: AuditOptions, check: CheckProject | None = None) -> AuditResult:
    if check is None:
        from leastcap.rules.registry import check_project

        check = check_project
    env = os.environ if options.environ is None else options.environ
    targets = resolve_targets(options.hosts, options.contexts, env)
    errors: list[Problem] = []
    containers: list[AuditedContainer] = []
    for result in collect(targets, options.include_stopped, options.jobs, options.timeout):
        if isinstance(result, Problem):
            errors.append(result)
        else:
            containers.extend(containers_of(result))

    by_path = {c.location.path: c for c in containers}
    findings: list[Finding] = []
    for project in group_projects(containers):
        findings.extend(with_origin(f, by_path) for f in check(project))

    warnings: list[Problem] = []
    files: list[str] = []
    if options.drift:
        from leastcap.audit.compare import drift_findings

        drift, drift_warnings, files = drift_findings(containers, env)
        findings.extend(with_origin(f, by_path) for f in drift)
        warnings.extend(drift_warnings)
    findings.sort(key=Finding.sort_key)
    return AuditResult(tuple(targets), tuple(containers), tuple(findings), tuple(errors), tuple(warnings),
                       tuple(files))


__all__ = ["AuditOptions", "AuditResult", "DriftRule", "audit"]
