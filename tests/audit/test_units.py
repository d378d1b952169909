"""Pure parts of audit: host targets, recorded inspect JSON from a real run, drift comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leastcap.audit.drift import DriftRule, diff_services
from leastcap.audit.engine import EngineFacts, engine_facts
from leastcap.audit.mapping import map_container, namespace_chains
from leastcap.audit.targets import TargetError, parse_host, resolve_targets
from leastcap.model import Located, Location, Mount, Project, Service, Severity, SourceKind
from leastcap.rules.registry import check_project

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("unix:///var/run/docker.sock", "local"),
        ("unix://", "local"),
        ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
        ("tcp://db1:2376", "db1:2376"),
        ("ssh://ops@db1", "ops@db1"),
    ],
)
def test_host_labels(url: str, label: str) -> None:
    assert parse_host(url).label == label


def test_bad_hosts_are_usage_errors() -> None:
    with pytest.raises(TargetError, match="unsupported docker host 'ftp://x'"):
        parse_host("ftp://x")
    with pytest.raises(TargetError, match="names no host"):
        parse_host("tcp://")


def test_target_precedence(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "DOCKER_HOST": "tcp://a:2375"}
    assert [t.url for t in resolve_targets([], [], env)] == ["tcp://a:2375"]
    assert [t.url for t in resolve_targets(["ssh://b", "ssh://b", "tcp://a:2375"], [], env)] == [
        "ssh://b",
        "tcp://a:2375",
    ]
    # No DOCKER_HOST, no context: the local socket.
    assert [t.label for t in resolve_targets([], [], {"HOME": str(tmp_path)})] == ["local"]
    tls = resolve_targets([], [], {**env, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs"})[0].tls
    assert tls is not None and (tls.ca_cert, tls.verify) == ("/certs/ca.pem", True)


def test_engine_facts_from_docker_info() -> None:
    v1 = engine_facts({"CgroupVersion": "1", "SecurityOptions": ["name=seccomp,profile=default"]})
    v2 = engine_facts({"CgroupVersion": "2", "SecurityOptions": ["name=seccomp", "name=cgroupns"]})
    assert (v1.cgroupns_default, v2.cgroupns_default) == ("host", "private")


def test_recorded_privileged_container() -> None:
    # `docker create --privileged --pid host --cap-add ALL -v /:/host:rshared
    #  --security-opt apparmor=unconfined` inspected on docker 20.10 (cgroup v1).
    inspect = json.loads((DATA / "privileged-pid-host.inspect.json").read_text())
    c = map_container(inspect, "db1", EngineFacts())
    svc = c.service
    assert svc.privileged is not None and svc.privileged.origin == Location(
        "db1/recorded-priv", 0, 0, "HostConfig.Privileged"
    )
    # The daemon appended label=disable (privileged / pid host); the user's option stays.
    assert [o.value for o in svc.security_opt] == ["apparmor=unconfined"]
    assert [m.value for m in svc.volumes] == [Mount("bind", "/host", "/", propagation="rshared")]
    found = sorted(
        (f.rule, f.severity.label, f.location.note)
        for f in check_project(Project("", (), "", (svc,), SourceKind.CONTAINER))
    )
    assert found == [
        ("cap-add-all", "critical", "HostConfig.CapAdd[0]"),
        ("host-namespace", "high", "HostConfig.PidMode"),
        ("no-new-privileges", "low", "HostConfig.SecurityOpt"),  # where it is added
        ("privileged", "critical", "HostConfig.Privileged"),
        ("sensitive-mount", "critical", "HostConfig.Binds[0]"),  # writable /
        ("sensitive-mount", "high", "HostConfig.Binds[0]"),  # rshared propagation
        ("unconfined-profile", "high", "HostConfig.SecurityOpt[0]"),
    ]
    # On a daemon whose default cgroupns is private (cgroup v2), CgroupnsMode host is explicit.
    v2 = map_container(inspect, "db1", EngineFacts(cgroup_version="2", cgroupns_default="private"))
    assert v2.service.cgroup is not None and v2.service.cgroup.value == "host"


def _svc(**fields: object) -> Service:
    return Service(name="s", project="p", source=SourceKind.FILE, key=Location("f.yml", 2, 3), **fields)  # type: ignore[arg-type]


def test_drift_compares_meaning_not_spelling() -> None:
    loc = Location("x", 1, 1)
    file_side = _svc(cap_add=(Located("net_admin", loc),), security_opt=(Located("seccomp:unconfined", loc),))
    running = _svc(cap_add=(Located("CAP_NET_ADMIN", loc),), security_opt=(Located("seccomp=unconfined", loc),))
    assert diff_services(running, file_side) == []
    loosened = _svc(security_opt=(Located("no-new-privileges:true", loc),))
    diffs = diff_services(_svc(), loosened)
    assert [(d.setting, d.more_privilege_on_container) for d in diffs] == [("security_opt", True)]
    assert (
        diffs[0].what == "security_opt no-new-privileges: the container has nothing, the file says "
        "no-new-privileges=true"
    )


def test_drift_names_the_entry_or_field_that_differs_not_the_first_entry_of_the_list() -> None:
    def on_container(**fields: object) -> Service:
        return Service(
            name="s", project="p", source=SourceKind.CONTAINER, key=Location("h/c", 0, 0, "container"), **fields
        )  # type: ignore[arg-type]

    def field(note: str) -> Location:
        return Location("h/c", 0, 0, note)

    # The container adds SYS_ADMIN after two capabilities the file adds too: its own entry, and on
    # the file side the cap_drop entry that drops it.
    running = on_container(
        cap_add=(
            Located("CHOWN", field("HostConfig.CapAdd[0]")),
            Located("NET_RAW", field("HostConfig.CapAdd[1]")),
            Located("SYS_ADMIN", field("HostConfig.CapAdd[2]")),
        ),
        cap_drop=(Located("ALL", field("HostConfig.CapDrop[0]")),),
    )
    declared = _svc(
        cap_drop=(Located("ALL", Location("f.yml", 4, 16)),),
        cap_add=(Located("chown", Location("f.yml", 5, 15)), Located("net_raw", Location("f.yml", 5, 22))),
        setting_keys=(("cap_drop", Location("f.yml", 4, 5)), ("cap_add", Location("f.yml", 5, 5))),
    )
    [diff] = diff_services(running, declared)
    assert (diff.setting, diff.container_location, diff.file_location) == (
        "capabilities",
        field("HostConfig.CapAdd[2]"),
        Location("f.yml", 4, 16),
    )
    # The file grants NET_RAW; the container drops it by name: that entry, and the file's cap_add entry.
    running = on_container(
        cap_add=(Located("CHOWN", field("HostConfig.CapAdd[0]")),),
        cap_drop=(
            Located("SETUID", field("HostConfig.CapDrop[0]")),
            Located("NET_RAW", field("HostConfig.CapDrop[1]")),
        ),
    )
    declared = _svc(
        cap_add=(Located("NET_RAW", Location("f.yml", 5, 15)),), cap_drop=(Located("SETUID", Location("f.yml", 6, 16)),)
    )
    [diff] = diff_services(running, declared)
    assert (diff.container_location, diff.file_location) == (field("HostConfig.CapDrop[1]"), Location("f.yml", 5, 15))
    # The container keeps Docker's defaults (no cap_drop at all), the file drops them: the field.
    [diff] = diff_services(on_container(), _svc(cap_drop=(Located("ALL", Location("f.yml", 4, 16)),)))
    assert (diff.container_location, diff.file_location) == (field("HostConfig.CapDrop"), Location("f.yml", 4, 16))
    # A setting the container lacks is named by its inspect field, not "container".
    [diff] = diff_services(on_container(), _svc(privileged=Located(True, Location("f.yml", 3, 17))))
    assert (diff.container_location, diff.file_location) == (field("HostConfig.Privileged"), Location("f.yml", 3, 17))
    [diff] = diff_services(on_container(), _svc(sysctls=(Located("net.ipv4.ip_forward=1", Location("f.yml", 7, 9)),)))
    assert diff.container_location == field("HostConfig.Sysctls")


def test_drift_on_privileged_and_read_only_each_way() -> None:
    def at(line: int) -> Location:
        return Location("f.yml", line, 17)

    def brief(running: Service, declared: Service) -> list[tuple[str, str, bool, Location, Location]]:
        return [
            (d.setting, d.what, d.more_privilege_on_container, d.container_location, d.file_location)
            for d in diff_services(running, declared)
        ]

    off = _svc(setting_keys=(("privileged", at(1)), ("read_only", at(2))))
    assert brief(_svc(privileged=Located(True, at(3))), off) == [
        ("privileged", "the container runs privileged, the Compose file says not", True, at(3), at(1))
    ]
    assert brief(off, _svc(privileged=Located(True, at(3)))) == [
        ("privileged", "the Compose file says privileged, the container does not run privileged", False, at(1), at(3))
    ]
    # A read-only root filesystem is the less privileged side.
    assert brief(_svc(read_only=Located(True, at(4))), off) == [
        (
            "read_only",
            "the container's root filesystem is read-only, the Compose file does not say so",
            False,
            at(4),
            at(2),
        )
    ]
    assert brief(off, _svc(read_only=Located(True, at(4)))) == [
        (
            "read_only",
            "the Compose file says read_only, the container's root filesystem is writable",
            True,
            at(2),
            at(4),
        )
    ]
    # Set to false is the same as not set.
    assert brief(_svc(privileged=Located(False, at(3)), read_only=Located(False, at(4))), off) == []


def test_drift_rule_metadata() -> None:
    rule = DriftRule()
    assert (rule.slug, rule.severity) == ("drift", Severity.HIGH)
    doc = DriftRule.__doc__ or ""
    for section in ("## What it does", "## Why is this bad", "## Example", "## Fix"):
        assert section in doc
    # A comparison rule: it judges a (container, Compose service) pair, never a lone service.
    assert rule.kind == "comparison" and not hasattr(rule, "check")


def test_mounts_keep_the_order_they_were_asked_for_whatever_order_inspect_lists_them() -> None:
    """The daemon lists ``Mounts`` in Go map order, which differs between two inspects."""
    inspect = json.loads((DATA / "privileged-pid-host.inspect.json").read_text())
    hc = inspect["HostConfig"]
    hc["Binds"] = ["/srv:/data:ro", "/:/host:rshared"]
    hc["Mounts"] = [{"Type": "bind", "Source": "/tmp", "Target": "/hosttmp", "ReadOnly": True}]
    bind = {"Type": "bind", "Mode": "", "RW": True, "Propagation": "rprivate"}
    listed = [
        {**bind, "Source": "/tmp", "Destination": "/hosttmp", "RW": False},
        {
            "Type": "volume",
            "Name": "a" * 64,
            "Source": "/var/lib/docker/volumes/x/_data",
            "Destination": "/var/cache",
            "Driver": "local",
            "Mode": "",
            "RW": True,
            "Propagation": "",
        },
        {**bind, "Source": "/", "Destination": "/host", "Propagation": "rshared"},
        {**bind, "Source": "/srv", "Destination": "/data", "RW": False},
    ]
    results = []
    for order in (listed, listed[::-1]):
        inspect["Mounts"] = order
        svc = map_container(inspect, "db1", EngineFacts()).service
        results.append([(v.value, v.origin.note) for v in svc.volumes])
    expected = [
        (Mount("bind", "/data", "/srv", read_only=True), "HostConfig.Binds[0]"),
        (Mount("bind", "/host", "/", propagation="rshared"), "HostConfig.Binds[1]"),
        (Mount("bind", "/hosttmp", "/tmp", read_only=True), "HostConfig.Mounts[0]"),
    ]
    # The image volume comes last and keeps its real index in the inspect it came from.
    assert results[0] == [*expected, (Mount("volume", "/var/cache", ""), "Mounts[1]")]
    assert results[1] == [*expected, (Mount("volume", "/var/cache", ""), "Mounts[2]")]


def test_namespace_chains_follow_container_joins_and_stop_at_loops_and_missing_containers() -> None:
    def inspect(cid: str, name: str, **modes: str) -> dict[str, object]:
        return {"Id": cid * 64, "Name": f"/{name}", "HostConfig": modes}

    inspects = [
        inspect("a", "gw", NetworkMode="host", PidMode="host"),
        inspect("b", "vpn", NetworkMode="container:" + "a" * 64, PidMode="container:gw"),
        inspect("c", "app", NetworkMode="container:" + "b" * 12, IpcMode="container:vpn"),
        inspect("d", "loop1", NetworkMode="container:loop2"),
        inspect("e", "loop2", NetworkMode="container:loop1"),
        inspect("f", "orphan", NetworkMode="container:gone"),
        inspect("g", "private", NetworkMode="container:loop1"),
    ]
    assert namespace_chains(inspects) == {
        "b" * 64: (
            ("namespace_chain.pid", "container:gw -> host"),
            ("namespace_chain.network_mode", "container:gw -> host"),
        ),
        "c" * 64: (("namespace_chain.network_mode", "container:vpn -> container:gw -> host"),),
    }
