"""The only module that talks to a Docker engine: one snapshot of one host, through the docker SDK.

A snapshot is plain data (the ``docker info`` fields the mapping needs, the ``docker inspect`` of
each container, the options of the named volumes they use), so the mapping and the rules stay
pure functions that unit tests can feed with recorded inspect JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leastcap.audit.targets import HostTarget


class HostUnavailableError(Exception):
    """The engine did not answer or refused us: an error for this host only."""


@dataclass(frozen=True)
class EngineFacts:
    """What the mapping must know about the daemon to tell its defaults from explicit settings."""

    cgroup_version: str = "1"
    # The daemon's default cgroup namespace: ``private`` when ``docker info`` lists the
    # ``name=cgroupns`` security option (moby adds it exactly when the default is private).
    cgroupns_default: str = "host"
    default_runtime: str = "runc"
    server_version: str = ""
    name: str = ""


@dataclass(frozen=True)
class HostSnapshot:
    target: HostTarget
    engine: EngineFacts
    containers: tuple[Mapping[str, Any], ...]
    # named volume -> its driver options (``{"type": "none", "o": "bind", "device": "/"}``).
    volume_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def engine_facts(info: Mapping[str, Any], version: Mapping[str, Any] | None = None) -> EngineFacts:
    options = info.get("SecurityOptions") or []
    private = any(isinstance(o, str) and o.split(",")[0] == "name=cgroupns" for o in options)
    return EngineFacts(
        cgroup_version=str(info.get("CgroupVersion") or "1"),
        cgroupns_default="private" if private else "host",
        default_runtime=str(info.get("DefaultRuntime") or "runc"),
        server_version=str((version or {}).get("Version") or info.get("ServerVersion") or ""),
        name=str(info.get("Name") or ""),
    )


def _client(target: HostTarget, timeout: float) -> Any:
    import docker
    import docker.tls

    tls: Any = False
    if target.tls is not None:
        cert = None
        if target.tls.client_cert and target.tls.client_key:
            cert = (target.tls.client_cert, target.tls.client_key)
        tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=target.tls.ca_cert, verify=target.tls.verify)
    url = target.url
    if target.scheme == "ssh":
        # Our own transport over the ssh binary: the SDK's needs paramiko (see sshconn).
        from leastcap.audit.sshconn import api_client

        return api_client(url, timeout)
    if tls is not False and url.startswith("tcp://"):
        url = "https://" + url[len("tcp://") :]
    # version="auto" asks the engine which API it speaks; this is the first round trip, so an
    # engine that does not answer fails here.
    return docker.APIClient(base_url=url, version="auto", timeout=timeout, tls=tls)


def snapshot(target: HostTarget, include_stopped: bool, timeout: float = 10.0) -> HostSnapshot:
    """Inspect every container on one engine (running ones unless ``include_stopped``)."""
    import docker.errors
    import requests.exceptions

    failures = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
    try:
        client = _client(target, timeout)
    except failures as exc:
        raise HostUnavailableError(f"cannot connect to {target.url}: {_short(exc)}") from None
    try:
        info = client.info()
        facts = engine_facts(info, client.version())
        containers: list[Mapping[str, Any]] = []
        for summary in client.containers(all=include_stopped):
            try:
                containers.append(client.inspect_container(summary["Id"]))
            except docker.errors.NotFound:
                continue  # removed between the listing and the inspect
        volumes: dict[str, Mapping[str, str]] = {}
        for container in containers:
            for mount in container.get("Mounts") or []:
                name = mount.get("Name")
                if mount.get("Type") == "volume" and name and name not in volumes:
                    try:
                        volumes[name] = client.inspect_volume(name).get("Options") or {}
                    except docker.errors.NotFound:
                        volumes[name] = {}
    except failures as exc:
        raise HostUnavailableError(f"{target.url}: {_short(exc)}") from None
    finally:
        client.close()
    containers.sort(key=lambda c: (str(c.get("Name", "")), str(c.get("Id", ""))))
    return HostSnapshot(target, facts, tuple(containers), volumes)


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_OSERROR = re.compile(r"\w+Error\(-?\d+, '([^']+)'\)")


def _short(exc: BaseException) -> str:
    """The SDK nests urllib3 reprs several levels deep; the innermost OS reason is what a user needs
    ("Connection refused", "No such file or directory")."""
    ssh = _ssh_failure(exc)
    if ssh is not None:
        return str(ssh)
    text = str(exc)
    for pattern in (_ERRNO, _OSERROR):
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    return text.strip() or type(exc).__name__


def _ssh_failure(exc: BaseException) -> BaseException | None:
    """ssh's own error, wherever the SDK, requests and urllib3 wrapped it (causes and arguments)."""
    from leastcap.audit.sshconn import SshFailure

    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, SshFailure):
            return current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo += [a for a in current.args if isinstance(a, BaseException)]
    return None
