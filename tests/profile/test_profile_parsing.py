"""Trace text -> events -> the container's own checks, on a real recording and on kprobe text.

``data/tracepoint_docker_run_chown.txt`` was recorded on this kind of machine (kernel 6.18,
docker 20.10, runc 1.1.5) from ``docker run busybox sh -c 'chown 1000 /tmp; echo hi'`` with the
default capabilities. The kprobe path cannot run here (no kprobes in this kernel), so its text is
written in the kernel's kprobe output format (``trace_kprobe.c``: ``(sym+off/size)`` then
``name=value`` fields, ``(caller <- probed)`` for return probes): the parser is tested on that text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from leastcap.profile.classify import classify, syscall_of
from leastcap.profile.events import CapCheck, Exec, Exit, Fork, PathOpen, Rename, TraceParser
from leastcap.profile.proctree import ProcessTree, State, is_runc_init

DATA = Path(__file__).parent / "data"
SHIM = 30785  # the containerd-shim-runc-v2 started for the container (its first exec)


def recorded() -> list[CapCheck | Fork | Exec | Exit | Rename]:
    parser = TraceParser()
    with (DATA / "tracepoint_docker_run_chown.txt").open() as f:
        events = list(parser.feed(f))
    assert parser.unparsed == 0
    return events


def test_recorded_text_parses_completely() -> None:
    events = recorded()
    assert Counter(type(e).__name__ for e in events) == {
        "CapCheck": 371,
        "Fork": 58,
        "Exit": 59,
        "Exec": 9,
        "Rename": 13,
    }
    checks = [e for e in events if isinstance(e, CapCheck)]
    assert all(c.stack[:2] == ["trace_event_raw_event_cap_capable", "cap_capable"] for c in checks)
    chown = next(c for c in checks if c.cap == 0)
    assert (chown.pid, chown.comm, chown.ret) == (30877, "chown", 0)
    assert chown.stack[3:6] == ["capable_wrt_inode_uidgid", "setattr_prepare", "ext4_setattr"]
    assert syscall_of(chown.stack) == "chown"
    execs = [(e.pid, e.filename) for e in events if isinstance(e, Exec)]
    assert execs[:6] == [
        (30785, "/usr/bin/containerd-shim-runc-v2"),
        (30795, "/usr/bin/containerd-shim-runc-v2"),
        (30807, "/usr/sbin/runc"),
        (30815, "/proc/self/exe"),
        (30815, "/dev/fd/6"),
        (30824, "/proc/3824/exe"),  # dockerd's libnetwork-setkey hook, run by runc on the host
    ]


def test_tree_keeps_only_the_service_after_its_entrypoint_exec() -> None:
    tree = ProcessTree()
    tree.add_root(SHIM)
    kept = tree.feed_all(recorded())
    # runc's 350-odd checks (runc:[2:INIT] setting up the container, the hook, runc itself) are
    # dropped; what is left is the shell and its chown child.
    # The chown child is forked as "sh" and renamed by busybox (prctl): task_rename gives its name.
    assert [(c.pid, c.comm, c.cap, c.ret) for c in kept] == [(30817, "sh", 21, -1)] * 7 + [(30877, "chown", 0, 0)]
    renames = [(e.pid, e.comm) for e in recorded() if isinstance(e, Rename) and e.pid == 30877]
    assert renames == [(30877, "chown")]


def test_classification_of_the_recorded_service() -> None:
    tree = ProcessTree()
    tree.add_root(SHIM)
    result = classify(tree.feed_all(recorded()))
    assert result.required == ("CAP_CHOWN",)
    by_cap = {e.capability: e for e in result.evidence}
    assert set(by_cap) == {"CHOWN", "SYS_ADMIN"}
    assert by_cap["CHOWN"].frames == ("setattr_prepare", "ext4_setattr", "notify_change")
    assert by_cap["CHOWN"].syscalls == ("chown",)
    # Denied, but by cap_vm_enough_memory: a no-audit probe, not a tolerated denial.
    assert (by_cap["SYS_ADMIN"].decision, by_cap["SYS_ADMIN"].probes, by_cap["SYS_ADMIN"].denied) == (
        "optional_probe",
        7,
        0,
    )


def test_without_the_root_nothing_is_kept() -> None:
    assert ProcessTree().feed_all(recorded()) == []


def test_stack_goes_to_its_own_task_when_cpus_interleave() -> None:
    text = """\
              ip-20   [000] .....   10.000001: cap_capable: cred 0000000000000001, target_ns 0000000000000002, capable_ns 0000000000000002, cap 12, ret 0
           mount-21   [001] .....   10.000002: cap_capable: cred 0000000000000003, target_ns 0000000000000002, capable_ns 0000000000000002, cap 21, ret 0
              ip-20   [000] .....   10.000003: <stack trace>
 => trace_event_raw_event_cap_capable
 => cap_capable
 => rtnetlink_rcv_msg
           mount-21   [001] .....   10.000004: <stack trace>
 => trace_event_raw_event_cap_capable
 => cap_capable
 => path_mount
 => __x64_sys_mount
"""
    parser = TraceParser()
    checks = [e for e in parser.feed(text.splitlines()) if isinstance(e, CapCheck)]
    assert [(c.comm, c.cap, c.stack[2:]) for c in checks] == [
        ("ip", 12, ["rtnetlink_rcv_msg"]),
        ("mount", 21, ["path_mount", "__x64_sys_mount"]),
    ]


def test_comm_with_spaces_and_dashes_and_tgid_column() -> None:
    text = [
        " kworker/u8:2-my-app-77   (   70) [001] d..1.   5.5: cap_capable: cred 0, target_ns 0, capable_ns 0, cap 5, ret -1",
        "  runc:[2:INIT]-11610   [000] .N...   536.583283: sched_process_fork: comm=runc:[2:INIT] pid=11610 child_comm=runc:[2:INIT] child_pid=11615",
    ]
    events = list(TraceParser().feed(text))
    assert events[0] == CapCheck(5.5, 77, "kworker/u8:2-my-app", 5, -1)
    assert events[1] == Fork(536.583283, 11610, 11615, "runc:[2:INIT]")


KPROBE_TEXT = """\
# tracer: nop
              sh-300     [001] .....    42.000100: leastcap_cap: (cap_capable+0x0/0x90) cap=21 opts=0x2
              sh-300     [001] .....    42.000101: <stack trace>
 => cap_capable
 => security_vm_enough_memory_mm
 => mmap_region
              sh-300     [001] .....    42.000102: leastcap_ret: (security_capable+0x3c/0x70 <- cap_capable) ret=0
              ip-301     [000] .....    42.000200: leastcap_cap: (cap_capable+0x0/0x90) cap=12 opts=0x0
              ip-301     [000] .....    42.000201: <stack trace>
 => cap_capable
 => security_capable
 => ns_capable
 => rtnetlink_rcv_msg
              ip-301     [000] .....    42.000202: leastcap_ret: (ns_capable+0x2d/0x60 <- cap_capable) ret=-1
              su-302     [000] .....    42.000300: leastcap_cap: (cap_capable+0x0/0x90) cap=7 opts=0x4
              su-302     [000] .....    42.000302: leastcap_ret: (ns_capable_setid+0x2d/0x60 <- cap_capable) ret=0
"""


def test_kprobe_text_pairs_entry_and_return_and_reads_the_noaudit_flag() -> None:
    parser = TraceParser()
    checks = [e for e in parser.feed(KPROBE_TEXT.splitlines()) if isinstance(e, CapCheck)]
    assert parser.unparsed == 0
    assert [(c.pid, c.comm, c.cap, c.ret, c.noaudit) for c in checks] == [
        (300, "sh", 21, 0, True),
        (301, "ip", 12, -1, False),
        (302, "su", 7, 0, False),  # CAP_OPT_INSETID (4) is audited
    ]
    assert checks[1].stack == ["cap_capable", "security_capable", "ns_capable", "rtnetlink_rcv_msg"]
    result = classify(checks)
    assert {e.capability: e.decision for e in result.evidence} == {
        "SETUID": "required",
        "NET_ADMIN": "tolerated_denial",
        "SYS_ADMIN": "optional_probe",
    }
    probe = next(e for e in result.evidence if e.capability == "SYS_ADMIN")
    assert probe.reason == "only no-audit probes (CAP_OPT_NOAUDIT)"


def test_kprobe_return_without_entry_is_ignored() -> None:
    line = "   sh-9 [000] ..... 1.0: leastcap_ret: (security_capable+0x3c/0x70 <- cap_capable) ret=0"
    assert list(TraceParser().feed([line])) == []


def test_runc_init_paths() -> None:
    assert all(is_runc_init(p) for p in ("/proc/self/exe", "/dev/fd/6", "/proc/self/fd/7", "/usr/bin/runc-dmz"))
    assert not any(is_runc_init(p) for p in ("/usr/sbin/runc", "/proc/3824/exe", "/bin/sh"))


def test_tree_threads_exec_and_pid_reuse() -> None:
    tree = ProcessTree()
    tree.add_root(1)
    feed = [
        Fork(0.1, 1, 2, "shim"),  # runc
        Exec(0.2, 2, 2, "/proc/self/exe", "exe"),  # runc init
        Fork(0.3, 2, 3, "runc:[2:INIT]"),  # the container's init (a thread of runc init: 4)
        Fork(0.31, 3, 4, "runc:[2:INIT]"),
        Exec(0.4, 3, 4, "/app/server", "server"),  # exec from a non-leader thread: pid 4 -> 3
        Fork(0.5, 3, 5, "server"),
        Exit(0.6, 5),
        Fork(0.7, 99, 5, "other"),  # pid 5 reused by someone else
    ]
    for event in feed:
        tree.feed(event)
    assert tree.state(2) is State.RUNC_INIT
    assert tree.state(3) is State.SERVICE
    assert tree.state(4) is None
    assert tree.state(5) is None
    assert tree.feed(CapCheck(0.8, 5, "other", 12, 0)) is None
    check = CapCheck(0.8, 3, "server", 12, 0)
    assert tree.feed(check) is check


def test_collector_roots_at_runc_init_joining_the_container_cgroup() -> None:
    """No shim command line is readable (the container is long gone): the cgroup attach decides."""
    from leastcap.profile.recorder import Collector

    cid = "35131b3dcab95acf2bf985d7ef9ae4ee6aa9949409ae3a4580719770aadbe448"
    other = "99" * 32
    cap = "cap_capable: cred 0, target_ns 0, capable_ns 0"
    lines = [
        "runc-3188 [000] ..... 1.0: sched_process_fork: comm=runc pid=3188 child_comm=runc child_pid=3189",
        "exe-3189 [000] ..... 1.1: sched_process_exec: filename=/proc/self/exe pid=3189 old_pid=3189",
        "runc-3189 [000] ..... 1.2: " + cap + ", cap 8, ret 0",  # runc init set-up: not the service
        f"runc-3188 [000] d..1. 1.3: cgroup_attach_task: dst_root=3 dst_id=5 dst_level=2 dst_path=/docker/{other}"
        " pid=4000 comm=runc",
        f"runc-3188 [000] d..1. 1.3: cgroup_attach_task: dst_root=3 dst_id=5 dst_level=2 dst_path=/docker/{cid}"
        " pid=3189 comm=runc",
        "runc:[0:PARENT]-3189 [000] ..... 1.4: sched_process_fork: comm=runc:[0:PARENT] pid=3189"
        " child_comm=runc:[0:PARENT] child_pid=3190",
        "runc:[2:INIT]-3190 [001] ..... 1.5: " + cap + ", cap 7, ret 0",
        "sh-3190 [001] ..... 1.6: sched_process_exec: filename=/bin/sh pid=3190 old_pid=3190",
        "sh-3190 [001] ..... 1.7: " + cap + ", cap 12, ret 0",
        "x-4000 [001] ..... 1.8: sched_process_exec: filename=/bin/sh pid=4000 old_pid=4000",
        "x-4000 [001] ..... 1.9: " + cap + ", cap 21, ret 0",  # another container's process
    ]
    collector = Collector(cid)
    collector.sink(lines[:3])
    assert not collector.rooted
    collector.sink(lines[3:])
    assert collector.rooted
    assert [(c.pid, c.comm, c.cap) for c in collector.checks] == [(3190, "sh", 12)]


def test_a_late_open_of_a_task_that_just_exited_is_still_its() -> None:
    """fanotify's opens are stamped when read, which can be after the opener's exit (openwatch)."""
    tree = ProcessTree()
    tree.add_root(1, State.SERVICE)
    tree.feed(Fork(1.0, 1, 2, "sh"))
    tree.feed(Exec(1.1, 2, 2, "/bin/tunctl", "tunctl"))
    tree.feed(Exit(1.2, 2))
    late = tree.feed(PathOpen(1.3, 2, "", "/dev/net/tun", 2))
    assert late is not None and (late.pid, late.comm) == (2, "tunctl")
    # A check is never late: after the exit it is no longer the task's.
    assert tree.feed(CapCheck(1.3, 2, "", 12, 0)) is None
    # Once the id is reused by a task outside the service, a late open is not the old task's.
    tree.feed(Fork(1.4, 99, 2, "other"))
    assert tree.feed(PathOpen(1.5, 2, "", "/dev/net/tun", 2)) is None
