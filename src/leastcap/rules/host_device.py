from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from leastcap.capabilities import effective
from leastcap.model import Device, Finding, Located, Project, Service, Severity
from leastcap.rules._common import confidence_for, context, is_true
from leastcap.rules.base import Rule

# Kernel interfaces that read or write host memory, I/O ports or the kernel log.
_KERNEL = {
    "/dev/mem": "physical memory of the host",
    "/dev/kmem": "kernel memory of the host",
    "/dev/port": "the host's I/O ports",
    "/dev/kmsg": "the host's kernel log (read and inject messages)",
}
# Block devices: raw access to host disks bypasses every file permission.
_BLOCK = re.compile(
    r"^/dev/(sd[a-z]+\d*|hd[a-z]+\d*|vd[a-z]+\d*|xvd[a-z]+\d*|nvme\d+(n\d+(p\d+)?)?"
    r"|mmcblk\d+(p\d+|boot\d+|rpmb)?|loop\d+|loop-control|dm-\d+|md\d+|nbd\d+|sr\d+"
    r"|mapper/.+|disk/.+|block/.+)$"
)
# Directories that moby walks, mapping every device node under them (DevicesFromPath).
_DIRECTORIES = {
    "/dev": Severity.CRITICAL,
    "/dev/disk": Severity.CRITICAL,
    "/dev/mapper": Severity.CRITICAL,
    "/dev/block": Severity.CRITICAL,
    "/dev/bus": Severity.HIGH,
    "/dev/bus/usb": Severity.HIGH,
    "/dev/dri": Severity.HIGH,
    "/dev/snd": Severity.HIGH,
    "/dev/input": Severity.HIGH,
    "/dev/net": Severity.LOW,  # holds only the tun node on Linux, which the defaults allow
    "/dev/serial": Severity.HIGH,
    "/dev/v4l": Severity.HIGH,
    "/dev/vfio": Severity.HIGH,
    "/dev/dma_heap": Severity.HIGH,
}
# The device rules every container already has (see the rule's docs for the sources): mapping one
# of these only creates the node, which the default MKNOD capability could create anyway.
DEFAULT_ALLOWED: dict[str, tuple[str, str]] = {
    "/dev/null": ("1", "3"),
    "/dev/zero": ("1", "5"),
    "/dev/full": ("1", "7"),
    "/dev/random": ("1", "8"),
    "/dev/urandom": ("1", "9"),
    "/dev/tty": ("5", "0"),
    "/dev/console": ("5", "1"),
    "/dev/ptmx": ("5", "2"),
    "/dev/net/tun": ("10", "200"),
}
_CGROUP_RULE = re.compile(r"^\s*([abc])(?:\s+(\*|\d+):(\*|\d+)(?:\s+([rwm]+))?)?\s*$")


def classify_device(source: str) -> tuple[Severity, str]:
    path = posixpath.normpath(source) if source.startswith("/") else source
    if path in _KERNEL:
        return Severity.CRITICAL, _KERNEL[path]
    if path in DEFAULT_ALLOWED:
        return Severity.LOW, f"the device {path}"
    if path in _DIRECTORIES:
        what = f"every device node under {path} (moby maps a directory recursively)"
        if _DIRECTORIES[path] is Severity.LOW:
            what += ", which on Linux is only /dev/net/tun, already allowed by Docker's default device rules"
        return _DIRECTORIES[path], what
    if _BLOCK.match(path):
        return Severity.CRITICAL, "a host block device (raw disk access bypasses all file permissions)"
    return Severity.HIGH, f"the host device {path}"


class HostDevice(Rule):
    """Flags host devices given to a service: ``devices`` entries and permissive ``device_cgroup_rules``.

    ## What it does
    Reports every ``devices`` entry (short ``SRC[:DST[:PERMS]]``, long ``{source, target,
    permissions}`` and CDI names like ``nvidia.com/gpu=all``), rated by what it grants beyond
    the device rules every container already has:

    - critical: ``/dev/mem``, ``/dev/kmem``, ``/dev/port``, ``/dev/kmsg``, block devices
      (``/dev/sd*``, ``/dev/nvme*``, ``/dev/vd*``, ``/dev/xvd*``, ``/dev/mmcblk*``,
      ``/dev/loop*``, ``/dev/dm-*``, ``/dev/md*``, ``/dev/mapper/*``, ``/dev/disk/*``) and
      whole-directory mappings of ``/dev`` or the disk directories;
    - high: every other device or directory (moby maps every node under a directory), and CDI
      devices;
    - low (below the default ``--fail-on high``): the devices Docker's default rules already
      allow, ``/dev/net/tun`` (and ``/dev/net``, which holds only it), ``/dev/null``,
      ``/dev/zero``, ``/dev/full``, ``/dev/random``, ``/dev/urandom``, ``/dev/tty``,
      ``/dev/console``, ``/dev/ptmx``: the mapping only creates the node, which the default
      ``MKNOD`` capability could create anyway.

    The default rules are moby's (``oci/defaults.go`` ``DefaultLinuxSpec``: deny all, then allow
    ``c 1:3``, ``1:5``, ``1:8``, ``1:9``, ``5:0``, ``5:1`` and deny ``c 10:229`` /dev/fuse) plus
    runc's built-in allow list (``libcontainer/specconv`` ``AllowedDevices``: ``1:7``, ``5:2``,
    ``136:*`` and the tun/tap device ``c 10:200``). runc 1.2.0 dropped tun/tap from its list
    (opencontainers/runc#3468) and 1.2.4 put it back (opencontainers/runc#4555, shipped by
    moby/moby#49238) because VPN containers rely on it; runc 1.1 had it all along. This rule
    follows the released behaviour: a container may open ``c 10:200`` without any ``devices``
    entry (checked against the real daemon by the test suite).

    Also reports ``device_cgroup_rules``: rules that allow every device (``a``, ``a *:* rwm``,
    ``c *:* rwm``, ``b *:* rwm``) are critical while the service keeps ``MKNOD`` (a default
    capability: it can create any node the rule then allows), block-device rules and major 1
    (``/dev/mem``, ``/dev/kmem``, ``/dev/port``) are critical, a rule for one of the default
    devices above low, other rules high.

    ## Why is this bad
    A device node is a direct door into the host kernel and hardware, beside every namespace:
    a block device holds the host's file systems, ``/dev/mem`` its memory, ``/dev/kmsg`` its
    kernel log. An allow-all device cgroup rule plus ``CAP_MKNOD`` is the device half of
    ``privileged``. A tun device is not such a door: creating an interface with it needs
    ``NET_ADMIN``, which ``dangerous-capability`` reports.

    ## Example
    ```yaml
    services:
      backup:
        image: backup
        devices:
          - /dev/sda:/dev/sda
        device_cgroup_rules:
          - 'a *:* rwm'
    ```

    ## Fix
    Map only the device node the workload uses, with the narrowest permissions (``r`` instead of
    ``rwm``); prefer a file system mount of what the workload needs over a raw disk; replace
    allow-all cgroup rules with the exact ``c MAJOR:MINOR rw`` rule.
    ```yaml
    services:
      transcoder:
        image: jellyfin
        devices:
          - /dev/dri/renderD128:/dev/dri/renderD128
    ```
    """

    slug = "host-device"
    summary = "A host device or a permissive device cgroup rule is given to a service"
    severity = Severity.HIGH
    cis = ("5.18",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for entry in service.devices:
            yield self._device(service, project, entry)
        if not service.device_cgroup_rules:
            return
        caps = effective(
            [a.value for a in service.cap_add],
            [d.value for d in service.cap_drop],
            is_true(service.privileged),
        ).capabilities
        mknod = "CAP_MKNOD" in caps
        for rule in service.device_cgroup_rules:
            severity, what = self._cgroup_rule(rule.value, mknod)
            yield self.finding(
                service,
                project,
                f"service {service.name!r} has device_cgroup_rules {rule.value!r}, which {what}"
                + context(service, rule),
                rule.origin,
                rule.via,
                severity=severity,
                confidence=confidence_for(rule),
                facts=(("device_cgroup_rule", rule.value),),
            )

    def _device(self, service: Service, project: Project, entry: Located[Device]) -> Finding:
        device = entry.value
        if device.cdi:
            severity = Severity.HIGH
            what = f"the CDI device {device.source} (vendor-injected device nodes and mounts)"
        else:
            severity, what = classify_device(device.source)
        perms = "" if device.cdi else f" with permissions {device.permissions}"
        path = posixpath.normpath(device.source) if device.source.startswith("/") else device.source
        if path in DEFAULT_ALLOWED:
            major, minor = DEFAULT_ALLOWED[path]
            perms += (
                f", which Docker's default device rules already allow (c {major}:{minor}): the mapping "
                "grants nothing a container does not have"
            )
        return self.finding(
            service,
            project,
            f"service {service.name!r} is given {what}{perms}" + context(service, entry),
            entry.origin,
            entry.via,
            severity=severity,
            confidence=confidence_for(entry),
            facts=_device_facts(device),
        )

    @staticmethod
    def _cgroup_rule(text: str, mknod: bool) -> tuple[Severity, str]:
        match = _CGROUP_RULE.match(text)
        if match is None:
            return Severity.HIGH, "the daemon cannot parse (the container will not start)"
        kind, major, minor, _perms = match.groups()
        allow_all = kind == "a" or (major in (None, "*") and minor in (None, "*"))
        if allow_all:
            scope = {"a": "every device", "b": "every block device", "c": "every character device"}[kind]
            if mknod:
                return (
                    Severity.CRITICAL,
                    f"allows {scope}; with CAP_MKNOD the container can create and open any such node",
                )
            return (Severity.HIGH, f"allows {scope} (CAP_MKNOD is dropped, so only nodes that exist can be opened)")
        if kind == "b":
            return Severity.CRITICAL, "allows host block devices (raw disk access)"
        if kind == "c" and (major, minor) in DEFAULT_ALLOWED.values():
            return Severity.LOW, f"allows c {major}:{minor}, which Docker's default device rules already allow"
        if major == "1":
            return Severity.CRITICAL, "allows the memory devices (/dev/mem, /dev/kmem, /dev/port, /dev/kmsg)"
        return Severity.HIGH, f"allows the host character devices {major}:{minor}"


def _device_facts(device: Device) -> tuple[tuple[str, str], ...]:
    """What the finding is about, so its fingerprint changes when the access does: read access to a
    disk made read-write is a new finding (``diff``, baselines); ``mwr`` and ``rwm`` are the same."""
    if device.cdi:
        return (("device", device.source),)
    access = "".join(c for c in "rwm" if c in device.permissions)
    return (("device", device.source), ("permissions", access))
