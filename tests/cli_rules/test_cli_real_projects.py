"""What real projects mount and set, through `leastcap scan`: exact findings and exit codes.

Every service below drops all capabilities and sets no-new-privileges unless that is what the
test is about, so the findings listed are all the findings.
"""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import invoke_in

HARDENED = "    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n"

Row = tuple[str, str, int, int, str]  # rule, file, line, column, severity


def scan(tmp_path: Path, compose: str, *args: str) -> tuple[int, list[Row]]:
    (tmp_path / "compose.yaml").write_text(compose)
    result = invoke_in(tmp_path, "scan", ".", "--no-scripts", "--format", "json", *args)
    report = json.loads(result.stdout)
    assert report["errors"] == []
    rows = [
        (f["rule"], f["location"]["path"], f["location"]["line"], f["location"]["column"], f["severity"])
        for f in report["findings"]
    ]
    return result.exit_code, rows


def test_host_control_sockets_and_their_directories(tmp_path: Path) -> None:
    code, rows = scan(
        tmp_path,
        "services:\n"
        "  ha:\n"
        "    image: homeassistant\n" + HARDENED + "    volumes:\n"
        "      - /run/dbus:/run/dbus:ro\n"  # 7
        "      - /var/run/dbus/system_bus_socket:/run/dbus/system_bus_socket:ro\n"
        "      - /run/systemd/private:/run/systemd/private\n"
        "      - /var/run/libvirt/libvirt-sock:/var/run/libvirt/libvirt-sock\n"  # 10
        "      - /run/containerd/containerd.sock:/c.sock:ro\n"
        "      - /run/crio/crio.sock:/crio.sock\n"
        "      - /run/podman/podman.sock:/p.sock\n"
        "      - /run/buildkit/buildkitd.sock:/b.sock\n"
        "      - /var/run/tailscale/tailscaled.sock:/t.sock\n"  # 15
        "      - /run/snapd.socket:/run/snapd.socket:ro\n"
        "      - /run:/host/run:ro\n"
        "      - /var/run:/var/run\n"
        "      - /:/host:ro\n"  # 19
        "      - /run/udev:/run/udev:ro\n",
    )
    assert code == 1
    assert rows == [
        ("host-socket", "compose.yaml", 7, 9, "critical"),
        ("host-socket", "compose.yaml", 8, 9, "critical"),
        ("host-socket", "compose.yaml", 9, 9, "critical"),
        ("host-socket", "compose.yaml", 10, 9, "critical"),
        ("docker-socket", "compose.yaml", 11, 9, "critical"),
        ("docker-socket", "compose.yaml", 12, 9, "critical"),
        ("docker-socket", "compose.yaml", 13, 9, "critical"),
        ("docker-socket", "compose.yaml", 14, 9, "critical"),
        ("host-socket", "compose.yaml", 15, 9, "critical"),
        ("host-socket", "compose.yaml", 16, 9, "critical"),
        ("docker-socket", "compose.yaml", 17, 9, "critical"),
        ("docker-socket", "compose.yaml", 18, 9, "critical"),
        ("sensitive-mount", "compose.yaml", 19, 9, "critical"),
    ]


def test_system_directories_writable_and_harmless_files_read_only(tmp_path: Path) -> None:
    code, rows = scan(
        tmp_path,
        "services:\n"
        "  app:\n"
        "    image: app\n" + HARDENED + "    volumes:\n"
        "      - /etc/localtime:/etc/localtime:ro\n"  # 7
        "      - /etc/timezone:/etc/timezone:ro\n"
        "      - /etc/ssl/certs:/etc/ssl/certs:ro\n"
        "      - /etc/ca-certificates:/etc/ca-certificates:ro\n"  # 10
        "      - /etc/machine-id:/etc/machine-id:ro\n"
        "      - /etc/localtime:/etc/localtime\n"  # 12: writable
        "      - /etc/app:/etc/app\n"
        "      - /usr/local/share:/share\n"
        "      - /boot:/boot:ro\n"  # 15
        "      - /lib/modules:/lib/modules\n"
        "      - /root/.docker:/cfg:ro\n"
        "      - /usr/share:/usr/share:ro\n"
        "      - /lib64:/lib64\n",  # 19
    )
    assert code == 1
    assert rows == [
        ("sensitive-mount", "compose.yaml", 12, 9, "high"),
        ("sensitive-mount", "compose.yaml", 13, 9, "high"),
        ("sensitive-mount", "compose.yaml", 14, 9, "high"),
        ("sensitive-mount", "compose.yaml", 15, 9, "high"),
        ("sensitive-mount", "compose.yaml", 16, 9, "critical"),
        ("sensitive-mount", "compose.yaml", 17, 9, "high"),
        ("sensitive-mount", "compose.yaml", 19, 9, "high"),
    ]


def test_devices_rated_by_what_they_grant_beyond_the_defaults(tmp_path: Path) -> None:
    vpn = "services:\n  vpn:\n    image: gluetun\n" + HARDENED + "    devices:\n      - /dev/net/tun:/dev/net/tun\n"
    code, rows = scan(tmp_path, vpn)
    assert (code, rows) == (0, [("host-device", "compose.yaml", 7, 9, "low")])  # below the default gate
    assert scan(tmp_path, vpn, "--fail-on", "low")[0] == 1
    code, rows = scan(
        tmp_path,
        "services:\n"
        "  disks:\n"
        "    image: backup\n" + HARDENED + "    devices:\n"
        "      - /dev/sdb:/dev/sdb\n"  # 7
        "      - /dev/mem\n"
        "      - /dev/kmsg:/dev/kmsg:r\n"
        "      - /dev/ttyACM0\n"  # 10
        "    volumes:\n"
        "      - /dev:/dev:ro\n",  # 12
    )
    assert code == 1
    assert rows == [
        ("host-device", "compose.yaml", 7, 9, "critical"),
        ("host-device", "compose.yaml", 8, 9, "critical"),
        ("host-device", "compose.yaml", 9, 9, "critical"),
        ("host-device", "compose.yaml", 10, 9, "high"),
        ("sensitive-mount", "compose.yaml", 12, 9, "critical"),
    ]


def test_missing_no_new_privileges_points_where_it_is_added(tmp_path: Path) -> None:
    code, rows = scan(
        tmp_path,
        "services:\n"
        "  listed:\n"
        "    image: a\n"
        "    cap_drop: [ALL]\n"
        "    security_opt:\n"  # 5
        "      - label=type:svirt_apache_t\n"
        "  bare:\n"  # 7
        "    image: b\n"
        "    cap_drop: [ALL]\n",
    )
    assert (code, rows) == (
        0,
        [
            ("no-new-privileges", "compose.yaml", 5, 5, "low"),
            ("no-new-privileges", "compose.yaml", 7, 3, "low"),
        ],
    )


def test_severity_with_context_ptrace_and_uts(tmp_path: Path) -> None:
    code, rows = scan(
        tmp_path,
        "services:\n"
        "  own:\n"
        "    image: strace\n" + HARDENED + "    cap_add: [SYS_PTRACE]\n"  # 6
        "  host:\n"
        "    image: strace\n" + HARDENED + "    cap_add: [SYS_PTRACE]\n"  # 11
        "    pid: host\n"
        "  name:\n"
        "    image: x\n" + HARDENED + "    uts: host\n",  # 17
    )
    assert code == 1
    assert rows == [
        ("dangerous-capability", "compose.yaml", 6, 15, "high"),
        ("dangerous-capability", "compose.yaml", 11, 15, "critical"),
        ("host-namespace", "compose.yaml", 12, 5, "high"),
        ("host-namespace", "compose.yaml", 17, 5, "medium"),
    ]


def test_namespace_joins_inherit_the_host_namespace_through_a_chain(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  gateway:\n"
        "    image: gw\n" + HARDENED + "    network_mode: host\n"  # 6
        "  vpn:\n"
        "    image: vpn\n" + HARDENED + "    network_mode: service:gateway\n"  # 11
        "  app:\n"
        "    image: app\n" + HARDENED + "    network_mode: service:vpn\n"  # 16
        "  private:\n"
        "    image: db\n" + HARDENED,
    )
    result = invoke_in(tmp_path, "scan", ".", "--no-scripts", "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [
        (f["rule"], f["service"], f["location"]["line"], f["location"]["column"], f["severity"]) for f in findings
    ] == [
        ("host-namespace", "gateway", 6, 5, "high"),
        ("host-namespace", "vpn", 11, 5, "high"),
        ("host-namespace", "app", 16, 5, "high"),
    ]
    assert findings[2]["message"].startswith(
        "service 'app' joins the host's namespace through network_mode: service:vpn -> service:gateway -> host, "
    )
    assert [(r["line"], r["note"]) for r in findings[2]["related"]] == [
        (11, "network_mode: service:gateway in service vpn"),
        (6, "network_mode: host in service gateway"),
    ]
