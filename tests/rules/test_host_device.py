"""The host-device rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import at, device, run, service

from leastcap.model import Severity


def test_host_device_severities() -> None:
    svc = service(
        devices=(
            at(device("/dev/mem"), 5, 9),
            at(device("/dev/sda1", "/dev/xvda"), 6, 9),
            at(device("/dev/nvme0n1"), 7, 9),
            at(device("/dev/kmsg", permissions="r"), 8, 9),
            at(device("/dev"), 9, 9),
            at(device("/dev/dri"), 10, 9),
            at(device("/dev/net/tun"), 11, 9),
            at(device("nvidia.com/gpu=all", cdi=True), 12, 9),
            at(device("/dev/mapper/vg-root"), 13, 9),
            at(device("/dev/loop0"), 14, 9),
            at(device("/dev/ttyUSB0"), 15, 9),
        )
    )
    found = run("host-device", svc)
    assert [(f.location.line, f.severity.label) for f in found] == [
        (5, "critical"),
        (6, "critical"),
        (7, "critical"),
        (8, "critical"),
        (9, "critical"),
        (10, "high"),
        (11, "low"),  # in Docker's default device rules
        (12, "high"),
        (13, "critical"),
        (14, "critical"),
        (15, "high"),
    ]
    assert found[0].message == "service 'web' is given physical memory of the host with permissions rwm"
    assert found[4].message == (
        "service 'web' is given every device node under /dev (moby maps a directory recursively) with permissions rwm"
    )
    assert found[6].message == (
        "service 'web' is given the device /dev/net/tun with permissions rwm, which Docker's default device "
        "rules already allow (c 10:200): the mapping grants nothing a container does not have"
    )
    assert found[7].message == (
        "service 'web' is given the CDI device nvidia.com/gpu=all (vendor-injected device nodes and mounts)"
    )


def test_device_cgroup_rules() -> None:
    rules = ("a *:* rwm", "a", "c *:* rwm", "b *:* rwm", "b 8:* rw", "c 1:1 rw", "c 189:* rwm", "bogus", "c 10:200 rwm")
    svc = service(device_cgroup_rules=tuple(at(r, 5 + i, 9) for i, r in enumerate(rules)))
    found = run("host-device", svc)
    assert [f.severity.label for f in found] == ["critical"] * 6 + ["high", "high", "low"]
    assert found[8].message == (
        "service 'web' has device_cgroup_rules 'c 10:200 rwm', which allows c 10:200, which Docker's default "
        "device rules already allow"
    )
    assert found[0].message == (
        "service 'web' has device_cgroup_rules 'a *:* rwm', which allows every device; "
        "with CAP_MKNOD the container can create and open any such node"
    )
    dropped = run("host-device", service(device_cgroup_rules=(at("c *:* rwm", 5),), cap_drop=(at("ALL", 6),)))
    assert dropped[0].severity is Severity.HIGH
    assert "CAP_MKNOD is dropped" in dropped[0].message
