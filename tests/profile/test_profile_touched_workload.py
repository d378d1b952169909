"""End to end: a service that opens /dev/net/tun and writes a sysctl, profiled with the real recorder.

The host cannot run privileged containers, so the first recording lacks /dev/net/tun (tunctl fails
with ENOENT, exit 1); leastcap records again with the device, where tunctl's TUNSETIFF needs
NET_ADMIN. The sysctl write fails on read-only /proc/sys in every run, so it becomes a note.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

from profile_support import leastcap, profile_json, require_all, write_project

SERVICE = """\
  tun:
    image: {image}
    network_mode: none
    command: ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward; tunctl -t lc0 && sleep 1"]
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
    assert data["sysctls"] == {}
    assert data["access"] == TUN_OPENED_ONCE_BY_TUNCTL
    assert data["verification"] == [
        {"cap_add": ["NET_ADMIN"], "passed": True, "reason": "exited with code 0, as in the recording"}
    ]
    assert data["recording"]["exit_code"] == 0
    notes = data["notes"]
    assert "recorded again with devices ['/dev/net/tun']: the first recording (not privileged) lacked them" in notes
    assert (
        "the service wrote net.ipv4.ip_forward (sh x1), but the recording was not privileged, so /proc/sys"
        " was read-only and the value it wanted is unknown: add sysctls: {net.ipv4.ip_forward: <value>}"
        " if the service needs it"
    ) in notes

    # Without NET_ADMIN the device alone is not enough: the verification run (which has the device)
    # fails as tunctl's TUNSETIFF is denied.
    rc, data, err = profile_json(compose, "tun", "--duration", "4s", "--verify-caps", "")
    assert rc == 1, err
    assert data["verification"][0]["passed"] is False
    assert data["verification"][0]["reason"] == "exit code 1 (the recording exited with code 0)"


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


def test_a_device_first_opened_after_the_open_window_is_not_proposed_and_the_profile_says_so(
    tmp_path: Path,
) -> None:
    image = require_all()
    compose = write_project(tmp_path, LATE.format(image=image))
    rc, data, err = profile_json(compose, "late", "--duration", "6s", "--open-window", "1s")
    assert rc == 0, err
    # tunctl failed (no /dev/net/tun in the non-privileged container) after the syscall hooks were
    # gone, and fanotify sees only opens that succeed: no device, no second recording, and a note
    # instead of silence.
    assert (data["devices"], data["access"], data["cap_add"]) == ([], [], [])
    assert data["recording"]["exit_code"] == 0
    assert (
        "the open syscalls were watched for the first 1 s only (--open-window); after that only opens"
        " that succeeded were seen (fanotify), not a device node missing from the container nor a write"
        " refused by its read-only /proc/sys"
    ) in data["notes"]
    assert not any(n.startswith("recorded again with devices") for n in data["notes"])


LATE_WITH_DEVICE = """\
  late:
    image: {image}
    network_mode: none
    devices: ["/dev/net/tun"]
    command: ["sh", "-c", "sleep 3; tunctl -t lc0; sleep 1"]
"""


def test_a_device_the_container_has_is_seen_by_fanotify_after_the_open_window(tmp_path: Path) -> None:
    image = require_all()
    compose = write_project(tmp_path, LATE_WITH_DEVICE.format(image=image))
    rc, data, err = profile_json(compose, "late", "--duration", "6s", "--open-window", "1s")
    assert rc == 0, err
    assert (data["cap_add"], data["devices"]) == (["NET_ADMIN"], ["/dev/net/tun"])
    assert data["access"] == TUN_OPENED_ONCE_BY_TUNCTL
    assert not any(n.startswith("recorded again with devices") for n in data["notes"])


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
