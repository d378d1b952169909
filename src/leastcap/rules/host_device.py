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
    "/dev/net": Severity.HIGH,
    "/dev/serial": Severity.HIGH,
    "/dev/v4l": Severity.HIGH,
    "/dev/vfio": Severity.HIGH,
    "/dev/dma_heap": Severity.HIGH,
}
_CGROUP_RULE = re.compile(r"^\s*([abc])(?:\s+(\*|\d+):(\*|\d+)(?:\s+([rwm]+))?)?\s*$")


def classify_device(source: str) -> tuple[Severity, str]:
    path = posixpath.normpath(source) if source.startswith("/") else source
    if path in _KERNEL:
        return Severity.CRITICAL, _KERNEL[path]
    if path in _DIRECTORIES:
        return _DIRECTORIES[path], f"every device node under {path} (moby maps a directory recursively)"
    if _BLOCK.match(path):
        return Severity.CRITICAL, "a host block device (raw disk access bypasses all file permissions)"
    return Severity.HIGH, f"the host device {path}"


class HostDevice(Rule):
    """Flags host devices given to a service: ``devices`` entries and permissive ``device_cgroup_rules``.

    ## What it does
    Reports every ``devices`` entry (short ``SRC[:DST[:PERMS]]``, long ``{source, target,
    permissions}`` and CDI names like ``nvidia.com/gpu=all``). Critical for ``/dev/mem``,
    ``/dev/kmem``, ``/dev/port``, ``/dev/kmsg``, block devices (``/dev/sd*``, ``/dev/nvme*``,
    ``/dev/vd*``, ``/dev/xvd*``, ``/dev/mmcblk*``, ``/dev/loop*``, ``/dev/dm-*``, ``/dev/md*``,
    ``/dev/mapper/*``, ``/dev/disk/*``) and for whole-directory mappings of ``/dev`` or disk
    directories; high for other devices and directories (moby maps every node under a directory).
    Also reports ``device_cgroup_rules``: rules that allow every device (``a``, ``a *:* rwm``,
    ``c *:* rwm``, ``b *:* rwm``) are critical while the service keeps ``MKNOD`` (a default
    capability: it can create any node the rule then allows), block-device rules and major 1
    (``/dev/mem``, ``/dev/kmem``, ``/dev/port``) are critical, other rules high.

    ## Why is this bad
    A device node is a direct door into the host kernel and hardware, beside every namespace:
    a block device holds the host's file systems, ``/dev/mem`` its memory, ``/dev/kmsg`` its
    kernel log. An allow-all device cgroup rule plus ``CAP_MKNOD`` is the device half of
    ``privileged``.

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
    cis = ("5.17",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for entry in service.devices:
            yield self._device(service, project, entry)
        if not service.device_cgroup_rules:
            return
        caps = effective(
            [a.value for a in service.cap_add], [d.value for d in service.cap_drop],
            is_true(service.privileged),
        ).capabilities
        mknod = "CAP_MKNOD" in caps
        for rule in service.device_cgroup_rules:
            severity, what = self._cgroup_rule(rule.value, mknod)
            yield self.finding(
                service, project,
                f"service {service.name!r} has device_cgroup_rules {rule.value!r}, which {what}"
                + context(service, rule),
                rule.origin, rule.via, severity=severity, confidence=confidence_for(rule),
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
        return self.finding(
            service, project,
            f"service {service.name!r} is given {what}{perms}" + context(service, entry),
            entry.origin, entry.via, severity=severity, confidence=confidence_for(entry),
            facts=(("device", device.source),),
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
                return (Severity.CRITICAL,
                        f"allows {scope}; with CAP_MKNOD the container can create and open any such node")
            return (Severity.HIGH,
                    f"allows {scope} (CAP_MKNOD is dropped, so only nodes that exist can be opened)")
        if kind == "b":
            return Severity.CRITICAL, "allows host block devices (raw disk access)"
        if major == "1":
            return Severity.CRITICAL, "allows the memory devices (/dev/mem, /dev/kmem, /dev/port, /dev/kmsg)"
        return Severity.HIGH, f"allows the host character devices {major}:{minor}"
