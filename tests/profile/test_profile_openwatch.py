"""fanotify on a real container: which of its opens are seen, with what mode, and what is not."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

from profile_support import require_all

from leastcap.profile.events import PathOpen
from leastcap.profile.openwatch import OpenWatcher


def test_the_container_s_device_opens_and_sysctl_writes() -> None:
    image = require_all()
    name = f"leastcap-openwatch-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "docker", "run", "-d", "--name", name, "--network", "none", "--device", "/dev/net/tun",
            # A writable /proc/sys (and NET_ADMIN to write the netns's sysctls), as privileged has.
            "--security-opt", "systempaths=unconfined", "--cap-add", "NET_ADMIN", image, "sleep", "600",
        ],
        capture_output=True, check=True,
    )  # fmt: skip
    holder: subprocess.Popen[bytes] | None = None
    try:
        pid = _pid(name)
        watcher = OpenWatcher(pid)
        try:
            script = (
                "cat /dev/net/tun 2>/dev/null;"  # opened read-only (reading it then fails)
                " echo 1 > /proc/sys/net/ipv4/tcp_syncookies; (echo 1 > /proc/sys/net/ipv4/tcp_syncookies);"
                " cat /proc/sys/kernel/ostype >/dev/null;"  # a read: not reported
                " echo 0 > /proc/self/oom_score_adj;"  # a write outside /proc/sys: not reported
                " cat /dev/net/nope 2>/dev/null;"  # a failed open: never seen by fanotify
                " true"
            )
            subprocess.run(["docker", "exec", name, "sh", "-c", script], check=True, timeout=60)
            # Still open when the watch ends: the mode is read from the holder's fdinfo.
            holder = subprocess.Popen(["docker", "exec", name, "sh", "-c", "exec 3<>/dev/net/tun; sleep 30"])
            deadline = time.monotonic() + 20
            early: list[PathOpen] = []
            while not any(o.flags == 2 for o in early) and time.monotonic() < deadline:
                early += watcher.drain()
                if _holds_tun(name):
                    break
                time.sleep(0.1)
            opens = early + watcher.finish()
        finally:
            watcher.close()
        # /dev/null is opened by every redirection here and by the docker execs that poll: left out.
        seen = sorted((o.path, o.flags, o.count) for o in opens if o.path != "/dev/null")
        assert seen == [
            ("/dev/net/tun", 0, 1),
            ("/dev/net/tun", 2, 1),
            # The shell's write and its subshell's (another task; fanotify folds an unread event
            # into an identical one of the same task, so one task's repeats can count once).
            ("/proc/sys/net/ipv4/tcp_syncookies", 1, 1),
            ("/proc/sys/net/ipv4/tcp_syncookies", 1, 1),
        ]
        assert (watcher.unnamed, watcher.overflowed) == (0, False)
    finally:
        if holder is not None:
            holder.kill()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _holds_tun(name: str) -> bool:
    out = subprocess.run(
        ["docker", "exec", name, "sh", "-c", "ls -l /proc/*/fd 2>/dev/null | grep -c /dev/net/tun"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return out not in ("", "0")


def test_a_privileged_recording_detaches_the_open_syscall_hooks_once_fanotify_watches() -> None:
    """--open-window auto for a privileged container: the open syscalls are watched only until
    fanotify is, and the opens after that come from fanotify, through the process tree."""
    from leastcap.profile import docker as dk
    from leastcap.profile.proctree import State
    from leastcap.profile.recorder import Collector, Session

    image = require_all()
    name = f"leastcap-openwatch-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "none", "--device", "/dev/net/tun", image,
         "sleep", "600"],
        capture_output=True, check=True,
    )  # fmt: skip
    try:
        pid = _pid(name)
        shim = dk.parent_pid(pid)
        assert shim is not None
        # As attach mode does: the shim's tasks are set-up (a docker exec becomes the service at its
        # exec out of runc init), the container's init is the service.
        roots = {task: State.SETUP for task in dk.process_tasks(shim)} | {pid: State.SERVICE}
        collector = Collector(deferred=True)
        collector.set_roots(roots, running=True)
        # This host cannot run a privileged container; the session is told it is one, which is all
        # that "auto" looks at.
        with Session(collector, "tracepoint", list(roots), privileged=True) as session:
            session.start()
            assert session.bpf is not None and session.bpf.opens_via is not None
            assert session.opens_closed_at is None
            session.watch_container(pid)
            assert session.opens_closed_at is not None
            subprocess.run(["docker", "exec", name, "sh", "-c", "cat /dev/net/tun 2>/dev/null; true"], check=True)
            session.stop()
        assert [(o.comm, o.path, o.flags) for o in collector.opens if o.path != "/dev/null"] == [
            ("cat", "/dev/net/tun", 0)
        ]
        assert session.notes == []
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _pid(name: str) -> int:
    return int(
        subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", name], capture_output=True, text=True, check=True
        ).stdout
    )


def test_without_fanotify_the_open_syscalls_keep_their_window() -> None:
    """A container that is gone (or a kernel without fanotify): the watch fails, says why, and a
    privileged recording falls back to the default window of the open syscalls."""
    from leastcap.profile.recorder import DEFAULT_OPEN_WINDOW, Collector, Session
    from support.components import require_tracefs

    require_tracefs()
    gone = 2**22 + 4321  # above pid_max: no such process
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()], privileged=True) as session:
        session.start()
        session.watch_container(gone)
        assert session.watcher is None
        assert session.watch_error == f"[Errno 2] fanotify_mark /proc/{gone}/root/dev: No such file or directory"
        assert (session.open_window, session.opens_closed_at) == (DEFAULT_OPEN_WINDOW, None)
        assert session.bpf is not None and session.bpf.opens_via is not None
        session.stop()
        assert session.notes == []  # the hooks watched the whole (short) recording
