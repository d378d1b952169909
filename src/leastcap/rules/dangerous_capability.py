from __future__ import annotations

from collections.abc import Iterator

from leastcap.capabilities import ALL, DOCKER_DEFAULT_CAPABILITIES, short, try_normalize
from leastcap.model import Finding, Located, Location, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules._namespaces import host_join
from leastcap.rules.base import Rule
from leastcap.rules.knowledge import capability


class DangerousCapability(Rule):
    """Flags each capability added beyond Docker's 14 defaults, and capability names moby refuses.

    ## What it does
    Normalises every ``cap_add`` entry the way moby does (``net_admin``, ``CAP_NET_ADMIN`` and
    ``Net_Admin`` are one capability) and reports each capability outside Docker's default set,
    once per capability, with what it lets an attacker do. Critical for ``SYS_ADMIN``,
    ``SYS_MODULE``, ``SYS_RAWIO``, ``DAC_READ_SEARCH``, ``BPF``, ``PERFMON``, ``SYS_BOOT``,
    ``MAC_ADMIN`` and ``MAC_OVERRIDE``; high for the others (``NET_ADMIN``, ``SYS_TIME``,
    ``SYSLOG``, ...). ``SYS_PTRACE`` depends on the PID namespace: critical with ``pid: host``
    (or a ``pid: service:x`` chain that ends in it), where it reads and rewrites the memory of
    every host process, root's included; high without, where it reaches only the container's
    own processes (still enough to read a secret from a process that dropped to another user).
    Adding a default capability is not reported. A name moby does
    not know (``CAP_ALL``, a typo, a name with spaces) is reported with medium severity: the daemon
    refuses to create the container. ``ALL`` is left to ``cap-add-all``.

    ## Why is this bad
    Each capability beyond the defaults opens kernel interfaces that the default set keeps
    closed; several are container escapes on their own (``SYS_ADMIN``: cgroup v1 release_agent,
    mounts; ``SYS_MODULE``: kernel modules; ``DAC_READ_SEARCH``: ``open_by_handle_at`` reads host
    files; ``SYS_PTRACE``: other processes' memory). A specific ``cap_drop`` does not undo an
    add: in moby the add wins.

    ## Example
    ```yaml
    services:
      app:
        image: app
        cap_add: [sys_admin, NET_ADMIN]
    ```

    ## Fix
    Remove the capability, or replace it with a narrower one (``PERFMON``/``BPF`` instead of
    ``SYS_ADMIN`` for tracing, ``SYS_NICE`` for I/O priority, ``ulimits: memlock`` instead of
    ``IPC_LOCK``). Keep what remains justified with an exception in ``.leastcap.yml``.
    ```yaml
    services:
      app:
        image: app
        cap_drop: [ALL]
        cap_add: [NET_BIND_SERVICE]  # all it needed was port 80
    ```
    """

    slug = "dangerous-capability"
    summary = "A capability beyond Docker's defaults is added"
    severity = Severity.HIGH
    cis = ("5.4",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        by_capability: dict[str, list[Located[str]]] = {}
        for entry in service.cap_add:
            name = try_normalize(entry.value)
            if name is None:
                yield self.finding(
                    service,
                    project,
                    f"service {service.name!r} adds unknown capability {entry.value!r}: the daemon "
                    "refuses to create the container" + context(service, entry),
                    entry.origin,
                    entry.via,
                    severity=Severity.MEDIUM,
                    confidence=confidence_for(entry),
                    facts=(("capability", entry.value),),
                )
                continue
            if name == ALL or name in DOCKER_DEFAULT_CAPABILITIES:
                continue
            by_capability.setdefault(name, []).append(entry)
        for name, entries in by_capability.items():
            info = capability(name)
            first = entries[0]
            related = first.via + tuple(e.origin.with_note(f"also added as {e.value}") for e in entries[1:])
            severity, why = info.severity, ""
            if name == "CAP_SYS_PTRACE":
                severity, why, where = _ptrace(service, project)
                related += where
            yield self.finding(
                service,
                project,
                f"service {service.name!r} adds {short(name)}, which lets an attacker in the container "
                f"{info.attacker}{why}" + context(service, *entries),
                first.origin,
                related,
                severity=severity,
                confidence=confidence_for(*entries),
                facts=(("capability", name),),
            )


def _ptrace(service: Service, project: Project) -> tuple[Severity, str, tuple[Location, ...]]:
    """SYS_PTRACE reaches the processes of the PID namespace: the host's with ``pid: host``."""
    join = host_join(service, project, "pid")
    if join is None:
        return Severity.HIGH, " (only the container's own processes: it does not share the host's PID namespace)", ()
    where = join.setting.origin.with_note(join.describe("pid"))
    return Severity.CRITICAL, f"; with {join.describe('pid')} that is every process on the host", (where,)
