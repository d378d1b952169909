"""Host-control sockets: Unix sockets whose daemon runs as root on the host and obeys whoever
connects. Mounting one (or a directory that holds one) hands that daemon to the container.

Connecting to a socket is not a write to the file, so a read-only bind exposes the daemon just the
same. ``docker-socket`` reports the container runtimes' sockets, ``host-socket`` the other host
daemons'; both use :func:`exposure` so a path is judged once and the same way everywhere.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from leastcap.model import Located, Mount, Project, Service
from leastcap.rules._common import services_by_name
from leastcap.semantics import host_path


@dataclass(frozen=True, slots=True)
class Socket:
    path: str  # where the daemon listens by default, under /run (/var/run is a link to /run)
    daemon: str  # "the Docker API"
    runtime: bool  # a container runtime's API (docker-socket) or another host daemon (host-socket)
    grants: str  # what a client can do, completing "which lets it ..."


_RUNTIME_GRANTS = "start a privileged container that mounts the host's root file system: root on the host"
SOCKETS: tuple[Socket, ...] = (
    Socket("/run/docker.sock", "the Docker API", True, _RUNTIME_GRANTS),
    Socket("/run/containerd/containerd.sock", "the containerd API", True, _RUNTIME_GRANTS),
    Socket("/run/crio/crio.sock", "the CRI-O API", True, _RUNTIME_GRANTS),
    Socket("/run/podman/podman.sock", "the Podman API", True, _RUNTIME_GRANTS),
    Socket(
        "/run/buildkit/buildkitd.sock",
        "the BuildKit API",
        True,
        "run builds with the security.insecure entitlement (privileged build steps)",
    ),
    Socket(
        "/run/dbus/system_bus_socket",
        "the D-Bus system bus",
        False,
        "talk as root to systemd, polkit, NetworkManager and every system service (systemd's "
        "StartTransientUnit runs any command on the host)",
    ),
    Socket(
        "/run/systemd/private",
        "systemd's private API",
        False,
        "start, stop and create any unit: any command as root on the host",
    ),
    Socket(
        "/run/libvirt/libvirt-sock",
        "the libvirt API",
        False,
        "define and start virtual machines with host disks, devices and file systems",
    ),
    Socket(
        "/run/libvirt/virtqemud-sock",
        "the libvirt QEMU API",
        False,
        "define and start virtual machines with host disks, devices and file systems",
    ),
    Socket(
        "/run/tailscale/tailscaled.sock",
        "the tailscaled local API",
        False,
        "reconfigure the host's tailnet, turn on Tailscale SSH and serve or receive host files as root",
    ),
    Socket(
        "/run/snapd.socket", "the snapd API", False, "install snaps, including classic ones that run unconfined as root"
    ),
)
# Runtime sockets also live elsewhere (rootless daemons under /run/user/UID, a custom -H path): a
# bind of a file with one of these names is that runtime's API wherever it is.
_RUNTIME_NAMES = {posixpath.basename(s.path): s for s in SOCKETS if s.runtime}


@dataclass(frozen=True, slots=True)
class Exposure:
    """What a bind exposes: one socket, or a directory and the sockets under it."""

    path: str  # the host path as written (normalised)
    sockets: tuple[Socket, ...]
    directory: bool

    @property
    def runtime(self) -> bool:
        return any(s.runtime for s in self.sockets)

    def what(self) -> str:
        if not self.directory:
            return f"{self.path}, {self.sockets[0].daemon}"
        daemons = ", ".join(f"{s.daemon} ({s.path})" for s in self.sockets)
        return f"{self.path}, a directory that holds host-control sockets: {daemons}"

    def grants(self) -> str:
        return self.sockets[0].grants


def _canonical(path: str) -> str:
    return "/run" + path[len("/var/run") :] if path == "/var/run" or path.startswith("/var/run/") else path


def exposure(path: str) -> Exposure | None:
    """The sockets a bind of host ``path`` exposes, or None.

    ``/`` holds every socket too, but a bind of ``/`` is the whole host file system: sensitive-mount
    reports it (critical, read-only or not) and names the sockets.
    """
    canonical = _canonical(path)
    for socket in SOCKETS:
        if socket.path == canonical:
            return Exposure(path, (socket,), False)
    runtime = _RUNTIME_NAMES.get(posixpath.basename(canonical))
    if runtime is not None:
        return Exposure(path, (runtime,), False)
    if canonical == "/" or not canonical.startswith("/"):
        return None
    inside = tuple(s for s in SOCKETS if s.path.startswith(canonical + "/"))
    return Exposure(path, inside, True) if inside else None


@dataclass(frozen=True, slots=True)
class Exposed:
    """A socket exposure of a service, directly or through ``volumes_from``."""

    exposure: Exposure
    mount: Located[Mount]  # the bind that exposes it
    owner: str  # the service that binds it
    via: Located[str] | None  # the volumes_from entry it came through, None when direct


def exposed(service: Service, project: Project) -> Iterator[Exposed]:
    """Every socket exposure of ``service``: its own binds, then what ``volumes_from`` brings in
    (Docker copies the other container's mount points, including what it got the same way)."""
    for entry in service.volumes:
        found = _of(entry)
        if found is not None:
            yield Exposed(found, entry, service.name, None)
    if not service.volumes_from:
        return
    services = services_by_name(project)
    for source in service.volumes_from:
        other = services.get(source.value.split(":", 1)[0])
        if other is None or other is service:
            continue
        for owner, mount, found in _inherited(other, services, {service.name}):
            yield Exposed(found, mount, owner, source)


def _of(entry: Located[Mount]) -> Exposure | None:
    path = host_path(entry.value)
    return exposure(path) if path is not None else None


def _inherited(
    service: Service, services: dict[str, Service], seen: set[str]
) -> Iterator[tuple[str, Located[Mount], Exposure]]:
    if service.name in seen:
        return
    seen.add(service.name)
    for entry in service.volumes:
        found = _of(entry)
        if found is not None:
            yield service.name, entry, found
    for source in service.volumes_from:
        other = services.get(source.value.split(":", 1)[0])
        if other is not None:
            yield from _inherited(other, services, seen)
