from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules._namespaces import host_join
from leastcap.rules.base import Rule

_WHAT = {
    "pid": "sees and signals every host process (and, with SYS_PTRACE, reads their memory)",
    "ipc": "shares the host's System V IPC and /dev/shm",
    "network_mode": "uses the host's network stack: host-local services, all interfaces, no isolation",
    "userns_mode": "opts out of user-namespace remapping: root in the container is root on the host",
    "uts": "shares the host's hostname and domain name",
    "cgroup": "shares the host's cgroup namespace and sees the host's cgroup tree",
}

# uts: host shares only the hostname and domain name (changing them needs SYS_ADMIN, which the
# container does not have by default): medium. Every other host namespace is high.
_SEVERITY = {"uts": Severity.MEDIUM}


class HostNamespace(Rule):
    """Flags a service that shares a namespace with the host, directly or by joining one that does.

    ## What it does
    Reports ``pid: host``, ``ipc: host``, ``network_mode: host``, ``userns_mode: host``,
    ``cgroup: host`` (high) and ``uts: host`` (medium: the host's hostname and domain name are
    all it shares, and changing them needs ``SYS_ADMIN``). Also reports ``pid``, ``ipc`` and
    ``network_mode`` set to ``service:x`` when ``x`` ends in the host's namespace, directly or
    through a chain of such joins (``a`` joins ``b``, which joins ``c``, which sets
    ``network_mode: host``): the container then lives in the host's namespace and inherits its
    risk. The message names the chain and the related locations show where each link is set. In
    ``leastcap audit`` the same holds for ``container:NAME`` (``--network container:...``), across
    Compose projects and for containers that Compose did not create. A chain that loops or names
    a missing service is not reported: the daemon refuses to start it.

    ## Why is this bad
    Namespaces are what make a container a container. With the host's PID namespace a process sees
    every host process and, with ``SYS_PTRACE``, reads their memory; with the host network it
    reaches services bound to localhost and can sniff or spoof with ``NET_RAW``/``NET_ADMIN``; with
    ``userns_mode: host`` the daemon's user-namespace remapping no longer protects the host.
    Joining a container that shares the host's namespace is the same as sharing it: the
    namespace is one kernel object, whoever set it up.

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
    cis = ("5.10", "5.16", "5.17", "5.21", "5.31")

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for key in ("pid", "ipc", "network_mode", "userns_mode", "uts", "cgroup"):
            join = host_join(service, project, key)
            if join is None:
                continue
            value = join.setting
            severity = _SEVERITY.get(key)
            if join.direct:
                yield self.finding(
                    service,
                    project,
                    f"service {service.name!r} sets {key}: host, so it {_WHAT[key]}" + context(service, value),
                    value.origin,
                    value.via,
                    severity=severity,
                    confidence=confidence_for(value),
                    facts=(("namespace", key),),
                )
                continue
            hops = tuple(v for _, v in join.hops)
            links = (v.origin.with_note(f"{key}: {v.value} in service {name}") for name, v in join.hops)
            related = (*value.via, *links)
            yield self.finding(
                service,
                project,
                f"service {service.name!r} joins the host's namespace through {join.describe(key)}, so it "
                f"{_WHAT[key]}" + context(service, value, *hops),
                value.origin,
                related,
                severity=severity,
                confidence=confidence_for(value, *hops),
                facts=(("namespace", key), ("chain", " -> ".join((value.value, *join.chain)))),
            )
