"""End to end: a service that opens /dev/net/tun and writes a sysctl, profiled with the real recorder.

The host cannot run privileged containers, so the recording stands in for privileged: every
capability it can grant, every host device node and a writable /proc/sys. tunctl's TUNSETIFF needs
NET_ADMIN, and the sysctl write succeeds in the container's network namespace, so its value is
known and proposed.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from profile_support import IP_FORWARD_WRITTEN_ONCE_BY_SH, leastcap, profile_json, require_all, runs, write_project

from leastcap.profile.runner import available_capabilities
from leastcap.profile.touched import host_devices

SERVICE = """\
  tun:
    image: {image}
    network_mode: none
    command: ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward; tunctl -t lc0 && sleep 30"]
"""

# The access evidence of a service whose tunctl opened /dev/net/tun once (read-write).
TUN_OPENED_ONCE_BY_TUNCTL = [
    {
        "kind": "device",
        "name": "/dev/net/tun",
        "value": None,
        "path": "/dev/net/tun",
        "reason": "character device 10:200 on the host; opened for writing by tunctl x1",
        "reads": 0,
        "writes": 1,
        "processes": [{"comm": "tunctl", "count": 1}],
    }
]


def test_tun_device_and_sysctl(tmp_path: Path) -> None:
    image = require_all()
    assert Path("/dev/net/tun").is_char_device()
    compose = write_project(tmp_path, SERVICE.format(image=image))
    rc, data, err = profile_json(compose, "tun", "--duration", "4s", "--verify")
    assert rc == 0, err
    assert data["cap_add"] == ["NET_ADMIN"]
    assert data["devices"] == ["/dev/net/tun"]
    assert data["sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert data["access"] == [*TUN_OPENED_ONCE_BY_TUNCTL, IP_FORWARD_WRITTEN_ONCE_BY_SH]
    assert runs(data) == [{"cap_add": ["NET_ADMIN"], "passed": True, "reason": "still running after 4s"}]
    assert data["recording"]["exit_code"] is None
    granted = len(available_capabilities(image).granted)
    assert (
        f"in place of privileged, the recording had {granted} capabilities, the host's {len(host_devices())} device"
        " nodes with access to every device (device_cgroup_rules), and a writable /proc/sys"
        " (systempaths=unconfined), as privileged has; /sys stayed read-only, so a write to /sys was seen only"
        " while the open syscalls were watched (--open-window)"
    ) in data["notes"]

    # Without NET_ADMIN the device alone is not enough: the verification run (which has the device)
    # fails as tunctl's TUNSETIFF is denied.
    rc, data, err = profile_json(compose, "tun", "--duration", "4s", "--verify-caps", "")
    assert rc == 1, err
    assert data["verification"][0]["passed"] is False
    assert data["verification"][0]["reason"] == "exited with code 1 (the recording was still running after 4s)"


def test_attach_sees_devices_and_reads_sysctls_in_the_container(tmp_path: Path) -> None:
    """Attach mode: the container has the device (docker run --device), so opening it works; the
    sysctl write fails on read-only /proc/sys, and its value is read in the container's netns."""
    image = require_all()
    name = f"leastcap-touched-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, "--network", "none",
            "--device", "/dev/net/tun", "--cap-add", "NET_ADMIN", "--sysctl", "net.ipv4.ip_forward=0",
            image, "sh", "-c",
            # A new tap device each time: TUNSETIFF of an existing unowned one checks no capability.
            "i=0; while true; do i=$((i+1)); tunctl -t lc$i >/dev/null;"
            " echo 1 > /proc/sys/net/ipv4/tcp_syncookies; sleep 0.3; done",
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    try:
        proc = leastcap("profile", "--container", name, "--duration", "3s", "--json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["cap_add"] == ["NET_ADMIN"]
        assert data["devices"] == ["/dev/net/tun"]
        assert data["sysctls"] == {}
        [access] = data["access"]
        assert (access["kind"], access["name"], access["reads"]) == ("device", "/dev/net/tun", 0)
        assert access["writes"] >= 5
        assert access["processes"] == [{"comm": "tunctl", "count": access["writes"]}]
        writes = access["writes"]
        syncookies = subprocess.run(
            ["docker", "exec", name, "cat", "/proc/sys/net/ipv4/tcp_syncookies"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        note = next(n for n in data["notes"] if "tcp_syncookies" in n)
        # One sysctl write per loop, like the tunctl opens (the recording may end between the two).
        m = re.fullmatch(r"the service wrote net\.ipv4\.tcp_syncookies \(sh x(\d+)\), (.*)", note)
        assert m is not None, note
        assert abs(int(m.group(1)) - writes) <= 1
        assert m.group(2) == (
            "but the recording was not privileged, so /proc/sys was read-only and the value it wanted is"
            f" unknown (it is {syncookies!r} in the container): add sysctls: {{net.ipv4.tcp_syncookies:"
            " <value>} if the service needs it"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


LATE = """\
  late:
    image: {image}
    network_mode: none
    command: ["sh", "-c", "sleep 3; tunctl -t lc0; sleep 1"]
"""


def test_a_device_first_opened_late_is_seen_by_fanotify(tmp_path: Path) -> None:
    """The stand-in for privileged has every host device, so the late open succeeds, and fanotify
    sees it long after the open syscalls' hooks were detached (--open-window auto)."""
    image = require_all()
    compose = write_project(tmp_path, LATE.format(image=image))
    rc, data, err = profile_json(compose, "late", "--duration", "6s")
    assert rc == 0, err
    assert (data["cap_add"], data["devices"], data["access"]) == (
        ["NET_ADMIN"],
        ["/dev/net/tun"],
        TUN_OPENED_ONCE_BY_TUNCTL,
    )
    assert data["recording"]["exit_code"] == 0
    assert not any(n.startswith("the open syscalls were") for n in data["notes"])


SYS_WRITE = """\
  thp:
    image: {image}
    network_mode: none
    command: ["sh", "-c", "sleep 2; echo never > /sys/kernel/mm/transparent_hugepage/enabled; sleep 1"]
"""


@pytest.mark.parametrize("window", ["auto", "all"])
def test_a_failed_write_to_sys_is_seen_only_by_the_open_syscalls(tmp_path: Path, window: str) -> None:
    """/sys stays read-only in the stand-in for privileged, so the write fails before any file is
    opened: fanotify cannot see it, the open syscalls' hooks (kept on with --open-window all) can."""
    image = require_all()
    compose = write_project(tmp_path, SYS_WRITE.format(image=image))
    rc, data, err = profile_json(compose, "thp", "--duration", "5s", "--open-window", window)
    assert rc == 0, err
    note = (
        "the service opened /sys/kernel/mm/transparent_hugepage/enabled below /sys for writing (sh x1): /sys"
        " is read-only in a container unless it is privileged, and no Compose setting makes it writable; if"
        " the service needs this, it will fail without privileged (or a bind mount of that path)"
    )
    assert (note in data["notes"]) is (window == "all")


def test_attach_without_the_open_syscalls_sees_the_opens_that_succeed(tmp_path: Path) -> None:
    """--open-window 0: only fanotify watches. The device opens succeed and are seen; the sysctl
    writes fail on the read-only /proc/sys before any file is opened, so nothing sees them."""
    image = require_all()
    name = f"leastcap-touched-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, "--network", "none",
            "--device", "/dev/net/tun", "--cap-add", "NET_ADMIN", image, "sh", "-c",
            "i=0; while true; do i=$((i+1)); tunctl -t lc$i >/dev/null;"
            " echo 1 > /proc/sys/net/ipv4/tcp_syncookies; sleep 0.3; done",
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    try:
        proc = leastcap(
            "profile", "--container", name, "--duration", "3s", "--open-window", "0", "--json", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert (data["cap_add"], data["devices"], data["sysctls"]) == (["NET_ADMIN"], ["/dev/net/tun"], {})
        [access] = data["access"]
        assert (access["kind"], access["name"], access["reads"]) == ("device", "/dev/net/tun", 0)
        assert access["writes"] >= 5
        assert access["processes"] == [{"comm": "tunctl", "count": access["writes"]}]
        assert not any("tcp_syncookies" in n for n in data["notes"])
        assert (
            "the open syscalls were not watched (--open-window 0); only opens that succeeded were seen"
            " (fanotify), not a device node missing from the container nor a write refused by its"
            " read-only /proc/sys"
        ) in data["notes"]
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_open_window_takes_a_duration_or_all(tmp_path: Path) -> None:
    proc = leastcap("profile", "svc", "--open-window", "soon", cwd=tmp_path)
    assert proc.returncode == 2
    assert "'soon' is not a duration like 500ms, 10s, 5m or 1h" in proc.stderr
