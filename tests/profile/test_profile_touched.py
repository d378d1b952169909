"""Devices and sysctls the service touched: what is proposed, what is only a note, and reading sysctls
inside a real container's namespaces."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from profile_support import IP_FORWARD_WRITTEN_ONCE_BY_SH

from leastcap.profile.events import PathOpen
from leastcap.profile.format import (
    AccessEvidence,
    ProcessCount,
    Profile,
    ProfileFormatError,
    read_profile,
    write_profile,
)
from leastcap.profile.touched import (
    propose,
    read_sysctls,
    sysctl_name,
    sysctl_names,
    sysctl_path,
    sysctl_refusal,
)

RDONLY, WRONLY, RDWR = os.O_RDONLY, os.O_WRONLY, os.O_RDWR


def opened(path: str, flags: int = RDONLY, comm: str = "svc", count: int = 1, pid: int = 10) -> PathOpen:
    return PathOpen(1.0, pid, comm, path, flags, count)


@pytest.fixture
def dev_root(tmp_path: Path) -> Path:
    """A /dev look-alike with real device nodes (mknod needs root, as leastcap profile does)."""
    if os.geteuid() != 0:
        pytest.skip("mknod of device nodes needs root")
    root = tmp_path / "dev"
    (root / "net").mkdir(parents=True)
    os.mknod(root / "net" / "tun", 0o600 | stat.S_IFCHR, os.makedev(10, 200))
    os.mknod(root / "fuse", 0o600 | stat.S_IFCHR, os.makedev(10, 229))
    os.mknod(root / "loop7", 0o600 | stat.S_IFBLK, os.makedev(7, 7))
    os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (root / "pts").mkdir()
    os.mknod(root / "pts" / "0", 0o620 | stat.S_IFCHR, os.makedev(136, 0))
    (root / "log.txt").write_text("a regular file\n")
    os.mkfifo(root / "initctl")
    os.symlink("net/tun", root / "tunnel")  # inside the root: followed
    os.symlink("null", root / "nothing")  # to a device every container has
    os.symlink("/etc/passwd", root / "escape")  # out of the root: never followed
    os.symlink("../../..", root / "up")
    return root


def test_devices_proposed_only_for_host_device_nodes(dev_root: Path) -> None:
    touched = propose(
        [
            opened("/dev/net/tun", RDWR, "openvpn", 2),
            opened("/dev/net/tun", RDONLY, "ip"),
            opened("/dev/net/../net/tun", RDWR, "openvpn"),
            opened("/dev/loop7", RDONLY, "losetup"),
            opened("/dev/tunnel", WRONLY, "tunctl"),
            opened("/dev/null", RDWR),
            opened("/dev/pts/0", RDWR),
            opened("/dev/nothing", RDWR),
            opened("/dev/log.txt", WRONLY),
            opened("/dev/initctl", WRONLY),
            opened("/dev/escape", RDONLY),
            opened("/dev/up/etc/passwd", RDONLY),
            opened("/dev/absent", RDONLY),
            opened("/dev/../etc/shadow", RDONLY),
        ],
        {},
        dev_root=dev_root,
    )
    assert touched.devices == ("/dev/loop7", "/dev/net/tun", "/dev/tunnel")
    assert dict(touched.sysctls) == {}
    assert touched.notes == ()
    assert touched.evidence == (
        AccessEvidence(
            "device", "/dev/loop7", "/dev/loop7", "block device 7:7 on the host; opened for reading by losetup x1",
            None, 1, 0, (ProcessCount("losetup", 1),),
        ),
        AccessEvidence(
            "device", "/dev/net/tun", "/dev/net/tun",
            "character device 10:200 on the host; opened for reading and writing by openvpn x3, ip x1",
            None, 1, 3, (ProcessCount("openvpn", 3), ProcessCount("ip", 1)),
        ),
        AccessEvidence(
            "device", "/dev/tunnel", "/dev/tunnel",
            "character device 10:200 on the host; opened for writing by tunctl x1",
            None, 0, 1, (ProcessCount("tunctl", 1),),
        ),
    )  # fmt: skip


def test_real_host_dev_tun() -> None:
    """With the default dev_root, the host's own /dev decides (this host has /dev/net/tun)."""
    if not Path("/dev/net/tun").is_char_device():
        pytest.skip("this host has no /dev/net/tun")
    touched = propose([opened("/dev/net/tun", RDWR), opened("/dev/urandom")], {})
    assert touched.devices == ("/dev/net/tun",)


def test_sysctls_privileged_recording() -> None:
    opens = [
        opened("/proc/sys/net/ipv4/ip_forward", WRONLY, "sh", 2),
        opened("/proc/sys/net/ipv4/ip_forward", RDONLY, "sysctl"),
        opened("/proc/sys/kernel/shmmni", RDWR, "db"),
        opened("/proc/sys/net/ipv4/conf/all/rp_filter", RDONLY),  # read only: nothing to do
        opened("/proc/sys/kernel/pid_max", WRONLY, "init"),
        opened("/proc/sys/kernel/hostname", WRONLY, "init"),
        opened("/proc/sys/net/ipv4/route/flush", WRONLY, "ip"),
    ]
    values = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "kernel.pid_max": "99999"}
    touched = propose(opens, values, dev_root=Path("/nonexistent"))
    assert touched.devices == ()
    assert dict(touched.sysctls) == {"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}
    assert [(e.kind, e.name, e.value, e.path, e.reads, e.writes) for e in touched.evidence] == [
        ("sysctl", "kernel.shmmni", "1234", "/proc/sys/kernel/shmmni", 0, 1),
        ("sysctl", "net.ipv4.ip_forward", "1", "/proc/sys/net/ipv4/ip_forward", 0, 2),
    ]
    assert touched.evidence[1].reason == (
        "opened for writing by sh x2; '1' in the container at the end of the recording"
    )
    assert touched.notes == (
        "the service wrote kernel.hostname (init x1), which is not proposed: set it with hostname: instead"
        " (Docker refuses kernel.hostname in sysctls:)",
        "the service wrote kernel.pid_max (init x1), which is not proposed: it is not namespaced: no"
        " container can set it through sysctls:, and a privileged one changes it for the whole host; set it"
        " on the host (sysctl -w, /etc/sysctl.d) if the service needs it",
        "the service wrote net.ipv4.route.flush (ip x1), but it could not be read in the container's"
        " namespaces at the end of the recording (the container had exited, the sysctl is write-only, or"
        " it is global and read-only in a container, like net.core.rmem_max): not proposed; add sysctls:"
        " {net.ipv4.route.flush: <value>} if the service needs it and Docker accepts it",
    )


def test_sysctls_host_namespaces_refused() -> None:
    opens = [
        opened("/proc/sys/net/ipv4/ip_forward", WRONLY, "sh"),
        opened("/proc/sys/fs/mqueue/msg_max", WRONLY, "mq"),
        opened("/proc/sys/kernel/sem", WRONLY, "db"),
    ]
    values = {"net.ipv4.ip_forward": "1", "fs.mqueue.msg_max": "20", "kernel.sem": "250 32000 32 128"}
    assert dict(propose(opens, values).sysctls) == values
    touched = propose(opens, values, host_network=True, host_ipc=True)
    assert dict(touched.sysctls) == {}
    assert touched.notes == (
        "the service wrote fs.mqueue.msg_max (mq x1), which is not proposed: the service uses the host's"
        " IPC namespace (ipc: host), where IPC sysctls cannot be set per container",
        "the service wrote kernel.sem (db x1), which is not proposed: the service uses the host's IPC"
        " namespace (ipc: host), where IPC sysctls cannot be set per container",
        "the service wrote net.ipv4.ip_forward (sh x1), which is not proposed: the service uses the host's"
        " network namespace (network_mode: host), where no net.* sysctl can be set per container",
    )


def test_sysctls_unprivileged_recording_value_unknown() -> None:
    """Without privileged, /proc/sys was read-only: the value read afterwards is not what it wanted."""
    opens = [
        opened("/proc/sys/net/ipv4/ip_forward", WRONLY, "sh"),
        opened("/proc/sys/net/ipv4/tcp_syncookies", WRONLY, "sh"),
    ]
    values = {"net.ipv4.ip_forward": "0", "net.ipv4.tcp_syncookies": "1"}
    touched = propose(opens, values, privileged=False, configured_sysctls={"net.ipv4.tcp_syncookies": "1"})
    assert dict(touched.sysctls) == {}
    assert touched.evidence == ()
    assert touched.notes == (
        "the service wrote net.ipv4.ip_forward (sh x1), but the recording was not privileged, so /proc/sys"
        " was read-only and the value it wanted is unknown (it is '0' in the container): add sysctls:"
        " {net.ipv4.ip_forward: <value>} if the service needs it",
    )


def test_sys_writes_are_notes() -> None:
    opens = [opened(f"/sys/class/net/eth{i}/mtu", WRONLY, "ip") for i in range(7)]
    opens += [opened("/sys/kernel/mm/transparent_hugepage/enabled", RDONLY, "redis")]
    touched = propose(opens, {})
    assert (touched.devices, dict(touched.sysctls), touched.evidence) == ((), {}, ())
    assert touched.notes == (
        "the service opened /sys/class/net/eth0/mtu, /sys/class/net/eth1/mtu, /sys/class/net/eth2/mtu,"
        " /sys/class/net/eth3/mtu, /sys/class/net/eth4/mtu and 2 more below /sys for writing (ip x7): /sys"
        " is read-only in a container unless it is privileged, and no Compose setting makes it writable;"
        " if the service needs this, it will fail without privileged (or a bind mount of that path)",
    )


def test_sysctl_names_and_paths() -> None:
    assert sysctl_name("/proc/sys/net/ipv4/ip_forward") == "net.ipv4.ip_forward"
    assert sysctl_name("/proc/sys/net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"
    assert sysctl_path("net.ipv4.conf.eth0/100.rp_filter") == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
    assert sysctl_name("/proc/sys/../../etc/passwd") is None
    assert sysctl_name("/proc/sys/") is None
    assert sysctl_name("proc/sys/kernel/sem") is None
    assert sysctl_path("net..ipv4") is None
    assert sysctl_path("net./..") is None
    assert sysctl_path("") is None
    assert sysctl_names(
        [
            opened("/proc/sys/net/ipv4/ip_forward", WRONLY),
            opened("/proc/sys/kernel/sem", RDWR),
            opened("/proc/sys/kernel/sem", WRONLY),
            opened("/proc/sys/kernel/shmmax", RDONLY),
            opened("/dev/net/tun", RDWR),
        ]
    ) == ["kernel.sem", "net.ipv4.ip_forward"]
    assert sysctl_refusal("kernel.domainname") is None
    assert sysctl_refusal("kernel.shm_rmid_forced") is None
    assert sysctl_refusal("vm.overcommit_memory") is not None


@pytest.fixture
def container() -> Iterator[int]:
    from support.components import require_docker
    from support.images import busybox_image

    require_docker()
    image = busybox_image()
    name = f"leastcap-touched-{uuid.uuid4().hex[:10]}"
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, "--network", "none",
            "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmni=1234",
            image, "sleep", "300",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", name], check=True, capture_output=True, text=True
        ).stdout.strip()
        yield int(pid)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_read_sysctls_in_the_containers_namespaces(container: int) -> None:
    host_shmmni = Path("/proc/sys/kernel/shmmni").read_text().strip()
    assert host_shmmni != "1234"  # so the value below can only come from the container's IPC namespace
    values = read_sysctls(
        container,
        [
            "net.ipv4.ip_forward",
            "kernel.shmmni",
            "kernel.sem",
            "net.core.rmem_max",  # global: read-only in the container's netns, Docker could not set it
            "net.ipv4.route.flush",  # write-only
            "net.ipv4.no_such_thing",
            "../../etc/passwd",
        ],
    )
    sem = " ".join(Path("/proc/sys/kernel/sem").read_text().split())
    assert values == {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "kernel.sem": sem}


def test_read_sysctls_never_raises() -> None:
    assert read_sysctls(2**22 + 12345, ["net.ipv4.ip_forward"]) == {}
    assert read_sysctls(0, ["net.ipv4.ip_forward"]) == {}
    assert read_sysctls(os.getpid(), []) == {}


def test_override_file_devices_and_sysctls(tmp_path: Path) -> None:
    """The override the verification runs use adds the proposal to the service's own, for real compose."""
    from leastcap.profile.docker import CapabilitySetting, ComposeTarget
    from support.components import require_compose

    binary = require_compose()
    setting = CapabilitySetting(
        privileged=False,
        cap_add=frozenset({"CAP_NET_ADMIN"}),
        no_new_privileges=True,
        devices=("/dev/net/tun", "/dev/fuse"),
        sysctls=(("net.ipv4.ip_forward", "1"), ("kernel.shmmni", "1234")),
    )
    override = setting.override_yaml("vpn", '"42"')
    assert override == (
        "services:\n"
        '  "vpn":\n'
        "    privileged: false\n"
        '    cap_drop: !override ["ALL"]\n'
        '    cap_add: !override ["NET_ADMIN"]\n'
        '    security_opt: !override ["no-new-privileges:true"]\n'
        '    devices: ["/dev/net/tun", "/dev/fuse"]\n'
        '    sysctls: {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}\n'
        "    container_name: !reset null\n"
        "    labels:\n"
        '      io.leastcap.profile.owner: "42"\n'
    )
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  vpn:\n"
        "    image: example/vpn\n"
        "    privileged: true\n"
        "    devices: [/dev/net/tun, /dev/kvm]\n"
        "    sysctls:\n"
        "      net.ipv4.ip_forward: 0\n"
        "      net.core.somaxconn: 1024\n"
    )
    (tmp_path / "override.yaml").write_text(override)
    out = subprocess.run(
        [binary, "-f", "compose.yaml", "-f", "override.yaml", "config", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    svc = json.loads(out)["services"]["vpn"]
    assert svc["devices"] == [
        {"source": "/dev/net/tun", "target": "/dev/net/tun", "permissions": "rwm"},
        {"source": "/dev/kvm", "target": "/dev/kvm", "permissions": "rwm"},
        {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"},
    ]
    assert svc["sysctls"] == {"kernel.shmmni": "1234", "net.core.somaxconn": "1024", "net.ipv4.ip_forward": "1"}
    assert svc["cap_add"] == ["NET_ADMIN"]
    assert svc.get("privileged", False) is False
    # What the recording knows of the service's own settings (its devices are not re-recorded for).
    config = ComposeTarget((str(tmp_path / "compose.yaml"),), "vpn").config(binary)
    assert config.devices == ("/dev/net/tun", "/dev/kvm")
    assert config.sysctls == (("net.core.somaxconn", "1024"), ("net.ipv4.ip_forward", "0"))
    assert config.ipc is None


def _with_access() -> Profile:
    from test_profile_format import sample

    return replace(
        sample(),
        devices=("/dev/net/tun",),
        sysctls={"net.ipv4.ip_forward": "1"},
        access=(
            AccessEvidence(
                "device", "/dev/net/tun", "/dev/net/tun",
                "character device 10:200 on the host; opened for reading and writing by openvpn x1",
                None, 0, 1, (ProcessCount("openvpn", 1),),
            ),
            AccessEvidence(
                "sysctl", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward",
                "opened for writing by sh x1; '1' in the container at the end of the recording",
                "1", 0, 1, (ProcessCount("sh", 1),),
            ),
        ),
    )  # fmt: skip


def test_profile_access_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_profile(_with_access(), path)
    data = json.loads(path.read_text())
    assert data["devices"] == ["/dev/net/tun"]
    assert data["sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert data["access"][1] == IP_FORWARD_WRITTEN_ONCE_BY_SH
    assert read_profile(path) == _with_access()
    # A profile written before "access" existed is still read (same format version).
    del data["access"]
    path.write_text(json.dumps(data))
    assert read_profile(path) == replace(_with_access(), access=())
    data["access"] = [{"kind": "mount", "name": "x"}]
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileFormatError, match="invalid profile at access/0"):
        read_profile(path)


def test_summary_names_devices_and_sysctls() -> None:
    from leastcap.cli.profile_cmd import summary

    lines = summary(_with_access()).splitlines()
    assert lines[0] == (
        "vpn/vpn: cap_drop [ALL], cap_add ['NET_ADMIN'], devices ['/dev/net/tun'], sysctls {'net.ipv4.ip_forward': '1'}"
    )
    assert lines[5:7] == [
        "  add device /dev/net/tun: character device 10:200 on the host; opened for reading and writing by openvpn x1",
        "  add sysctl net.ipv4.ip_forward=1: opened for writing by sh x1; '1' in the container at the end"
        " of the recording",
    ]


def test_fix_applies_the_proposal(tmp_path: Path) -> None:
    """What propose() writes is what `leastcap fix --profile-file` turns into devices:/sysctls: entries."""
    from leastcap.fix.sources import from_profile

    messages: list[str] = []
    _, extras, _ = from_profile(_with_access(), messages)
    assert [(e.key, e.value) for e in extras if e.key in ("devices", "sysctls")] == [
        ("devices", "/dev/net/tun"),
        ("sysctls", "net.ipv4.ip_forward=1"),
    ]


def test_host_devices_are_the_nodes_privileged_would_pass() -> None:
    from leastcap.profile.touched import host_devices, is_docker_default_device

    devices = host_devices()
    assert "/dev/net/tun" in devices  # the workload tests' device
    assert devices == tuple(sorted(devices))
    for path in devices:
        mode = os.lstat(path).st_mode
        assert stat.S_ISCHR(mode) or stat.S_ISBLK(mode), path
        assert not is_docker_default_device(path), path
        assert not path.startswith(("/dev/pts/", "/dev/shm/", "/dev/mqueue/")), path
    assert "/dev/null" not in devices and "/dev/ptmx" not in devices  # every container has them


def test_the_stand_in_for_privileged_in_the_override(tmp_path: Path) -> None:
    from leastcap.profile.docker import CapabilitySetting

    setting = CapabilitySetting(
        privileged=False,
        cap_add=frozenset({"CAP_NET_ADMIN", "CAP_CHOWN"}),
        no_new_privileges=False,
        security_opt=("apparmor:unconfined",),
        devices=("/dev/fuse", "/dev/net/tun"),
        like_privileged=True,
    )
    assert setting.override_yaml("vpn", '"42"') == (
        "services:\n"
        '  "vpn":\n'
        "    privileged: false\n"
        '    cap_drop: !override ["ALL"]\n'
        '    cap_add: !override ["CHOWN", "NET_ADMIN"]\n'
        '    device_cgroup_rules: !override ["a *:* rwm"]\n'
        '    security_opt: !override ["apparmor:unconfined", "systempaths=unconfined"]\n'
        '    devices: ["/dev/fuse", "/dev/net/tun"]\n'
        "    container_name: !reset null\n"
        "    labels:\n"
        '      io.leastcap.profile.owner: "42"\n'
    )
