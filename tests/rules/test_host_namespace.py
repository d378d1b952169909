"""The host-namespace rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, brief, run, service

from leastcap.model import Location, SourceKind


def test_host_namespace() -> None:
    svc = service(
        pid=at("host", 4, 10),
        ipc=at("shareable", 5, 10),
        network_mode=at("host", 6, 19),
        userns_mode=at("host", 7, 18),
        uts=at("host", 8, 10),
        cgroup=at("host", 9, 13),
    )
    found = run("host-namespace", svc)
    assert brief(found) == [
        ("host-namespace", "high", 4, 10),
        ("host-namespace", "high", 6, 19),
        ("host-namespace", "high", 7, 18),
        ("host-namespace", "medium", 8, 10),  # uts: the hostname only
        ("host-namespace", "high", 9, 13),
    ]
    assert found[0].message == (
        "service 'web' sets pid: host, so it sees and signals every host process (and, "
        "with SYS_PTRACE, reads their memory)"
    )


def test_host_namespace_through_service_reference() -> None:
    base = service("base", network_mode=at("host", 4, 19))
    sidecar = service("sidecar", key=Location(PATH, 10, 3), network_mode=at("service:base", 11, 19))
    plain = service("plain", key=Location(PATH, 20, 3), network_mode=at("service:sidecar", 21, 19))
    found = run("host-namespace", base, sidecar, plain)
    assert [(f.service, f.location.line) for f in found] == [("base", 4), ("sidecar", 11), ("plain", 21)]
    assert found[1].related == (Location(PATH, 4, 19, "network_mode: host in service base"),)
    assert found[1].message == (
        "service 'sidecar' joins the host's namespace through network_mode: service:base -> host, so it uses "
        "the host's network stack: host-local services, all interfaces, no isolation"
    )
    # A chain: plain joins sidecar, which joins base, which uses the host's network.
    assert found[2].message.startswith(
        "service 'plain' joins the host's namespace through network_mode: service:sidecar -> service:base -> host,"
    )
    assert found[2].related == (
        Location(PATH, 11, 19, "network_mode: service:base in service sidecar"),
        Location(PATH, 4, 19, "network_mode: host in service base"),
    )
    assert dict(found[2].facts) == {"namespace": "network_mode", "chain": "service:sidecar -> service:base -> host"}


def test_host_namespace_chain_that_loops_or_breaks_is_not_reported() -> None:
    a = service("a", network_mode=at("service:b", 4, 19))
    b = service("b", key=Location(PATH, 10, 3), network_mode=at("service:a", 11, 19))
    c = service("c", key=Location(PATH, 20, 3), pid=at("service:missing", 21, 10))
    d = service("d", key=Location(PATH, 30, 3), ipc=at("service:e", 31, 10))
    e = service("e", key=Location(PATH, 40, 3))
    assert run("host-namespace", a, b, c, d, e) == []


def test_host_namespace_from_an_audited_chain() -> None:
    # leastcap audit records where a container:NAME join ends (across projects); the rule reads it.
    joined = service(
        "web",
        source=SourceKind.CONTAINER,
        network_mode=at("container:vpn-1", 0, 0),
        runtime_facts=(("namespace_chain.network_mode", "container:vpn-1 -> container:gw-1 -> host"),),
    )
    private = service(
        "db",
        source=SourceKind.CONTAINER,
        network_mode=at("container:cache-1", 0, 0),
        runtime_facts=(("namespace_chain.network_mode", "container:cache-1 -> container:x"),),
    )
    found = run("host-namespace", joined, private)
    assert [(f.service, f.severity.label) for f in found] == [("web", "high")]
    assert found[0].message.startswith(
        "service 'web' joins the host's namespace through network_mode: container:vpn-1 -> container:gw-1 -> host,"
    )


def test_sys_ptrace_depends_on_the_pid_namespace() -> None:
    own = service("own", cap_add=(at("SYS_PTRACE", 5, 9),))
    host = service("host", key=Location(PATH, 10, 3), pid=at("host", 11, 10), cap_add=(at("sys_ptrace", 12, 9),))
    joined = service(
        "joined", key=Location(PATH, 20, 3), pid=at("service:host", 21, 10), cap_add=(at("CAP_SYS_PTRACE", 22, 9),)
    )
    found = run("dangerous-capability", own, host, joined)
    assert brief(found) == [
        ("dangerous-capability", "high", 5, 9),
        ("dangerous-capability", "critical", 12, 9),
        ("dangerous-capability", "critical", 22, 9),
    ]
    assert found[0].message.endswith(
        " (only the container's own processes: it does not share the host's PID namespace)"
    )
    assert found[1].message.endswith("; with pid: host that is every process on the host")
    assert found[1].related == (Location(PATH, 11, 10, "pid: host"),)
    assert found[2].message.endswith("; with pid: service:host -> host that is every process on the host")
