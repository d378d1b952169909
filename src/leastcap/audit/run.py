"""``leastcap audit`` minus the command line: hosts -> snapshots -> services -> findings.

Hosts are inspected concurrently by a bounded thread pool (engine round trips are I/O); the
mapping and the rules run afterwards in this thread, host by host in the order given, so the
result does not depend on which host answered first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from leastcap.audit.drift import DriftRule
from leastcap.audit.engine import HostSnapshot, HostUnavailableError, snapshot
from leastcap.audit.mapping import AuditedContainer, group_projects, map_container, namespace_chains
from leastcap.audit.procfs import capability_facts
from leastcap.audit.targets import HostTarget, resolve_targets
from leastcap.config import Config
from leastcap.model import Finding, Problem, Report, Severity
from leastcap.pipeline import Context, evaluate
from leastcap.progress import Tick, silent
from leastcap.rules.base import Comparison


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
    report: Report  # the pipeline's, each finding with its container's origin
    # Compose files read for --drift, as given by the container labels.
    compose_files: tuple[str, ...] = field(default=())

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.report.findings

    @property
    def errors(self) -> tuple[Problem, ...]:
        return self.report.errors

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self.report.warnings


def collect(
    targets: Sequence[HostTarget], include_stopped: bool, jobs: int, timeout: float, tick: Tick = silent
) -> list[HostSnapshot | Problem]:
    """One snapshot (or the host's error) per target, in the order of ``targets``; ``tick`` hears
    each host that answered (or failed), in the order they do."""

    def one(target: HostTarget) -> HostSnapshot | Problem:
        try:
            return snapshot(target, include_stopped, timeout)
        except HostUnavailableError as exc:
            return Problem(target.label, str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(targets)))) as pool:
        futures = [pool.submit(one, target) for target in targets]
        tick("Docker hosts inspected", 0, len(targets))
        for done, _ in enumerate(as_completed(futures), start=1):
            tick("Docker hosts inspected", done, len(targets))
        return [future.result() for future in futures]


def containers_of(snap: HostSnapshot) -> list[AuditedContainer]:
    refs = {}
    for inspect in snap.containers:
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        refs[str(inspect.get("Id", ""))] = (
            str(inspect.get("Name", "")).lstrip("/"),
            str(labels.get("com.docker.compose.project", "")),
            str(labels.get("com.docker.compose.service", "")),
        )
    chains = namespace_chains(snap.containers)
    out = []
    for inspect in snap.containers:
        facts: tuple[tuple[str, str], ...] = chains.get(str(inspect.get("Id", "")), ())
        if snap.target.is_local_socket:
            pid = int((inspect.get("State") or {}).get("Pid") or 0)
            facts += capability_facts(pid, str(inspect.get("Id", "")))
        out.append(
            map_container(
                inspect,
                snap.target.label,
                snap.engine,
                volume_options=snap.volume_options,
                runtime_facts=facts,
                refs=refs,
            )
        )
    return out


def with_origin(finding: Finding, by_path: Mapping[str, AuditedContainer]) -> Finding:
    """Every audit finding names host, container, image and Compose origin (related locations,
    which every output format shows), whatever rule produced it. ``facts`` stay the rule's own,
    so fingerprints do not change when a container is recreated."""
    container = by_path.get(finding.location.path)
    if container is None:
        return finding
    return replace(finding, related=finding.related + container.origin())


def audit(
    options: AuditOptions, config: Config | None = None, tick: Tick = silent, fail_on: Severity = Severity.HIGH
) -> AuditResult:
    """Inspect the hosts and judge their containers through the pipeline (with ``--drift``, each
    container against its Compose service too). Findings come back suppressed as ``config`` says."""
    env = os.environ if options.environ is None else options.environ
    targets = resolve_targets(options.hosts, options.contexts, env)
    errors: list[Problem] = []
    containers: list[AuditedContainer] = []
    for result in collect(targets, options.include_stopped, options.jobs, options.timeout, tick):
        if isinstance(result, Problem):
            errors.append(result)
        else:
            containers.extend(containers_of(result))

    warnings: list[Problem] = []
    files: list[str] = []
    pairs: list[Comparison] = []
    if options.drift:
        from leastcap.audit.compare import pair_containers

        pairs, drift_warnings, files = pair_containers(containers, env)
        warnings.extend(drift_warnings)
    context = Context(
        command="audit",
        fail_on=fail_on,
        comparisons=tuple(pairs),
        errors=tuple(errors),
        warnings=tuple(warnings),
        scanned_files=tuple(c.location.path for c in containers),
    )
    report = evaluate(group_projects(containers), config, context)
    by_path = {c.location.path: c for c in containers}
    report = replace(report, findings=tuple(with_origin(f, by_path) for f in report.findings))
    return AuditResult(tuple(targets), tuple(containers), report, tuple(files))


__all__ = ["AuditOptions", "AuditResult", "DriftRule", "audit"]
