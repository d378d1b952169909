"""docker inspect of real containers -> Service: every privilege field, defaults left unset."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from leastcap.audit.engine import snapshot
from leastcap.audit.mapping import AuditedContainer
from leastcap.audit.run import containers_of
from leastcap.audit.targets import parse_host
from leastcap.model import Device, Location, Mount, SourceKind

pytestmark = pytest.mark.docker


def audited(*names: str) -> dict[str, AuditedContainer]:
    snap = snapshot(parse_host("unix:///var/run/docker.sock"), include_stopped=True)
    found = {c.name: c for c in containers_of(snap) if c.name in names}
    assert set(found) == set(names)
    return found


def values(items: tuple[object, ...]) -> list[object]:
    return [i.value for i in items]  # type: ignore[attr-defined]


def test_plain_container_maps_to_an_empty_service(container: Callable[..., str]) -> None:
    name = container("run")
    c = audited(name)[name]
    svc = c.service
    assert (svc.name, svc.project, svc.source) == (name, "", SourceKind.CONTAINER)
    assert svc.key == Location(f"local/{name}", 0, 0, "container")
    assert svc.image is not None and svc.image.value == "leastcap-test/busybox:latest"
    # Daemon defaults (IpcMode private, NetworkMode default, CgroupnsMode host on this cgroup v1
    # host, Runtime runc) are what a file without those keys gets: nothing is set.
    for field in (
        "privileged",
        "pid",
        "ipc",
        "network_mode",
        "userns_mode",
        "uts",
        "cgroup",
        "runtime",
        "user",
        "read_only",
        "cgroup_parent",
    ):
        assert getattr(svc, field) is None, field
    for field in (
        "cap_add",
        "cap_drop",
        "security_opt",
        "devices",
        "device_cgroup_rules",
        "volumes",
        "group_add",
        "sysctls",
        "volumes_from",
    ):
        assert getattr(svc, field) == (), field
    facts = dict(svc.runtime_facts)
    assert facts["host"] == "local" and facts["container"] == name and facts["state"] == "running"
    assert facts["cgroupns"] == "host (the daemon default; an explicit setting looks the same)"
    # The process is visible here: its capability sets are Docker's 14 defaults.
    assert facts["cap_effective"] == (
        "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_RAW,"
        "SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP"
    )


def test_every_privilege_flag_is_mapped_with_its_inspect_path(container: Callable[..., str]) -> None:
    name = container(
        "run",
        "--cap-add",
        "NET_ADMIN",
        "--cap-add",
        "sys_ptrace",
        "--cap-drop",
        "MKNOD",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges=false",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "--mount",
        "type=bind,source=/tmp,target=/hosttmp,readonly,bind-propagation=rprivate",
        "--pid",
        "host",
        "--uts",
        "host",
        "--network",
        "host",
        "--device",
        "/dev/null:/dev/xnull:r",
        "--device-cgroup-rule",
        "c 1:3 rw",
        "--user",
        "1000:1000",
        "--group-add",
        "0",
        "--read-only",
        "--sysctl",
        "kernel.shmmax=65536",
        "--cgroupns",
        "private",
    )
    svc = audited(name)[name].service
    path = f"local/{name}"
    assert svc.cap_add[0].origin == Location(path, 0, 0, "HostConfig.CapAdd[0]")
    assert values(svc.cap_add) == ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]
    assert values(svc.cap_drop) == ["CAP_MKNOD"]
    # --pid host makes the daemon append label=disable; that is not the user's setting.
    assert values(svc.security_opt) == ["seccomp=unconfined", "no-new-privileges=false"]
    assert svc.volumes[0].value == Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock")
    assert svc.volumes[0].origin.note == "HostConfig.Binds[0]"
    assert svc.volumes[1].value == Mount("bind", "/hosttmp", "/tmp", read_only=True, propagation="rprivate")
    assert svc.volumes[1].origin.note == "HostConfig.Mounts[0]"
    assert len(svc.volumes) == 2
    assert [(v.value, v.origin.note) for v in (svc.pid, svc.uts, svc.network_mode, svc.cgroup) if v] == [
        ("host", "HostConfig.PidMode"),
        ("host", "HostConfig.UTSMode"),
        ("host", "HostConfig.NetworkMode"),
        ("private", "HostConfig.CgroupnsMode"),
    ]
    assert values(svc.devices) == [Device("/dev/null", "/dev/xnull", "r")]
    assert values(svc.device_cgroup_rules) == ["c 1:3 rw"]
    assert svc.user is not None and (svc.user.value, svc.user.origin.note) == ("1000:1000", "Config.User")
    assert values(svc.group_add) == ["0"]
    assert svc.read_only is not None and svc.read_only.value is True
    assert values(svc.sysctls) == ["kernel.shmmax=65536"]
    facts = dict(svc.runtime_facts)
    assert "cgroupns" not in facts
    assert facts["cap_effective"] == "(none)"  # user 1000 without file capabilities
    assert facts["cap_bounding"] == (
        "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_ADMIN,"
        "NET_RAW,SYS_CHROOT,SYS_PTRACE,AUDIT_WRITE,SETFCAP"
    )


def test_privileged_container_is_created_not_started_and_references_read_as_names(
    container: Callable[..., str],
) -> None:
    # privileged containers cannot start on this host (its bounding set lacks CAP_SYS_RESOURCE):
    # create it and audit stopped containers too.
    priv = container("create", "--privileged", "--ipc", "host", suffix="priv")
    peer = container("run", suffix="peer")
    joined = container("run", "--network", f"container:{peer}", "--pid", f"container:{peer}", suffix="join")
    found = audited(priv, peer, joined)
    p = found[priv].service
    assert p.privileged is not None and p.privileged.origin == Location(f"local/{priv}", 0, 0, "HostConfig.Privileged")
    assert p.ipc is not None and p.ipc.value == "host"
    assert p.security_opt == ()  # the daemon's label=disable is dropped
    assert dict(p.runtime_facts)["state"] == "created"
    assert "cap_effective" not in dict(p.runtime_facts)  # no process
    j = found[joined].service
    assert j.network_mode is not None and j.network_mode.value == f"container:{peer}"
    assert j.pid is not None and j.pid.value == f"container:{peer}"


def test_named_volume_that_is_a_bind_gets_its_host_path(compose_project) -> None:  # type: ignore[no-untyped-def]
    compose_project.file.write_text(
        "services:\n"
        "  app:\n"
        "    image: leastcap-test/busybox:latest\n"
        "    command: sleep 600\n"
        "    volumes: [hostroot:/host:ro, /var/run/docker.sock:/var/run/docker.sock]\n"
        "    pid: service:peer\n"
        "  peer:\n"
        "    image: leastcap-test/busybox:latest\n"
        "    command: sleep 600\n"
        "volumes:\n"
        "  hostroot:\n"
        "    driver_opts: {type: none, o: bind, device: /etc}\n"
    )
    compose_project.up()
    name = f"{compose_project.name}-app-1"
    c = audited(name, f"{compose_project.name}-peer-1")[name]
    svc = c.service
    assert (svc.name, svc.project) == ("app", compose_project.name)
    assert c.compose is not None
    assert c.compose.config_files == (str(compose_project.file),)
    assert c.compose.working_dir == str(compose_project.directory)
    mounts = sorted(((v.value, v.origin.note) for v in svc.volumes), key=lambda m: m[0].target)
    assert [m[0] for m in mounts] == [
        Mount("volume", "/host", f"{compose_project.name}_hostroot", read_only=True, host_path="/etc"),
        Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock"),
    ]
    assert all(note.startswith("HostConfig.Binds[") for _, note in mounts)
    # pid: service:peer reaches the engine as container:<id>; it reads as the file wrote it.
    assert svc.pid is not None and svc.pid.value == "service:peer"
    assert svc.files == (str(compose_project.file),)
    assert os.path.isabs(svc.files[0])
