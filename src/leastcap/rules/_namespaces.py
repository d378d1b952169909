"""Namespace joins: ``pid``/``ipc``/``network_mode`` set to ``service:NAME`` (a file) or
``container:NAME`` (a container) put a service in the namespace of what it joins, so it inherits
that namespace's risk. The question every rule asks is: does this setting end in the host's
namespace, and through which chain?
"""

from __future__ import annotations

from dataclasses import dataclass

from leastcap.model import Located, Project, Service
from leastcap.rules._common import fact, services_by_name

# Settings a service can take from another service or container.
JOINABLE = ("pid", "ipc", "network_mode")
# The fact ``leastcap audit`` attaches to a container whose join ends in the host's namespace
# (``namespace_chain.network_mode`` = ``container:vpn-1 -> container:gateway -> host``): a
# container can join one of another Compose project or none, which the project alone cannot see.
CHAIN_FACT = "namespace_chain."


@dataclass(frozen=True, slots=True)
class HostJoin:
    """A setting that ends in the host's namespace."""

    setting: Located[str]  # the service's own value (``host``, ``service:vpn``, ``container:vpn-1``)
    chain: tuple[str, ...]  # the settings of what it joins, in order, ending in ``host``
    hops: tuple[tuple[str, Located[str]], ...]  # (service, its value) for each joined service in the file

    @property
    def direct(self) -> bool:
        return self.setting.value == "host"

    def describe(self, key: str) -> str:
        """``network_mode: service:vpn -> service:gateway -> host``: each link is the setting of
        the service (or container) before it."""
        return f"{key}: " + " -> ".join((self.setting.value, *self.chain)) if not self.direct else f"{key}: host"


def host_join(service: Service, project: Project, key: str) -> HostJoin | None:
    """The join of ``key`` when it ends in the host's namespace, else None (private, a missing
    service, a loop: the daemon refuses those)."""
    value: Located[str] | None = getattr(service, key)
    if value is None:
        return None
    if value.value == "host":
        return HostJoin(value, ("host",), ())
    recorded = fact(service, CHAIN_FACT + key)
    if recorded is not None:
        chain = tuple(recorded.split(" -> "))
        return HostJoin(value, chain[1:], ()) if chain[-1] == "host" else None
    if key not in JOINABLE or not value.value.startswith("service:"):
        return None
    services = services_by_name(project)
    hops: list[tuple[str, Located[str]]] = []
    seen = {service.name}
    current = value
    while current.value.startswith("service:"):
        name = current.value.removeprefix("service:")
        other = services.get(name)
        if other is None or name in seen:
            return None
        seen.add(name)
        following: Located[str] | None = getattr(other, key)
        if following is None:
            return None
        hops.append((name, following))
        current = following
    if current.value != "host":
        return None
    return HostJoin(value, tuple(v.value for _, v in hops), tuple(hops))
