"""The host-socket rule on hand-built services: exact rule, severity, location and message."""

from __future__ import annotations

from rulebuild import at, bind, brief, run, service


def test_host_daemon_sockets_read_only_or_not_and_not_the_docker_socket() -> None:
    svc = service(
        volumes=(
            at(bind("/run/dbus", "/run/dbus", read_only=True), 4, 9),  # a directory holding the bus
            at(bind("/var/run/libvirt/libvirt-sock", "/s"), 5, 9),  # /var/run is /run
            at(bind("/var/run/docker.sock", "/d"), 6, 9),  # docker-socket's, not this rule's
            at(bind("/run/user/1000", "/u"), 7, 9),  # no root daemon's control socket
        )
    )
    found = run("host-socket", svc)
    assert brief(found) == [("host-socket", "critical", 4, 9), ("host-socket", "critical", 5, 9)]
    assert [f.facts for f in found] == [(("source", "/run/dbus"),), (("source", "/var/run/libvirt/libvirt-sock"),)]
    assert found[0].message == (
        "service 'web' mounts /run/dbus, a directory that holds host-control sockets: the D-Bus system bus "
        "(/run/dbus/system_bus_socket), which lets it talk as root to systemd, polkit, NetworkManager and every "
        "system service (systemd's StartTransientUnit runs any command on the host) (read-only does not help: "
        "connecting to a socket is not a write)"
    )
    assert found[1].message == (
        "service 'web' mounts /var/run/libvirt/libvirt-sock, the libvirt API, which lets it define and start "
        "virtual machines with host disks, devices and file systems"
    )
