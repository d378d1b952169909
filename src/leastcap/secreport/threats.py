"""The threat model: the two threats the mitigation exists for, each path that leads there, the
services exposed and each exposure's status (open, or accepted by whom until when); a path no
service has is closed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from leastcap.capabilities import try_normalize
from leastcap.model import Finding, Service, Severity
from leastcap.rules.cap_add_all import CapAddAll
from leastcap.rules.dangerous_capability import DangerousCapability
from leastcap.rules.docker_socket import DockerSocket
from leastcap.rules.host_device import HostDevice
from leastcap.rules.host_namespace import HostNamespace
from leastcap.rules.host_socket import HostSocket
from leastcap.rules.privileged import Privileged
from leastcap.rules.sensitive_mount import SensitiveMount
from leastcap.rules.unconfined_profile import UnconfinedProfile
from leastcap.secreport.model import Exposure, Threat, ThreatPath

HOST = "Host system compromise"
ESCAPE = "Container escape"


def _added(f: Finding, name: str) -> bool:
    """``f`` adds capability ``name`` (short form): the rule's fact is the normalised CAP_ name."""
    if f.rule == CapAddAll.slug:
        return True
    value = dict(f.facts).get("capability") if f.rule == DangerousCapability.slug else None
    return value is not None and try_normalize(value) == try_normalize(name)


def _cap(name: str) -> Callable[[Finding, Service | None], bool]:
    return lambda f, service: _added(f, name)


def _ptrace_host_pid(f: Finding, service: Service | None) -> bool:
    host_pid = service is not None and service.pid is not None and service.pid.value == "host"
    return host_pid and _added(f, "SYS_PTRACE")


def _rule(*rules: str) -> Callable[[Finding, Service | None], bool]:
    return lambda f, service: f.rule in rules


def _raw_device(f: Finding, service: Service | None) -> bool:
    return f.rule == HostDevice.slug and f.severity >= Severity.HIGH


def _writable_mount(f: Finding, service: Service | None) -> bool:
    return f.rule == SensitiveMount.slug and dict(f.facts).get("read_only") != "true"


# (title, threats it leads to, which findings are this path)
PATHS: tuple[tuple[str, tuple[str, ...], Callable[[Finding, Service | None], bool]], ...] = (
    ("privileged: true", (HOST, ESCAPE), _rule(Privileged.slug)),
    ("Docker or another control socket mounted", (HOST, ESCAPE), _rule(DockerSocket.slug, HostSocket.slug)),
    ("SYS_ADMIN", (ESCAPE,), _cap("SYS_ADMIN")),
    ("SYS_MODULE", (HOST, ESCAPE), _cap("SYS_MODULE")),
    ("SYS_PTRACE with the host's PID namespace", (HOST, ESCAPE), _ptrace_host_pid),
    ("raw host devices", (HOST,), _raw_device),
    ("writable sensitive host mounts", (HOST,), _writable_mount),
    ("seccomp or AppArmor switched off", (ESCAPE,), _rule(UnconfinedProfile.slug)),
    ("host namespaces", (HOST, ESCAPE), _rule(HostNamespace.slug)),
)

WHY = {
    HOST: "an attacker in a container gains control of the host: its files, processes, kernel or Docker.",
    ESCAPE: "an attacker breaks out of the container's isolation (namespaces, capabilities, seccomp, "
    "AppArmor) into the host's context.",
}


def _exposure(findings: list[Finding]) -> Exposure:
    first = findings[0]
    where = str(first.location)
    active = [f for f in findings if f.suppressed is None]
    if active:
        return Exposure(first.project, first.service, "open", active[0].message, str(active[0].location))
    s = first.suppressed
    assert s is not None
    if s.by == "exception":
        who = s.approved_by or "nobody named"
        until = f" until {s.expires}" if s.expires else ""
        detail = f"accepted by exception (approved by {who}{until}): {s.justification}"
    elif s.by == "baseline":
        detail = f"accepted by baseline ({s.justification})"
    else:
        detail = f"accepted inline: {s.justification}"
    return Exposure(first.project, first.service, "accepted", detail, where)


def threats(services: Sequence[Service], findings: Sequence[Finding]) -> tuple[Threat, ...]:
    by_service = {(s.project, s.name): s for s in services}
    out: list[Threat] = []
    for threat in (HOST, ESCAPE):
        paths: list[ThreatPath] = []
        for title, leads_to, match in PATHS:
            if threat not in leads_to:
                continue
            hits: dict[tuple[str, str], list[Finding]] = {}
            for f in findings:
                if f.service and match(f, by_service.get((f.project, f.service))):
                    hits.setdefault((f.project, f.service), []).append(f)
            exposures = tuple(_exposure(hits[key]) for key in sorted(hits))
            paths.append(ThreatPath(title, exposures))
        out.append(Threat(threat, WHY[threat], tuple(paths)))
    return tuple(out)
