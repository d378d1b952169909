"""Conformance cases for the merge of an override file over its base (§12 1-6). Each case loads a small
project with leastcap and with the real `docker compose` v2 binary and asserts both privilege views
equal the literal expectation (see casekit.py); names follow compose-semantics.md §12.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import BASE_OVERRIDE, check, device, write_tree

pytestmark = pytest.mark.compose


# --------------------------------------------------------------------------- merge rules (§12 1-6)


def test_merge_cap_sequence(compose: str, tmp_path: Path) -> None:
    """TestMergeCAPSequence: appended, exact-string dedup, first position kept."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    cap_add: [CAP_BPF, CAP_CHOWN]
                    cap_drop: [NET_ADMIN, SYS_ADMIN]
                """,
            "override.yaml": """
                services:
                  web:
                    cap_add: [CAP_KILL, CAP_CHOWN]
                    cap_drop: [NET_ADMIN, CAP_FOWNER]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "cap_add": ["CAP_BPF", "CAP_CHOWN", "CAP_KILL"],
                "cap_drop": ["NET_ADMIN", "SYS_ADMIN", "CAP_FOWNER"],
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_devices_override_in_place(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlDevicesOverride: same targets are replaced in place, /dev/sdd kept."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    devices: [/dev/sda:/dev/sda, /dev/sdb:/dev/sdb, /dev/sdc:/dev/sdc, /dev/sdd:/dev/sdd]
                """,
            "override.yaml": """
                services:
                  web:
                    devices: ["/dev/nvme0n1p1:/dev/sda", "/dev/nvme1n1p1:/dev/sdb", "/dev/nvme2n1p1:/dev/sdc:r"]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "devices": [
                    device("/dev/nvme0n1p1", "/dev/sda"),
                    device("/dev/nvme1n1p1", "/dev/sdb"),
                    device("/dev/nvme2n1p1", "/dev/sdc", "r"),
                    device("/dev/sdd", "/dev/sdd"),
                ]
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_devices_distinct_targets_append(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlDevices: distinct targets are appended (long syntax too)."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    devices: [/dev/sda, "/dev/sdb:/dev/xvdb"]
                """,
            "override.yaml": """
                services:
                  web:
                    devices:
                      - source: /dev/nvme0
                        target: /dev/nvme0
                        permissions: r
                      - /dev/fuse
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "devices": [
                    device("/dev/sda", "/dev/sda"),
                    device("/dev/sdb", "/dev/xvdb"),
                    device("/dev/nvme0", "/dev/nvme0", "r"),
                    device("/dev/fuse", "/dev/fuse"),
                ]
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_ulimits_replaced_per_name(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlUlimits: each named ulimit is replaced wholesale."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    ulimits:
                      nproc: {soft: 10000, hard: 20000}
                      locks: {soft: 20000, hard: 40000}
                      nofile: 1024
                """,
            "override.yaml": """
                services:
                  web:
                    ulimits:
                      nproc: 65535
                      locks: {soft: 30000, hard: 65535}
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {}},
        files=BASE_OVERRIDE,
        extra=("ulimits",),
        extra_expected={"web": {"ulimits": {"nproc": 65535, "locks": {"soft": 30000, "hard": 65535}, "nofile": 1024}}},
    )


def test_merge_sysctls_mapping_and_list(compose: str, tmp_path: Path) -> None:
    """TestMergeSysctlsMixed/Numbers: map + list appended, the same key keeps the later value."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    sysctls:
                      net.ipv4.tcp_keepalive_time: 1
                      net.core.somaxconn: 1024
                """,
            "override.yaml": """
                services:
                  web:
                    sysctls:
                      - net.ipv4.tcp_keepalive_time=3
                      - net.ipv4.ip_forward=1
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "sysctls": {
                    "net.core.somaxconn": "1024",
                    "net.ipv4.tcp_keepalive_time": "3",
                    "net.ipv4.ip_forward": "1",
                }
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_tmpfs_string_and_list(compose: str, tmp_path: Path) -> None:
    """TestMergeTmpfsMixed: `/foo` + `[/bar, /foo]` => [/foo, /bar]."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    tmpfs: /foo\n",
            "override.yaml": "services:\n  web:\n    tmpfs: [/bar, /foo]\n",
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {}},
        files=BASE_OVERRIDE,
        extra=("tmpfs",),
        extra_expected={"web": {"tmpfs": ["/foo", "/bar"]}},
    )


def test_override_same_volume_deduplicated(compose: str, tmp_path: Path) -> None:
    """TestOverrideVolume: the same ./src:/src in base and override is one volume; a new mode replaces."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    volumes: [./src:/src, /etc:/host/etc]
                """,
            "override.yaml": """
                services:
                  web:
                    volumes: [./src:/src, /etc:/host/etc:ro]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "volumes": [
                    {"type": "bind", "source": "{dir}/src", "target": "/src"},
                    {"type": "bind", "source": "/etc", "target": "/host/etc", "read_only": True},
                ]
            }
        },
        files=BASE_OVERRIDE,
    )
