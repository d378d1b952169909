from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Located, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules.base import Rule

_WHAT = {
    "pid": "sees and signals every host process (and, with SYS_PTRACE, reads their memory)",
    "ipc": "shares the host's System V IPC and /dev/shm",
    "network_mode": "uses the host's network stack: host-local services, all interfaces, no isolation",
    "userns_mode": "opts out of user-namespace remapping: root in the container is root on the host",
    "uts": "shares the host's hostname and domain name",
    "cgroup": "shares the host's cgroup namespace and sees the host's cgroup tree",
}


class HostNamespace(Rule):
    """Flags a service that shares a namespace with the host.

    ## What it does
    Reports ``pid: host``, ``ipc: host``, ``network_mode: host``, ``userns_mode: host``,
    ``uts: host`` and ``cgroup: host``. Also reports ``pid``/``ipc``/``network_mode``:
    ``service:x`` when service ``x`` of the same project uses the host namespace, because the
    container joins ``x``'s namespace (the related location shows where ``x`` sets it).

    ## Why is this bad
    Namespaces are what make a container a container. With the host's PID namespace a process sees
    every host process and, with ``SYS_PTRACE``, reads their memory; with the host network it
    reaches services bound to localhost and can sniff or spoof with ``NET_RAW``/``NET_ADMIN``; with
    ``userns_mode: host`` the daemon's user-namespace remapping no longer protects the host.

    ## Example
    ```yaml
    services:
      exporter:
        image: prom/node-exporter
        pid: host
        network_mode: host
    ```

    ## Fix
    Remove the setting. Publish ports instead of ``network_mode: host``; mount the specific
    read-only paths a monitoring agent needs instead of sharing the PID namespace where possible.
    ```yaml
    services:
      exporter:
        image: prom/node-exporter
        ports: ["9100:9100"]
    ```
    """

    slug = "host-namespace"
    summary = "A service shares a namespace with the host"
    severity = Severity.HIGH
    cis = ("5.9", "5.15", "5.16", "5.20", "5.30")

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for key in ("pid", "ipc", "network_mode", "userns_mode", "uts", "cgroup"):
            value: Located[str] | None = getattr(service, key)
            if value is None:
                continue
            if value.value == "host":
                yield self.finding(
                    service, project,
                    f"service {service.name!r} sets {key}: host, so it {_WHAT[key]}"
                    + context(service, value),
                    value.origin, value.via, confidence=confidence_for(value),
                    facts=(("namespace", key),),
                )
            elif value.value.startswith("service:") and key in ("pid", "ipc", "network_mode"):
                other = _service(project, value.value.removeprefix("service:"))
                other_value: Located[str] | None = getattr(other, key) if other is not None else None
                if other is not None and other_value is not None and other_value.value == "host":
                    yield self.finding(
                        service, project,
                        f"service {service.name!r} sets {key}: {value.value}, and that service uses the "
                        f"host's namespace, so it {_WHAT[key]}" + context(service, value, other_value),
                        value.origin,
                        (*value.via, other_value.origin.with_note(f"{key}: host in service {other.name}")),
                        confidence=confidence_for(value, other_value),
                        facts=(("namespace", key),),
                    )


def _service(project: Project, name: str) -> Service | None:
    for svc in project.services:
        if svc.name == name:
            return svc
    return None
