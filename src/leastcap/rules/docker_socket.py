from __future__ import annotations

import posixpath
from collections.abc import Iterator

from leastcap.model import Finding, Located, Mount, Project, Service, Severity
from leastcap.rules._common import confidence_for, context, is_true
from leastcap.rules.base import Rule
from leastcap.semantics import host_path

SOCKETS = {
    "docker.sock": "the Docker API",
    "containerd.sock": "the containerd API",
    "podman.sock": "the Podman API",
    "crio.sock": "the CRI-O API",
}


class DockerSocket(Rule):
    """Flags a container runtime socket mounted into a service, and ``use_api_socket: true``.

    ## What it does
    Reports a bind mount (short ``/var/run/docker.sock:/var/run/docker.sock``, long ``type: bind``,
    a ``${DOCKER_SOCK:-/var/run/docker.sock}`` default, or a top-level named volume with
    ``driver_opts: {o: bind, device: ...}``) whose host path is a ``docker.sock``,
    ``containerd.sock``, ``podman.sock`` or ``crio.sock``, read-only or not, and
    ``use_api_socket: true``, which makes Compose bind the Docker socket and the registry
    credentials. A single-path entry ``- /var/run/docker.sock`` is an anonymous volume at that
    path inside the container, not the host's socket, and is not reported.

    ## Why is this bad
    Whoever can talk to the runtime API can start a privileged container that mounts the host's
    root file system: access to the socket is root on the host. ``:ro`` does not help, because
    connecting to a socket is not a write to the file.

    ## Example
    ```yaml
    services:
      dashboard:
        image: portainer/portainer-ce
        volumes:
          - /var/run/docker.sock:/var/run/docker.sock:ro
    ```

    ## Fix
    Remove the socket. If the service only reads container metadata, put a filtering proxy
    (for example tecnativa/docker-socket-proxy with only ``CONTAINERS=1``) in front of it and
    point the service at the proxy over a private network.
    ```yaml
    services:
      dashboard:
        image: dashboard
        environment:
          DOCKER_HOST: tcp://socket-proxy:2375
    ```
    """

    slug = "docker-socket"
    summary = "The container runtime socket is exposed to a service"
    severity = Severity.CRITICAL
    cis = ("5.32",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for entry in service.volumes:
            path = host_path(entry.value)
            if path is None:
                continue
            api = SOCKETS.get(posixpath.basename(path))
            if api is None:
                continue
            ro = ""
            if entry.value.read_only:
                ro = " (read-only does not help: connecting to a socket is not a write)"
            yield self.finding(
                service, project,
                f"service {service.name!r} mounts {path}, {api}: control of the runtime is root on "
                f"the host{ro}" + context(service, entry),
                entry.origin, entry.via, confidence=confidence_for(entry),
                facts=(("source", path),),
            )
        yield from self._inherited(service, project)
        if is_true(service.use_api_socket):
            assert service.use_api_socket is not None
            yield self.finding(
                service, project,
                f"service {service.name!r} sets use_api_socket: true, which mounts the Docker API socket "
                "and registry credentials: control of the runtime is root on the host"
                + context(service, service.use_api_socket, flag="use_api_socket"),
                service.use_api_socket.origin, service.use_api_socket.via,
                confidence=confidence_for(service.use_api_socket),
            )

    def _inherited(self, service: Service, project: Project) -> Iterator[Finding]:
        """``volumes_from: [other]`` mounts everything ``other`` has, including what ``other`` got
        through its own ``volumes_from`` (Docker copies the container's mount points)."""
        by_name = {s.name: s for s in project.services}
        for entry in service.volumes_from:
            other = by_name.get(entry.value.split(":", 1)[0])
            if other is None or other is service:
                continue
            for owner, mount in _socket_mounts(other, by_name, {service.name}):
                path = host_path(mount.value) or ""
                yield self.finding(
                    service, project,
                    f"service {service.name!r} mounts {path} through volumes_from: {entry.value} (service "
                    f"{owner!r} binds it): control of the runtime is root on the host"
                    + context(service, entry, mount),
                    entry.origin,
                    (*entry.via, mount.origin.with_note(f"the socket bind in service {owner}")),
                    confidence=confidence_for(entry, mount),
                    facts=(("source", path),),
                )


def _socket_mounts(
    service: Service, by_name: dict[str, Service], seen: set[str]
) -> list[tuple[str, Located[Mount]]]:
    """(owning service, mount) for every runtime socket ``service`` has, directly or inherited."""
    if service.name in seen:
        return []
    seen.add(service.name)
    out: list[tuple[str, Located[Mount]]] = []
    for entry in service.volumes:
        path = host_path(entry.value)
        if path is not None and posixpath.basename(path) in SOCKETS:
            out.append((service.name, entry))
    for source in service.volumes_from:
        other = by_name.get(source.value.split(":", 1)[0])
        if other is not None:
            out.extend(_socket_mounts(other, by_name, seen))
    return out
