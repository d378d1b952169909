"""Each rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, bind, device, project, service

from leastcap.model import Confidence, Finding, Hook, Location, Mount, Severity, SourceKind
from leastcap.rules.registry import check_project, rule_by_slug


def run(slug: str, *services: object) -> list[Finding]:
    proj = project(*services)  # type: ignore[arg-type]
    return [f for s in proj.services for f in rule_by_slug(slug).check(s, proj)]


def brief(findings: list[Finding]) -> list[tuple[str, str, int, int]]:
    return [(f.rule, f.severity.label, f.location.line, f.location.column) for f in findings]


# --- privileged ------------------------------------------------------------------------------


def test_privileged_true_false_build_and_hooks() -> None:
    svc = service(
        privileged=at(True, 4, 17),
        build_privileged=at(True, 6, 19),
        hooks=(
            Hook("post_start", privileged=at(True, 9, 21)),
            Hook("pre_stop", privileged=at(False, 11, 21)),
        ),
    )
    found = run("privileged", svc)
    assert brief(found) == [
        ("privileged", "critical", 4, 17),
        ("privileged", "critical", 6, 19),
        ("privileged", "critical", 9, 21),
    ]
    assert found[0].message == (
        "service 'web' runs privileged: all capabilities, every host device, no seccomp or AppArmor, "
        "writable /sys and cgroups"
    )
    assert found[1].message.startswith("service 'web' builds its image privileged (build.privileged)")
    assert found[2].message.startswith("a post_start hook of service 'web' runs privileged")
    assert found[2].facts == (("hook", "post_start"),)
    assert all(f.confidence is Confidence.HIGH and f.project == "proj" and f.service == "web" for f in found)
    assert run("privileged", service(privileged=at(False, 4))) == []
    assert run("privileged", service()) == []


def test_privileged_from_variable_and_profile_and_via() -> None:
    via = (Location(PATH, 12, 9, "alias *priv"),)
    svc = service("agent", privileged=at(True, 4, 17, ("AGENT_PRIVILEGED",), via), enabled=False, profiles=("debug",))
    (finding,) = run("privileged", svc)
    assert finding.confidence is Confidence.MEDIUM
    assert finding.related == via
    assert finding.message.endswith(
        "(privileged is true unless ${AGENT_PRIVILEGED} is set to false; only with profile debug)"
    )


def test_container_sources_have_symbolic_locations() -> None:
    svc = service(source=SourceKind.CONTAINER, key=Location("container:abc", 0, 0), privileged=Located_symbolic())
    (finding,) = run("privileged", svc)
    assert (finding.location.line, finding.location.column) == (0, 0)


def Located_symbolic():
    from leastcap.model import Located

    return Located(True, Location("container:abc", 0, 0, "HostConfig.Privileged"))


# --- cap-add-all -----------------------------------------------------------------------------


def test_cap_add_all_any_spelling_and_drop_all_does_not_undo() -> None:
    svc = service(cap_add=(at("all", 5, 9), at("NET_ADMIN", 6, 9), at("CAP_ALL", 7, 9)), cap_drop=(at("ALL", 9, 9),))
    (finding,) = run("cap-add-all", svc)
    assert brief([finding]) == [("cap-add-all", "critical", 5, 9)]
    assert finding.message == (
        "service 'web' adds ALL capabilities (cap_add: all); cap_drop: [ALL] does not "
        "undo it, moby applies cap_add ALL first"
    )
    assert finding.related == (Location(PATH, 9, 9, "cap_drop ALL (ignored)"),)
    assert run("cap-add-all", service(cap_add=(at("SYS_ADMIN", 5),))) == []


# --- dangerous-capability --------------------------------------------------------------------


def test_dangerous_capability_normalised_once_per_capability_with_severity() -> None:
    svc = service(
        cap_add=(
            at("sys_admin", 5, 9),
            at("CAP_NET_ADMIN", 6, 9),
            at("Sys_Admin", 7, 9),
            at("chown", 8, 9),
            at("ALL", 9, 9),
            at("CAP_ALL", 10, 9),
            at("syslog", 11, 9),
            at("bpf", 12, 9),
        )
    )
    found = run("dangerous-capability", svc)
    assert brief(found) == [
        ("dangerous-capability", "medium", 10, 9),  # CAP_ALL: unknown, moby refuses
        ("dangerous-capability", "critical", 5, 9),
        ("dangerous-capability", "high", 6, 9),
        ("dangerous-capability", "high", 11, 9),
        ("dangerous-capability", "critical", 12, 9),
    ]
    assert found[0].message == (
        "service 'web' adds unknown capability 'CAP_ALL': the daemon refuses to create the container"
    )
    assert found[1].message.startswith(
        "service 'web' adds SYS_ADMIN, which lets an attacker in the container mount filesystems"
    )
    assert found[1].related == (Location(PATH, 7, 9, "also added as Sys_Admin"),)
    assert found[1].facts == (("capability", "CAP_SYS_ADMIN"),)
    assert "set the system clock" not in found[2].message and "interfaces, routes" in found[2].message


def test_every_critical_capability_of_the_brief_is_critical() -> None:
    critical = [
        "SYS_ADMIN",
        "SYS_MODULE",
        "SYS_RAWIO",
        "DAC_READ_SEARCH",
        "BPF",
        "PERFMON",
        "SYS_BOOT",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
    ]
    # SYS_PTRACE is critical only with pid: host (test_sys_ptrace_depends_on_the_pid_namespace).
    high = ["SYS_PTRACE", "NET_ADMIN", "SYS_TIME", "SYSLOG", "SYS_NICE", "SYS_RESOURCE", "IPC_LOCK", "LINUX_IMMUTABLE"]
    svc = service(cap_add=tuple(at(c, i + 5) for i, c in enumerate(critical + high)))
    found = {dict(f.facts)["capability"]: f.severity for f in run("dangerous-capability", svc)}
    assert found == {
        **{f"CAP_{c}": Severity.CRITICAL for c in critical},
        **{f"CAP_{c}": Severity.HIGH for c in high},
    }


# --- missing-cap-drop ------------------------------------------------------------------------


def test_missing_cap_drop() -> None:
    found = run("missing-cap-drop", service())
    assert brief(found) == [("missing-cap-drop", "medium", 2, 3)]
    assert found[0].message == (
        "service 'web' has no cap_drop: [ALL] and keeps Docker's default capabilities (CHOWN, DAC_OVERRIDE, "
        "FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, "
        "AUDIT_WRITE, SETFCAP)"
    )
    partial = run("missing-cap-drop", service(cap_drop=(at("NET_RAW", 5), at("mknod", 6))))
    assert partial[0].message.startswith("service 'web' drops only some capabilities and keeps 12 of Docker's")
    assert run("missing-cap-drop", service(cap_drop=(at("all", 5),))) == []
    assert run("missing-cap-drop", service(privileged=at(True, 4))) == []
    assert run("missing-cap-drop", service(cap_add=(at("ALL", 4),), cap_drop=(at("ALL", 5),))) == []
    every = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    ]
    assert run("missing-cap-drop", service(cap_drop=tuple(at(c, 5) for c in every))) == []
    # privileged: false is not privileged
    assert len(run("missing-cap-drop", service(privileged=at(False, 4)))) == 1


# --- unconfined-profile ----------------------------------------------------------------------


def test_unconfined_profile_forms() -> None:
    svc = service(
        security_opt=(
            at("seccomp:unconfined", 5, 9),
            at("apparmor=unconfined", 6, 9),
            at("label:disable", 7, 9),
            at("systempaths=unconfined", 8, 9),
            at("label:seccomp:unconfined", 9, 9),
            at("systempaths:unconfined", 10, 9),
            at("label=user:USER", 11, 9),
        )
    )
    found = run("unconfined-profile", svc)
    assert brief(found) == [("unconfined-profile", "high", line, 9) for line in (5, 6, 7, 8)]
    assert found[0].message.startswith(
        "service 'web' has security_opt seccomp:unconfined, which switches off the seccomp filter"
    )
    assert [dict(f.facts)["option"] for f in found] == ["seccomp", "apparmor", "label", "systempaths"]


def test_unconfined_profile_last_seccomp_wins() -> None:
    later_profile = service(security_opt=(at("seccomp=unconfined", 5), at("seccomp=./p.json", 6)))
    assert run("unconfined-profile", later_profile) == []
    later_unconfined = service(security_opt=(at("seccomp=./p.json", 5), at("seccomp:unconfined", 6, 9)))
    assert brief(run("unconfined-profile", later_unconfined)) == [("unconfined-profile", "high", 6, 9)]
    assert run("unconfined-profile", service(security_opt=(at("seccomp=builtin", 5),))) == []


# --- no-new-privileges -----------------------------------------------------------------------


def test_no_new_privileges_forms_and_last_wins() -> None:
    missing = run("no-new-privileges", service())
    assert brief(missing) == [("no-new-privileges", "low", 2, 3)]
    for good in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=1", "no-new-privileges=T"):
        assert run("no-new-privileges", service(security_opt=(at(good, 5),))) == [], good
    off = run(
        "no-new-privileges",
        service(security_opt=(at("no-new-privileges:true", 5), at("no-new-privileges=false", 6, 9))),
    )
    assert brief(off) == [("no-new-privileges", "low", 6, 9)]
    assert off[0].message.startswith("service 'web' switches no-new-privileges off (no-new-privileges=false)")
    bad = run("no-new-privileges", service(security_opt=(at("no-new-privileges:yes", 5, 9),)))
    assert "which the daemon refuses" in bad[0].message
    on_again = service(security_opt=(at("no-new-privileges:false", 5), at("no-new-privileges", 6)))
    assert run("no-new-privileges", on_again) == []


# --- host-device -----------------------------------------------------------------------------


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


# --- docker-socket ---------------------------------------------------------------------------


def test_docker_socket() -> None:
    svc = service(
        volumes=(
            at(bind("/var/run/docker.sock", "/var/run/docker.sock", read_only=True), 5, 9),
            at(bind("/run/containerd/containerd.sock", "/c.sock"), 6, 9),
            at(Mount("volume", "/var/run/docker.sock"), 7, 9),  # anonymous volume, not the host's socket
            at(Mount("volume", "/sock", "dockersock", host_path="/run/podman/podman.sock"), 8, 9),
            at(bind("/srv/docker.socket", "/x"), 9, 9),
        ),
        use_api_socket=at(True, 10, 21),
    )
    found = run("docker-socket", svc)
    assert brief(found) == [
        ("docker-socket", "critical", line, col) for line, col in ((5, 9), (6, 9), (8, 9), (10, 21))
    ]
    assert found[0].message == (
        "service 'web' mounts /var/run/docker.sock, the Docker API, which lets it start a privileged container "
        "that mounts the host's root file system: root on the host (read-only does not help: connecting to a "
        "socket is not a write)"
    )
    assert found[3].message.startswith("service 'web' sets use_api_socket: true")
    assert run("docker-socket", service(use_api_socket=at(False, 4))) == []


# --- sensitive-mount -------------------------------------------------------------------------


def test_sensitive_mount_paths() -> None:
    cases = [
        (bind("/", "/host", read_only=True), "critical"),
        (bind("/", "/host"), "critical"),
        (bind("/etc", "/host/etc", read_only=True), "high"),
        (bind("/etc/localtime", "/etc/localtime", read_only=True), None),
        (bind("/etc/hosts", "/etc/hosts"), "high"),
        (bind("/etc/shadow", "/s", read_only=True), "high"),
        (bind("/etc/ssh/", "/s"), "critical"),
        (bind("/proc/sys", "/p"), "critical"),
        (bind("/sys/fs/cgroup", "/sys/fs/cgroup", read_only=True), "high"),
        (bind("/var/lib/docker/containers", "/c", read_only=True), "high"),
        (bind("/run", "/run"), None),  # docker-socket's: it holds /run/docker.sock
        (bind("/run/dbus", "/run/dbus", read_only=True), None),  # host-socket's
        (bind("/dev/bus/usb", "/dev/bus/usb"), None),
        (bind("/lib/modules", "/lib/modules", read_only=True), "high"),
        (bind("/home/me/app", "/app"), None),
        (bind("/var/run/docker.sock", "/var/run/docker.sock"), None),  # docker-socket's business
        (Mount("volume", "/data", "data"), None),
        (Mount("volume", "/data", "data", host_path="/etc"), "critical"),
        (bind("//etc/", "/e", read_only=True), "high"),
        (bind("/etc/pihole", "/etc/pihole"), "high"),
        (bind("/etc/pihole", "/etc/pihole", read_only=True), None),
        (bind("/etc/docker/volumes/traefik", "/data"), "high"),
        (bind("/etc/docker/volumes/traefik", "/data", read_only=True), None),
        (bind("/usr/local/bin", "/b"), "high"),
        (bind("/usr/local/bin", "/b", read_only=True), None),
        (bind("/lib/x86_64-linux-gnu", "/l"), "high"),
        (bind("/root", "/r", read_only=True), "high"),
        (bind("/boot/grub", "/g"), "critical"),
        (bind("/etc/ssl", "/etc/ssl", read_only=True), "high"),  # holds /etc/ssl/private
        (bind("/etc/ssl/certs", "/etc/ssl/certs", read_only=True), None),
        (bind("/etc/localtime", "/etc/localtime"), "high"),
        (bind("/dev", "/dev", read_only=True), "critical"),
        (bind("/dev/pts", "/dev/pts", read_only=True), "critical"),
        (bind("/srv/usr", "/u"), None),
        (bind("/etc/docker", "/etc/docker", read_only=True), "high"),
        (bind("/etc/wireguard", "/config", read_only=True), "high"),
        (bind("/etc/profile.d", "/p"), "high"),
        (bind("/etc/resolv.conf", "/etc/resolv.conf", read_only=True), None),
    ]
    svc = service(volumes=tuple(at(m, 5 + i, 9) for i, (m, _) in enumerate(cases)))
    found = {f.location.line: f.severity.label for f in run("sensitive-mount", svc)}
    assert found == {5 + i: sev for i, (_, sev) in enumerate(cases) if sev is not None}


def test_sensitive_mount_messages_and_propagation() -> None:
    svc = service(
        volumes=(
            at(bind("/", "/rootfs", read_only=True, propagation="rslave"), 5, 9),
            at(bind("/mnt/data", "/data", propagation="rshared"), 6, 9),
        )
    )
    found = run("sensitive-mount", svc)
    assert brief(found) == [("sensitive-mount", "critical", 5, 9), ("sensitive-mount", "high", 6, 9)]
    assert found[0].message == (
        "service 'web' mounts the host's whole file system (every host file, secret and socket: Docker API, "
        "systemd, D-Bus) read-only at /rootfs"
    )
    assert found[1].message == (
        "service 'web' mounts /mnt/data with rshared propagation: mounts made in the container appear on the host"
    )


# --- host-namespace --------------------------------------------------------------------------


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
        "web", source=SourceKind.CONTAINER, network_mode=at("container:vpn-1", 0, 0),
        runtime_facts=(("namespace_chain.network_mode", "container:vpn-1 -> container:gw-1 -> host"),),
    )
    private = service(
        "db", source=SourceKind.CONTAINER, network_mode=at("container:cache-1", 0, 0),
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


# --- registry --------------------------------------------------------------------------------


def test_check_project_sorted_and_config_applied() -> None:
    from leastcap.config import parse_config

    proj = project(service(privileged=at(True, 4, 17), pid=at("host", 5, 10)))
    all_findings = check_project(proj)
    assert [(f.rule, f.location.line) for f in all_findings] == [
        ("no-new-privileges", 2),
        ("privileged", 4),
        ("host-namespace", 5),
    ]
    config = parse_config("rules:\n  no-new-privileges: {enabled: false}\n  host-namespace: {severity: critical}\n")
    configured = check_project(proj, config)
    assert [(f.rule, f.severity.label) for f in configured] == [
        ("privileged", "critical"),
        ("host-namespace", "critical"),
    ]


def test_docker_socket_through_volumes_from_follows_chains_and_stops_at_cycles() -> None:
    agent = service("agent", volumes=(at(bind("/var/run/docker.sock", "/s"), 5, 9),))
    sidecar = service("sidecar", key=Location(PATH, 10, 3), volumes_from=(at("agent:ro", 12, 9),))
    chained = service("chained", key=Location(PATH, 20, 3), volumes_from=(at("sidecar", 21, 9),))
    loop_a = service("a", key=Location(PATH, 30, 3), volumes_from=(at("b", 31, 9),))
    loop_b = service("b", key=Location(PATH, 40, 3), volumes_from=(at("a", 41, 9),))
    found = run("docker-socket", agent, sidecar, chained, loop_a, loop_b)
    assert [(f.service, f.location.line) for f in found] == [("agent", 5), ("sidecar", 12), ("chained", 21)]
    assert found[2].message == (
        "service 'chained' mounts /var/run/docker.sock, the Docker API through volumes_from: sidecar (service "
        "'agent' binds it), which lets it start a privileged container that mounts the host's root file "
        "system: root on the host"
    )
    assert found[2].related == (Location(PATH, 5, 9, "the socket bind in service agent"),)
