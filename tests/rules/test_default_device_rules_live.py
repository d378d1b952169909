"""The fact host-device's severities rest on, checked against the real daemon: Docker's default
device rules let a container open the tun/tap device (c 10:200) without any ``devices`` entry, and
refuse devices beyond them (/dev/fuse c 10:229, /dev/kmsg c 1:11)."""

from __future__ import annotations

import subprocess
import uuid

from leastcap.rules.host_device import DEFAULT_ALLOWED
from support.components import require_docker
from support.images import busybox_image

# The container creates each node itself (MKNOD is a default capability) and opens it: the device
# cgroup decides. An allowed tun device opens and then refuses the read (no interface attached:
# EBADFD); a denied device fails the open with EPERM.
_PROBE = (
    "mknod /tmp/tun c 10 200; cat /tmp/tun 2>&1; "
    "mknod /tmp/fuse c 10 229; cat /tmp/fuse 2>&1; "
    "mknod /tmp/kmsg c 1 11; head -c1 /tmp/kmsg 2>&1; true"
)


def test_tun_is_in_the_default_device_rules_and_fuse_and_kmsg_are_not() -> None:
    require_docker()
    name = f"leastcap-scan-rules-devices-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        ["docker", "run", "--rm", "--name", name, "--network", "none", busybox_image(), "sh", "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "cat: read error: File descriptor in bad state",
        "cat: can't open '/tmp/fuse': Operation not permitted",
        "head: /tmp/kmsg: Operation not permitted",
    ]
    assert DEFAULT_ALLOWED["/dev/net/tun"] == ("10", "200")
