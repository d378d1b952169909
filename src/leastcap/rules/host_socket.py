from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._sockets import exposed
from leastcap.rules.base import Rule
from leastcap.rules.docker_socket import socket_finding


class HostSocket(Rule):
    """Flags a host daemon's control socket (systemd, D-Bus, libvirt, tailscale, snapd) mounted into a service.

    ## What it does
    Reports a bind mount (any syntax, a named volume that is a bind, or one inherited through
    ``volumes_from``) of the control socket of a daemon that runs as root on the host, or of a
    directory that holds one:

    - D-Bus: ``/run/dbus/system_bus_socket``, ``/run/dbus``;
    - systemd: ``/run/systemd/private``, ``/run/systemd``;
    - libvirt: ``/run/libvirt/libvirt-sock``, ``/run/libvirt/virtqemud-sock``, ``/run/libvirt``;
    - tailscale: ``/run/tailscale/tailscaled.sock``, ``/run/tailscale``;
    - snapd: ``/run/snapd.socket``.

    ``/var/run/...`` is the same path (``/var/run`` links to ``/run``). Critical whether read-only
    or not. A bind of ``/run`` or ``/var/run`` also holds the Docker socket and is reported once,
    by ``docker-socket``; a bind of ``/`` by ``sensitive-mount``.

    ## Why is this bad
    These daemons run as root on the host and trust a client by its user id; root in a container
    (without user-namespace remapping) is user id 0 to them. Through the system bus a client
    asks systemd to start a transient unit, which runs any command as root on the host; the
    systemd socket does that directly; libvirt defines a virtual machine with the host's disks;
    snapd installs a classic snap that runs unconfined; tailscaled turns on Tailscale SSH or
    serves host files. ``:ro`` does not help: connecting to a socket is not a write.

    ## Example
    ```yaml
    services:
      homeassistant:
        image: ghcr.io/home-assistant/home-assistant
        volumes:
          - /run/dbus:/run/dbus:ro
    ```

    ## Fix
    Remove the bind. If the service needs one narrow function of the daemon (Bluetooth through
    BlueZ, a unit's status), run a small host-side helper that exposes only that function, or
    use the daemon's own access control (a D-Bus policy for a dedicated user plus ``user:`` and
    ``userns_mode``) so that the container is not root to the daemon.
    ```yaml
    services:
      homeassistant:
        image: ghcr.io/home-assistant/home-assistant
        devices:
          - /dev/ttyUSB0:/dev/ttyUSB0
    ```
    """

    slug = "host-socket"
    summary = "A host daemon's control socket is exposed to a service"
    severity = Severity.CRITICAL

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for found in exposed(service, project):
            if not found.exposure.runtime:
                yield socket_finding(self, service, project, found)
