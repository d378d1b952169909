from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import confidence_for, context, is_true
from leastcap.rules._sockets import Exposed, exposed
from leastcap.rules.base import Rule


class DockerSocket(Rule):
    """Flags a container runtime's socket (or a directory that holds one) mounted into a service, and
    ``use_api_socket: true``.

    ## What it does
    Reports a bind mount (short ``/var/run/docker.sock:/var/run/docker.sock``, long ``type: bind``,
    a ``${DOCKER_SOCK:-/var/run/docker.sock}`` default, a top-level named volume with
    ``driver_opts: {o: bind, device: ...}``, or one inherited through ``volumes_from``) of a
    container runtime's API socket: a file named ``docker.sock``, ``containerd.sock``,
    ``crio.sock``, ``podman.sock`` or ``buildkitd.sock`` anywhere (rootless daemons keep theirs
    under ``/run/user/UID``), or a directory that holds one of the default sockets: ``/run`` and
    ``/var/run`` (``/run/docker.sock``), ``/run/containerd``, ``/run/crio``, ``/run/podman``,
    ``/run/buildkit`` (``/var/run`` is a link to ``/run`` on every current distribution, so both
    spellings are one path). Critical whether read-only or not. Also reports
    ``use_api_socket: true``, which makes Compose bind the Docker socket and the registry
    credentials. A single-path entry ``- /var/run/docker.sock`` is an anonymous volume at that
    path inside the container, not the host's socket, and is not reported. Other host daemons'
    sockets (systemd, D-Bus, libvirt, tailscale, snapd) are ``host-socket``'s; a bind of ``/``
    is ``sensitive-mount``'s.

    ## Why is this bad
    Whoever can talk to the runtime API can start a privileged container that mounts the host's
    root file system: access to the socket is root on the host. ``:ro`` does not help, because
    connecting to a socket is not a write to the file. A directory bind exposes every socket in
    it, and the sockets created there later.

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
    summary = "A container runtime's API socket is exposed to a service"
    severity = Severity.CRITICAL
    cis = ("5.32",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for found in exposed(service, project):
            if found.exposure.runtime:
                yield socket_finding(self, service, project, found)
        if is_true(service.use_api_socket):
            assert service.use_api_socket is not None
            yield self.finding(
                service,
                project,
                f"service {service.name!r} sets use_api_socket: true, which mounts the Docker API socket "
                "and registry credentials: control of the runtime is root on the host"
                + context(service, service.use_api_socket, flag="use_api_socket"),
                service.use_api_socket.origin,
                service.use_api_socket.via,
                confidence=confidence_for(service.use_api_socket),
            )


def socket_finding(rule: Rule, service: Service, project: Project, found: Exposed) -> Finding:
    """One finding for a socket exposure, at the bind or at the ``volumes_from`` entry that brings it."""
    exposure, mount = found.exposure, found.mount
    ro = " (read-only does not help: connecting to a socket is not a write)" if mount.value.read_only else ""
    grants = f", which lets it {exposure.grants()}{ro}"
    if found.via is None:
        return rule.finding(
            service,
            project,
            f"service {service.name!r} mounts {exposure.what()}{grants}" + context(service, mount),
            mount.origin,
            mount.via,
            confidence=confidence_for(mount),
            facts=(("source", exposure.path),),
        )
    via = found.via
    return rule.finding(
        service,
        project,
        f"service {service.name!r} mounts {exposure.what()} through volumes_from: {via.value} (service "
        f"{found.owner!r} binds it){grants}" + context(service, via, mount),
        via.origin,
        (*via.via, mount.origin.with_note(f"the socket bind in service {found.owner}")),
        confidence=confidence_for(via, mount),
        facts=(("source", exposure.path),),
    )
