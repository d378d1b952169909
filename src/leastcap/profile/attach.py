"""Attach mode: follow a running container's processes for a while, without restarting it.

The in-kernel pid filter is seeded with the container's shim and every task under it, with
``event-fork`` so new children (including ``docker exec`` and healthcheck processes, which the shim
starts through runc) are followed. Tasks already in the container are the service from the start.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any, Literal

import docker
from docker.errors import NotFound

from leastcap import __version__
from leastcap.capabilities import parse_mask
from leastcap.profile import docker as dk
from leastcap.profile.classify import Classification, classify
from leastcap.profile.format import FORMAT_VERSION, Profile, Recording
from leastcap.profile.proctree import State
from leastcap.profile.recorder import Collector, RunResult, Session
from leastcap.profile.runner import sorted_short
from leastcap.profile.touched import Touched, propose, read_sysctls, sysctl_names
from leastcap.profile.tracefs import check_source, tracefs_root
from leastcap.profile.watch import Probe, watch


@dataclass(frozen=True, slots=True)
class AttachOutcome:
    profile: Profile
    recording: RunResult
    classification: Classification


def _descendants(root: int, kids: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _status_mask(pid: int, field: str) -> frozenset[str]:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115 - tiny procfs file
        if line.startswith(field + ":"):
            return parse_mask(line.split(":", 1)[1].strip())
    return frozenset()


def profile_attach(
    container: str,
    duration: float,
    probe: str | None,
    probe_interval: float = 1.0,
    *,
    recorder: str = "auto",
    open_window: float | Literal["auto"] | None = "auto",
) -> AttachOutcome:
    root = tracefs_root()
    source = check_source(root)
    client = docker.from_env()
    attrs, init = _running_container(client, container)
    roots = _container_tasks(init)
    granted = _status_mask(init, "CapBnd")
    host = attrs.get("HostConfig", {})
    rec = _record(
        client,
        attrs,
        init,
        roots,
        source,
        duration,
        [Probe(probe)] if probe else [],
        probe_interval,
        recorder=recorder,
        open_window=open_window,
        privileged=bool(host.get("Privileged")),
    )
    touched = propose(
        rec.opens,
        rec.sysctl_values,
        privileged=bool(host.get("Privileged")),
        host_network=host.get("NetworkMode") == "host",
        host_ipc=host.get("IpcMode") == "host",
        configured_sysctls=host.get("Sysctls") or {},
    )
    kernel = dk.kernel_capabilities()
    result = classify(rec.checks, kernel - granted)
    profile = _attach_profile(attrs, container, probe, rec, touched, result, granted, kernel)
    return AttachOutcome(profile, rec, result)


def _running_container(client: docker.DockerClient, container: str) -> tuple[dict[str, Any], int]:
    """The container's inspect data and the host pid of its init process; it must be running."""
    try:
        attrs = client.api.inspect_container(container)
    except NotFound:
        raise dk.ComposeError(f"no such container: {container}") from None
    state = attrs.get("State", {})
    init = int(state.get("Pid") or 0)
    if not state.get("Running") or not init:
        raise dk.ComposeError(f"container {container} is not running")
    return attrs, init


def _container_tasks(init: int) -> dict[int, State]:
    """Every task under the container's shim: the service's (below init) and the set-up's."""
    shim = dk.parent_pid(init)
    if shim is None:
        raise dk.ComposeError(f"cannot read the parent of the container's init process {init}")
    kids = dk.children_map()
    service_pids = _descendants(init, kids)
    under_shim = _descendants(shim, kids)
    roots: dict[int, State] = {}
    for pid in under_shim:
        for task in dk.process_tasks(pid):
            roots[task] = State.SERVICE if pid in service_pids else State.SETUP
    return roots


def _record(
    client: docker.DockerClient,
    attrs: dict[str, Any],
    init: int,
    roots: dict[int, State],
    source: str,
    duration: float,
    probes: list[Probe],
    probe_interval: float,
    *,
    recorder: str,
    open_window: float | Literal["auto"] | None,
    privileged: bool,
) -> RunResult:
    """Follow the running container's tasks for ``duration`` seconds (or until it exits)."""
    collector = Collector(deferred=True)
    collector.set_roots(roots, running=True)
    sysctl_values: dict[str, str] = {}
    with Session(
        collector, source, list(roots), recorder=recorder, open_window=open_window, privileged=privileged
    ) as session:
        try:
            session.start()
            session.watch_container(init)
            watched = watch(client, attrs["Id"], duration, probes, probe_interval, on_tick=session.tick)
            if watched.exit_code is None:
                sysctl_values = read_sysctls(init, sysctl_names(session.opens_so_far()))
        finally:
            session.stop()
    return RunResult(
        collector.checks, watched.elapsed, watched.exit_code, watched.health, watched.probe_results,
        session.lost, True, attrs["Name"].lstrip("/"),
        opens=collector.opens, sysctl_values=sysctl_values, source=session.source, notes=session.notes,
    )  # fmt: skip


def _attach_profile(
    attrs: dict[str, Any],
    container: str,
    probe: str | None,
    rec: RunResult,
    touched: Touched,
    result: Classification,
    granted: frozenset[str],
    kernel: frozenset[str],
) -> Profile:
    """The profile of an attach recording; the Compose project comes from the container's labels."""
    labels = attrs.get("Config", {}).get("Labels") or {}
    files = tuple(f for f in labels.get("com.docker.compose.project.config_files", "").split(",") if f)
    notes: list[str] = []
    if rec.lost_events:
        notes.append(f"the recorder lost {rec.lost_events} events: the evidence is incomplete")
    if not files:
        notes.append("the container has no Compose labels: compose_files is empty")
    notes.extend([*rec.notes, *touched.notes])
    return Profile(
        version=FORMAT_VERSION,
        tool=f"leastcap {__version__}",
        compose_files=files,
        working_dir=labels.get("com.docker.compose.project.working_dir"),
        project=labels.get("com.docker.compose.project", ""),
        service=labels.get("com.docker.compose.service", rec.container or container),
        image=attrs.get("Config", {}).get("Image", ""),
        cap_add=tuple(sorted_short(result.required)),
        devices=touched.devices,
        sysctls=dict(touched.sysctls),
        security_opt=("no-new-privileges:true",),
        evidence=result.evidence,
        verified=False,
        minimized=False,
        recording=Recording(
            mode="attach",
            source=rec.source,
            kernel=platform.release(),
            duration_seconds=round(rec.duration, 3),
            privileged=bool(attrs.get("HostConfig", {}).get("Privileged")),
            granted=tuple(sorted_short(granted & kernel)),
            unavailable=tuple(sorted_short(kernel - granted)),
            events=sum(c.count for c in rec.checks),
            lost_events=rec.lost_events,
            exit_code=rec.exit_code,
            probe=probe,
            container=rec.container,
        ),
        notes=tuple(notes),
        access=touched.evidence,
    )
