"""Clean-up, isolation and attach mode, against the real tracefs, dockerd and compose.

- a private instance is created and removed, and nothing outside it changes;
- Ctrl-C / SIGTERM remove the instance, the temporary containers, networks and override file;
- after a SIGKILL the next run removes what the dead recorder left;
- two profiles at once see only their own service;
- attach mode follows a running container and its `docker exec` children.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from profile_support import REPO, leastcap, profile_json, require_all, write_project

from leastcap.capabilities import DOCKER_DEFAULT_CAPABILITIES, short, sort_capabilities
from leastcap.profile import docker as dk
from leastcap.profile.rawtrace import RawReader
from leastcap.profile.tracefs import Instance, remove_stale_instances, tracefs_root

IMG = "leastcap-test/busybox:latest"
TRACEFS_STATE_FILES = (
    "tracing_on",
    "trace_clock",
    "current_tracer",
    "set_event",
    "set_event_pid",
    "buffer_size_kb",
    "options/event-fork",
    "options/stacktrace",
    "events/capability/cap_capable/enable",
    "events/capability/cap_capable/trigger",
    "events/capability/cap_capable/filter",
    "events/sched/sched_process_exec/enable",
    "events/sched/sched_process_fork/enable",
)


def tracing_state(root: Path) -> dict[str, str]:
    return {name: (root / name).read_text() for name in TRACEFS_STATE_FILES}


def own_instances(root: Path, pid: int) -> list[str]:
    return sorted(p.name for p in (root / "instances").iterdir() if p.name.startswith(f"leastcap-{pid}-"))


def docker_ids(*filters: str, kind: str = "container") -> list[str]:
    args = ["docker", "network", "ls", "-q"] if kind == "network" else ["docker", "ps", "-a", "-q"]
    for f in filters:
        args += ["--filter", f]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.tracefs
def test_instance_is_private_and_removed(tmp_path: Path) -> None:
    require_all()
    root = tracefs_root()
    before = tracing_state(root)
    with Instance() as instance:
        instance.enable_capability_events("tracepoint")
        instance.filter_pids([os.getpid()])
        reader = RawReader(instance, lambda events: None)  # switches the instance's clock only
        instance.start()
        reader.stop()
        assert instance.path.is_dir()
        assert instance.name.startswith(f"leastcap-{os.getpid()}-")
        assert (instance.path / "events/capability/cap_capable/trigger").read_text().startswith("stacktrace")
        assert tracing_state(root) == before
    assert not instance.path.exists()
    assert tracing_state(root) == before
    # Also on an exception inside the block.
    with pytest.raises(RuntimeError, match="boom"), Instance() as failing:
        failing.enable_capability_events("tracepoint")
        raise RuntimeError("boom")
    assert not failing.path.exists()
    assert own_instances(root, os.getpid()) == []


@pytest.mark.tracefs
def test_stale_instance_of_a_dead_recorder_is_removed() -> None:
    require_all()
    root = tracefs_root()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = root / "instances" / f"leastcap-{dead.pid}-deadbeef"
    stale.mkdir()
    (stale / "events/capability/cap_capable/enable").write_text("1")
    live = root / "instances" / f"leastcap-{os.getpid()}-0badf00d"
    live.mkdir()
    try:
        assert remove_stale_instances(root) == [stale.name]
        assert not stale.exists()
        assert live.exists()  # its recorder (this process) is alive
    finally:
        for d in (stale, live):
            if d.exists():
                d.rmdir()


@contextlib.contextmanager
def _as_from_a_terminal(ignored: tuple[signal.Signals, ...] = ()) -> Iterator[None]:
    """Children started inside get the signal dispositions of a command typed at a terminal
    (``ignored``: as under ``nohup``). A suite run in the background (``cmd &`` in a script) has
    SIGINT and SIGQUIT ignored, which children inherit, and the recorder would then rightly ignore
    the test's Ctrl-C. (A handler is reset to the default by exec; an ignored signal stays ignored.)"""
    signals = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM)
    saved = {sig: signal.getsignal(sig) for sig in signals}
    try:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _start_recorder(compose: Path, ignored: tuple[signal.Signals, ...] = ()) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    with _as_from_a_terminal(ignored):
        return subprocess.Popen(
            [sys.executable, "-m", "leastcap", "profile", "app", "-f", str(compose), "--duration", "120s"],
            cwd=compose.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _wait_until_recording(proc: subprocess.Popen[str], root: Path) -> tuple[str, str, Path]:
    """Wait for the recorder's instance and its running container; returns (container, project, override)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        ids = docker_ids(f"label={dk.OWNER_LABEL}={proc.pid}", "status=running")
        if ids and own_instances(root, proc.pid):
            out = subprocess.run(
                [
                    "docker",
                    "inspect",
                    "-f",
                    '{{index .Config.Labels "com.docker.compose.project"}} '
                    '{{index .Config.Labels "com.docker.compose.project.config_files"}}',
                    ids[0],
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            override = Path(out[1].split(",")[-1])
            assert override.name == "override.yaml" and override.exists()
            return ids[0], out[0], override
        time.sleep(0.2)
    raise AssertionError("the recorder never started recording")


@pytest.mark.docker
@pytest.mark.compose
@pytest.mark.tracefs
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cleans_up_everything(sig: signal.Signals, tmp_path: Path) -> None:
    require_all()
    root = tracefs_root()
    before = tracing_state(root)
    compose = write_project(tmp_path / "p", f"  app:\n    image: {IMG}\n    command: [sleep, '300']\n")
    proc = _start_recorder(compose)
    _, project, override = _wait_until_recording(proc, root)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; cleaned up" in err
    assert own_instances(root, proc.pid) == []
    assert docker_ids(f"label=com.docker.compose.project={project}") == []
    assert docker_ids(f"label=com.docker.compose.project={project}", kind="network") == []
    assert not override.parent.exists()
    assert tracing_state(root) == before


@pytest.mark.docker
@pytest.mark.compose
@pytest.mark.tracefs
def test_under_nohup_a_hangup_does_not_stop_the_recording(tmp_path: Path) -> None:
    """``nohup leastcap profile ... &`` must survive the terminal closing (SIGHUP ignored by the
    parent stays ignored); SIGTERM still ends it in order."""
    require_all()
    root = tracefs_root()
    compose = write_project(tmp_path / "p", f"  app:\n    image: {IMG}\n    command: [sleep, '300']\n")
    proc = _start_recorder(compose, ignored=(signal.SIGHUP,))
    _, project, override = _wait_until_recording(proc, root)
    proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert proc.poll() is None, "the recorder stopped on an ignored SIGHUP"
    assert docker_ids(f"label=com.docker.compose.project={project}") != []
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; cleaned up" in err
    assert docker_ids(f"label=com.docker.compose.project={project}") == []
    assert not override.parent.exists()


@pytest.mark.docker
@pytest.mark.compose
@pytest.mark.tracefs
def test_after_sigkill_the_next_run_cleans_up(tmp_path: Path) -> None:
    require_all()
    root = tracefs_root()
    compose = write_project(tmp_path / "p", f"  app:\n    image: {IMG}\n    command: [sleep, '300']\n")
    proc = _start_recorder(compose)
    container, project, override = _wait_until_recording(proc, root)
    proc.kill()
    proc.communicate(timeout=60)
    try:
        # A real crash: everything is still there...
        assert own_instances(root, proc.pid) != []
        assert docker_ids(f"label=com.docker.compose.project={project}") == [container[:12]]
        # ...until the next recorder starts (it calls exactly these first).
        left = own_instances(root, proc.pid)
        assert set(left) <= set(remove_stale_instances(root))
        assert own_instances(root, proc.pid) == []
        assert dk.cleanup_stale_projects() == [f"{project}-app-1"]
        assert docker_ids(f"label=com.docker.compose.project={project}") == []
        assert docker_ids(f"label=com.docker.compose.project={project}", kind="network") == []
        assert not override.parent.exists()
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        for name in own_instances(root, proc.pid):
            (root / "instances" / name).rmdir()


@pytest.mark.docker
@pytest.mark.compose
@pytest.mark.tracefs
def test_two_profiles_at_once_see_only_their_own_service(tmp_path: Path) -> None:
    require_all()
    loop = "for i in 1 2 3 4 5 6 7 8 9 10; do {op}; sleep 0.2; done"
    chown = write_project(
        tmp_path / "a",
        f"  app:\n    image: {IMG}\n    command: [sh, -c, 'touch /tmp/x; {loop.format(op='chown 1000 /tmp/x')}']\n",
    )
    mknod = write_project(
        tmp_path / "b",
        f"  app:\n    image: {IMG}\n    command: [sh, -c, '{loop.format(op='mknod /tmp/n$$i c 1 3')}']\n",
    )
    results: dict[str, tuple[int, dict[str, Any], str]] = {}

    def run(name: str, compose: Path) -> None:
        results[name] = profile_json(compose, "app", "--duration", "8s")

    threads = [threading.Thread(target=run, args=a) for a in (("a", chown), ("b", mknod))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # chown checks CHOWN once when the owner changes and twice (chown_ok, then the setattr path) when
    # root re-chowns a file it does not own to its current owner: 1 + 9 * 2 = 19 in ten rounds.
    for name, cap, comm, count in (("a", "CHOWN", "chown", 19), ("b", "MKNOD", "mknod", 10)):
        rc, data, err = results[name]
        assert rc == 0, err
        assert data["cap_add"] == [cap]
        evidence = {e["capability"]: e for e in data["evidence"]}
        assert set(evidence) == {cap, "SYS_ADMIN"}
        assert (evidence[cap]["granted"], evidence[cap]["processes"]) == (count, [{"comm": comm, "count": count}])


@pytest.mark.docker
@pytest.mark.tracefs
def test_attach_follows_a_running_container_and_docker_exec(tmp_path: Path) -> None:
    require_all()
    name = f"leastcap-attach-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            IMG,
            "sh",
            "-c",
            "touch /tmp/x; while true; do chown 1000 /tmp/x; sleep 0.3; done",
        ],
        capture_output=True,
        check=True,
    )
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        recorder = subprocess.Popen(
            [sys.executable, "-m", "leastcap", "profile", "--container", name, "--duration", "4s", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        root = tracefs_root()
        deadline = time.monotonic() + 60
        while not own_instances(root, recorder.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the instance exists; recording starts right after its set-up
        # A process started in the container after the attach: followed through runc exec.
        subprocess.run(["docker", "exec", name, "mknod", "/tmp/n", "c", "1", "3"], check=True)
        stdout, stderr = recorder.communicate(timeout=120)
        proc = subprocess.CompletedProcess(recorder.args, recorder.returncode, stdout, stderr)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["cap_add"] == ["CHOWN", "MKNOD"]
        assert (data["project"], data["service"], data["compose_files"]) == ("", name, [])
        assert (data["verified"], data["minimized"], data["verification"]) == (False, False, [])
        rec = data["recording"]
        assert (rec["mode"], rec["container"], rec["exit_code"], rec["lost_events"]) == ("attach", name, None, 0)
        defaults = [short(c) for c in sort_capabilities(DOCKER_DEFAULT_CAPABILITIES)]
        kernel_caps = dk.kernel_capabilities()
        assert rec["granted"] == defaults
        others = kernel_caps - set(DOCKER_DEFAULT_CAPABILITIES)
        assert rec["unavailable"] == [short(c) for c in sort_capabilities(others)]
        evidence = {e["capability"]: e for e in data["evidence"]}
        assert evidence["MKNOD"]["processes"] == [{"comm": "mknod", "count": 1}]
        assert evidence["CHOWN"]["processes"][0]["comm"] == "chown"
        assert evidence["CHOWN"]["granted"] >= 10
        assert data["notes"] == ["the container has no Compose labels: compose_files is empty"]
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_usage_errors(tmp_path: Path) -> None:
    cases = [
        ((), "name a SERVICE, or --container NAME"),
        (("app", "--container", "x"), "name a SERVICE, or --container NAME"),
        (("--container", "x", "--verify"), "--verify/--minimize restart the service"),
        (("app", "--duration", "soon"), "'soon' is not a duration"),
        (("app", "--minimize-from", "NET_ADMINN"), "unknown capability: 'NET_ADMINN'"),
        (("app", "--verify-caps", "ALL"), "ALL is not a capability set to verify"),
    ]
    for args, message in cases:
        proc = leastcap("profile", *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)


def test_no_compose_file_and_unknown_service(tmp_path: Path) -> None:
    proc = leastcap("profile", "app", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no Compose file: pass -f FILE" in proc.stderr
    require_all()
    compose = write_project(tmp_path / "p", f"  web:\n    image: {IMG}\n")
    proc = leastcap("profile", "app", "-f", str(compose), cwd=tmp_path)
    assert proc.returncode == 2
    assert "error: service 'app' is not in the Compose project (services: web)" in proc.stderr
    proc = leastcap("profile", "--container", f"leastcap-none-{uuid.uuid4().hex[:8]}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error: no such container: leastcap-none-" in proc.stderr


@pytest.mark.tracefs
def test_overruns_are_counted_not_hidden() -> None:
    """A tiny buffer that nobody reads overflows; the per-CPU stats say how many events were lost."""
    require_all()
    with Instance(buffer_kb=4) as instance:
        instance.enable_capability_events("tracepoint")
        instance.filter_pids([os.getpid()])
        instance.start()
        assert instance.stats().lost == 0
        for _ in range(40):
            subprocess.run(["true"], check=True)  # each exec makes SYS_ADMIN probes with stacks
        instance.stop()
        stats = instance.stats()
    assert stats.overrun > 0
    assert stats.lost == stats.overrun + stats.dropped
