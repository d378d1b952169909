"""The sensitive-mount rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import at, bind, brief, run, service

from leastcap.model import Mount


def test_sensitive_mount_paths() -> None:
    cases = [
        (bind("/", "/host", read_only=True), "critical"),
        (bind("/", "/host"), "critical"),
        (bind("/etc", "/host/etc", read_only=True), "high"),
        (bind("/etc/localtime", "/etc/localtime", read_only=True), None),
        (bind("/etc/hosts", "/etc/hosts"), "high"),
        (bind("/etc/shadow", "/s", read_only=True), "high"),
        (bind("/etc/ssh/", "/s"), "critical"),
        (bind("/proc/sys", "/p"), "critical"),
        (bind("/sys/fs/cgroup", "/sys/fs/cgroup", read_only=True), "high"),
        (bind("/var/lib/docker/containers", "/c", read_only=True), "high"),
        (bind("/run", "/run"), None),  # docker-socket's: it holds /run/docker.sock
        (bind("/run/dbus", "/run/dbus", read_only=True), None),  # host-socket's
        (bind("/dev/bus/usb", "/dev/bus/usb"), None),
        (bind("/lib/modules", "/lib/modules", read_only=True), "high"),
        (bind("/home/me/app", "/app"), None),
        (bind("/var/run/docker.sock", "/var/run/docker.sock"), None),  # docker-socket's business
        (Mount("volume", "/data", "data"), None),
        (Mount("volume", "/data", "data", host_path="/etc"), "critical"),
        (bind("//etc/", "/e", read_only=True), "high"),
        (bind("/etc/pihole", "/etc/pihole"), "high"),
        (bind("/etc/pihole", "/etc/pihole", read_only=True), None),
        (bind("/etc/docker/volumes/traefik", "/data"), "high"),
        (bind("/etc/docker/volumes/traefik", "/data", read_only=True), None),
        (bind("/usr/local/bin", "/b"), "high"),
        (bind("/usr/local/bin", "/b", read_only=True), None),
        (bind("/lib/x86_64-linux-gnu", "/l"), "high"),
        (bind("/root", "/r", read_only=True), "high"),
        (bind("/boot/grub", "/g"), "critical"),
        (bind("/etc/ssl", "/etc/ssl", read_only=True), "high"),  # holds /etc/ssl/private
        (bind("/etc/ssl/certs", "/etc/ssl/certs", read_only=True), None),
        (bind("/etc/localtime", "/etc/localtime"), "high"),
        (bind("/dev", "/dev", read_only=True), "critical"),
        (bind("/dev/pts", "/dev/pts", read_only=True), "critical"),
        (bind("/srv/usr", "/u"), None),
        (bind("/etc/docker", "/etc/docker", read_only=True), "high"),
        (bind("/etc/wireguard", "/config", read_only=True), "high"),
        (bind("/etc/profile.d", "/p"), "high"),
        (bind("/etc/resolv.conf", "/etc/resolv.conf", read_only=True), None),
    ]
    svc = service(volumes=tuple(at(m, 5 + i, 9) for i, (m, _) in enumerate(cases)))
    found = {f.location.line: f.severity.label for f in run("sensitive-mount", svc)}
    assert found == {5 + i: sev for i, (_, sev) in enumerate(cases) if sev is not None}


def test_sensitive_mount_messages_and_propagation() -> None:
    svc = service(
        volumes=(
            at(bind("/", "/rootfs", read_only=True, propagation="rslave"), 5, 9),
            at(bind("/mnt/data", "/data", propagation="rshared"), 6, 9),
        )
    )
    found = run("sensitive-mount", svc)
    assert brief(found) == [("sensitive-mount", "critical", 5, 9), ("sensitive-mount", "high", 6, 9)]
    assert found[0].message == (
        "service 'web' mounts the host's whole file system (every host file, secret and socket: Docker API, "
        "systemd, D-Bus) read-only at /rootfs"
    )
    assert found[1].message == (
        "service 'web' mounts /mnt/data with rshared propagation: mounts made in the container appear on the host"
    )
