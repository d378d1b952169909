"""Workloads with known answers, profiled for real: dockerd + docker compose + the kernel tracefs.

Each runs ``leastcap profile app --verify --minimize --minimize-from DEFAULT`` once. That records the
service with every capability the host grants, proposes a cap_add, verifies it (must pass), then
minimises from the proposal plus Docker's 14 defaults: the defaults the service never used go in one
verification run (cached when it equals the proposal), and each remaining capability is removed in
turn, which must FAIL for every required one. So one invocation shows: the minimal set is exactly
right, --verify passes with it and fails with one required capability removed, and --minimize
reaches the same set from a larger one.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from profile_support import profile_json, require_all, runs, write_project

from leastcap.capabilities import DOCKER_DEFAULT_CAPABILITIES, short, sort_capabilities
from leastcap.profile import docker as dk

pytestmark = [pytest.mark.docker, pytest.mark.compose, pytest.mark.tracefs, pytest.mark.slow]

IMG = "leastcap-test/busybox:latest"
PASS = "exited with code 0, as in the recording"
EXIT1 = "exit code 1 (the recording exited with code 0)"
DEFAULTS = [short(c) for c in sort_capabilities(DOCKER_DEFAULT_CAPABILITIES)]
HOST_PORT = random.randint(600, 999)  # below ip_unprivileged_port_start=1024 on the host


def app(command: str, extra: str = "") -> str:
    return f"  app:\n    image: {IMG}\n    command: {command}\n{extra}"


Evidence = tuple[str, list[dict[str, Any]], str, list[str], int, int]
# name -> (services yaml, expected cap_add,
#          {cap: (reason when removed, processes, check site, syscalls, granted, denied)})
# The check site is the first frame past the capability plumbing: the kernel function that asked.
# The frames after it are not asserted: they depend on the kernel build's inlining and unwinder, not on
# leastcap. On one 6.18.44 machine the kernel's own unwinder (tracefs' stacktrace trigger, no leastcap
# involved) reports check_kill_permission twice, at +0xef (its ns_capable call) and at +0x5 (just past
# the function's 5-byte __fentry__ site), before kill_pid_info_type; another machine of the same kind
# reports it once. leastcap's two recorders both show what the kernel reports.
WORKLOADS: dict[str, tuple[str, list[str], dict[str, Evidence]]] = {
    "chown": (
        app("[sh, -c, 'touch /tmp/x && chown 1000 /tmp/x']"),
        ["CHOWN"],
        {
            "CHOWN": (
                EXIT1,
                [{"comm": "chown", "count": 1}],
                "setattr_prepare",
                ["chown"],
                1,
                0,
            )
        },
    ),
    "net_admin": (
        # `type dummy` needs the dummy module, which this kernel lacks; a veth pair is the same check.
        app("[ip, link, add, lc0, type, veth, peer, name, lc1]"),
        ["NET_ADMIN"],
        {
            "NET_ADMIN": (
                "exit code 2 (the recording exited with code 0)",
                [{"comm": "ip", "count": 2}],
                "rtnetlink_rcv_msg",
                ["sendmsg"],
                2,
                0,
            )
        },
    ),
    "mknod": (
        app("[mknod, /tmp/null, c, '1', '3']"),
        ["MKNOD"],
        {
            "MKNOD": (
                EXIT1,
                [{"comm": "mknod", "count": 1}],
                "vfs_mknod",
                ["mknodat"],
                1,
                0,
            )
        },
    ),
    "chroot": (
        app("[chroot, /, /bin/true]"),
        ["SYS_CHROOT"],
        {
            "SYS_CHROOT": (
                EXIT1,
                [{"comm": "chroot", "count": 1}],
                "__x64_sys_chroot",
                ["chroot"],
                1,
                0,
            )
        },
    ),
    "kill": (
        # The victim runs as uid 1000 in a shared pid namespace; kill -0 checks the permission only.
        f"  victim:\n    image: {IMG}\n    user: '1000'\n    command: [sleep, '60']\n"
        + app("[kill, '-0', '1']", "    pid: 'service:victim'\n    depends_on: [victim]\n"),
        ["KILL"],
        {
            "KILL": (
                EXIT1,
                [{"comm": "kill", "count": 1}],
                "check_kill_permission",
                ["kill"],
                1,
                0,
            )
        },
    ),
    "setuid": (
        app("[su, -s, /bin/sh, app, -c, 'id -u']"),
        ["SETGID", "SETUID"],
        # su (root) switches to uid 1000 and is granted; the shell it execs as uid 1000 and the `id`
        # applet (renamed by busybox, no exec) each try setgid/setuid again and are denied, in the
        # recording and in verification alike (the same denials are not a verification failure).
        {
            "SETGID": (
                EXIT1,
                [{"comm": "su", "count": 2}, {"comm": "id", "count": 1}, {"comm": "sh", "count": 1}],
                "__do_sys_setgroups",
                ["setgid", "setgroups"],
                2,
                2,
            ),
            "SETUID": (
                EXIT1,
                [{"comm": "id", "count": 1}, {"comm": "sh", "count": 1}, {"comm": "su", "count": 1}],
                "__sys_setuid",
                ["setuid"],
                1,
                2,
            ),
        },
    ),
    "bind_host_network": (
        # kill $p fails (exit 1) when nc already died because its bind() was refused.
        app(f"[sh, -c, 'nc -l -p {HOST_PORT} & p=$$!; sleep 0.5; kill $$p']", "    network_mode: host\n"),
        ["NET_BIND_SERVICE"],
        {
            "NET_BIND_SERVICE": (
                EXIT1,
                [{"comm": "nc", "count": 1}],
                "__inet6_bind",
                ["bind"],
                1,
                0,
            )
        },
    ),
    "bind_private_network": (
        # Docker sets net.ipv4.ip_unprivileged_port_start=0 in a private network namespace.
        app("[sh, -c, 'nc -l -p 80 & p=$$!; sleep 0.5; kill $$p']"),
        [],
        {},
    ),
    "mount_tmpfs": (
        app("[sh, -c, 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m']"),
        ["SYS_ADMIN"],
        {
            "SYS_ADMIN": (
                EXIT1,
                [{"comm": "mount", "count": 2}],
                "path_mount",
                ["mount"],
                2,
                0,
            )
        },
    ),
    "needs_nothing": (app("['true']"), [], {}),
}


# The minimisation runs where they are not "each required capability removed alone, failing".
MINIMIZE_RUNS: dict[str, list[dict[str, Any]]] = {
    # Without both, su's setgroups is denied and it exits before trying setuid: SETGID is needed
    # (denied), SETUID alone is tried next, and fails too.
    "setuid": [
        {"cap_add": [], "passed": False, "reason": EXIT1},
        {"cap_add": ["SETGID"], "passed": False, "reason": EXIT1},
    ],
}

# Every workload with the default recorder (BPF here); a few again with ftrace stack traces, the
# recorder used where BPF cannot load, which must reach the same answer.
RECORDERS = [("bpf", name) for name in WORKLOADS] + [
    ("tracepoint", name) for name in ("chown", "mount_tmpfs", "kill", "needs_nothing")
]


@pytest.mark.parametrize(("source", "name"), RECORDERS)
def test_workload(source: str, name: str, tmp_path: Path) -> None:
    require_all()
    services, expected, required = WORKLOADS[name]
    compose = write_project(tmp_path / name, services)
    recorder = "bpf" if source == "bpf" else "ftrace"
    rc, data, err = profile_json(
        compose, "app", "--duration", "2s", "--verify", "--minimize", "--minimize-from", "DEFAULT",
        "--recorder", recorder,
    )  # fmt: skip
    assert rc == 0, err
    assert data["cap_add"] == expected
    assert data["cap_drop"] == ["ALL"]
    assert data["security_opt"] == ["no-new-privileges:true"]
    assert data["privileged"] is False
    assert (data["verified"], data["minimized"]) == (True, True)
    assert data["compose_files"] == [str(compose)]
    assert data["project"] == name
    assert data["service"] == "app"
    assert data["image"] == IMG
    # The proposal passes; removing any one required capability fails, with the reason recorded.
    # --minimize first removes all of them at once; without a probe, a capability that run saw
    # denied is needed (a new denial fails it), and only the others are tried again.
    minimize = MINIMIZE_RUNS.get(name) or [
        {"cap_add": [c for c in expected if c != cap], "passed": False, "reason": required[cap][0]} for cap in expected
    ]
    assert runs(data) == [{"cap_add": expected, "passed": True, "reason": PASS}, *minimize]
    assert data["minimize_runs"] == len(minimize)
    assert all(v["seconds"] > 0 for v in data["verification"])
    decisions = {e["capability"]: e["decision"] for e in data["evidence"]}
    expected_decisions = {c: "minimized_out" for c in DEFAULTS if c not in expected}
    expected_decisions |= {c: "required" for c in expected}
    expected_decisions.setdefault("SYS_ADMIN", "optional_probe")  # the mmap/brk probe, always there
    assert decisions == expected_decisions
    for cap, (_, processes, site, syscalls, granted, denied) in required.items():
        item = next(e for e in data["evidence"] if e["capability"] == cap)
        assert item["processes"] == processes
        assert item["frames"][0] == site, item["frames"]
        assert item["syscalls"] == syscalls
        assert (item["granted"], item["denied"]) == (granted, denied)
        assert item["reason"] == f"{granted} audited check(s) granted"
    probe = next(e for e in data["evidence"] if e["capability"] == "SYS_ADMIN")
    if "SYS_ADMIN" not in expected:
        assert probe["reason"] == "only no-audit probes (security_vm_enough_memory_mm)"
        assert probe["granted"] == 0 and probe["probes"] > 0
    rec = data["recording"]
    assert (rec["mode"], rec["source"], rec["exit_code"], rec["lost_events"]) == ("compose", source, 0, 0)
    assert rec["events"] > 0


def test_probe_and_healthcheck_are_the_workload(tmp_path: Path) -> None:
    """A long-running web server: the image's healthcheck (a docker exec'd process) needs CHOWN, the
    host-side probe must keep succeeding, and verification without CHOWN fails on the healthcheck."""
    require_all()
    port = random.randint(20000, 30000)
    services = (
        f"  app:\n    image: {IMG}\n"
        f"    ports: ['127.0.0.1:{port}:8080']\n"
        "    command: [sh, -c, 'touch /tmp/h && mkdir -p /www && echo ok > /www/index.html"
        " && exec httpd -f -p 8080 -h /www']\n"
        "    healthcheck:\n"
        # Only chown: `touch` of the file once it belongs to uid 1000 would also need FOWNER.
        "      test: [CMD, chown, '1000', /tmp/h]\n"
        "      interval: 1s\n      timeout: 2s\n      retries: 1\n"
    )
    compose = write_project(tmp_path / "web", services)
    probe = f"curl -fsS http://127.0.0.1:{port}/"
    rc, data, err = profile_json(compose, "app", "--duration", "4s", "--probe", probe, "--verify")
    assert rc == 0, err
    assert data["cap_add"] == ["CHOWN"]
    assert data["verified"] is True
    # The probe judges: the run ends once it passed after the recording's warm-up (and healthy).
    assert [(v["cap_add"], v["passed"]) for v in data["verification"]] == [(["CHOWN"], True)]
    assert re.fullmatch(r"the probe passed after the recording's \d+\.\ds warm-up", data["verification"][0]["reason"])
    assert data["verification"][0]["ended_early"] == data["verification"][0]["reason"]
    chown = next(e for e in data["evidence"] if e["capability"] == "CHOWN")
    assert chown["processes"][0]["comm"] == "chown"
    assert chown["decision"] == "required"
    assert (data["recording"]["exit_code"], data["recording"]["probe"]) == (None, probe)
    # httpd binds 8080 in a private network namespace: no NET_BIND_SERVICE, nothing else needed.
    assert [e["capability"] for e in data["evidence"] if e["decision"] == "required"] == ["CHOWN"]

    rc, data, err = profile_json(compose, "app", "--duration", "4s", "--probe", probe, "--verify-caps", "")
    assert rc == 1, err
    assert data["cap_add"] == []
    assert data["verified"] is False
    assert runs(data) == [{"cap_add": [], "passed": False, "reason": "healthcheck reports unhealthy"}]


def test_privileged_service_is_recorded_with_what_the_host_can_grant(tmp_path: Path) -> None:
    """`privileged: true` cannot start on this host (CAP_SYS_RESOURCE is missing from its bounding
    set): the recording replaces it, and the user's own cap_drop, with every grantable capability."""
    require_all()
    services = app(
        "[sh, -c, 'touch /tmp/x && chown 1000 /tmp/x']",
        "    privileged: true\n    cap_drop: [CHOWN]\n    cap_add: [NET_ADMIN]\n",
    )
    compose = write_project(tmp_path / "priv", services)
    original = compose.read_text()
    rc, data, err = profile_json(compose, "app", "--duration", "2s", "--verify")
    assert rc == 0, err
    assert compose.read_text() == original  # the user's file is never edited
    assert data["cap_add"] == ["CHOWN"]
    assert runs(data) == [{"cap_add": ["CHOWN"], "passed": True, "reason": PASS}]
    rec = data["recording"]
    bounding = dk.bounding_set()
    kernel = dk.kernel_capabilities()
    assert rec["privileged"] is (bounding >= kernel)
    assert set(rec["granted"]) | set(rec["unavailable"]) == {short(c) for c in kernel}
    assert not set(rec["granted"]) & set(rec["unavailable"])
    assert "CHOWN" in rec["granted"]
    missing = [short(c) for c in sort_capabilities(kernel - bounding)]
    if missing:
        assert set(missing) <= set(rec["unavailable"])
        assert data["notes"][0] == (
            f"{', '.join(missing)} not in this host's bounding set (CapBnd): privileged containers"
            " cannot start here and the recording could not grant them"
        )
        assert f"note: {data['notes'][0]}" in err
