"""``leastcap doctor``: can ``profile`` run on this host, and if not, what to do about it.

Every check uses the code ``profile`` itself runs (tracefs, the BPF recorder, fanotify, composebin,
the bounding set), so a green doctor and a working profile are the same thing. ``profile`` runs
these checks first and stops with the same lines when a needed one fails.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leastcap.capabilities import parse_mask, short, sort_capabilities
from leastcap.report.common import defuse

OK, MISSING, LIMITED = "ok", "missing", "limited"
# What profile needs from its own privileges: tracefs instances, BPF programs, fanotify mount marks.
NEEDED_CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_DAC_OVERRIDE")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor: ``missing`` stops profile; ``limited`` lets it run with less."""

    name: str
    status: str  # OK, MISSING or LIMITED
    detail: str
    fix: str = ""


def _effective_capabilities() -> frozenset[str]:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return parse_mask(line.split(":", 1)[1].strip())
    return frozenset()


def check_privileges() -> Check:
    from leastcap.profile.docker import kernel_capabilities

    uid = os.geteuid()
    # CAP_BPF and CAP_PERFMON exist since Linux 5.8; before that SYS_ADMIN covers them.
    needed = [c for c in NEEDED_CAPABILITIES if c in kernel_capabilities()]
    lacking = [c for c in needed if c not in _effective_capabilities()]
    who = "root" if uid == 0 else f"uid {uid}"
    if not lacking:
        return Check("privileges", OK, f"{who} with {', '.join(short(c) for c in needed)}")
    return Check(
        "privileges",
        MISSING,
        f"{who} without {', '.join(short(c) for c in lacking)}",
        "run leastcap as root (sudo leastcap ...)",
    )


def check_kernel() -> Check:
    return Check("kernel", OK, f"Linux {defuse(platform.release())}")


def check_tracing(log: Callable[[str], None]) -> tuple[Check, Check, Path | None]:
    """tracefs (mounted here when root and it is not) and where capability checks come from."""
    from leastcap.profile.tracefs import TracingUnavailableError, check_source, tracefs_root

    try:
        root = tracefs_root(log)
    except TracingUnavailableError as exc:
        return (
            Check("tracefs", MISSING, str(exc), "run as root; leastcap mounts tracefs itself"),
            Check("capability checks", MISSING, "cannot be looked for without tracefs"),
            None,
        )
    tracefs = Check("tracefs", OK, f"mounted at {root}")
    try:
        source = check_source(root)
    except TracingUnavailableError as exc:
        return tracefs, Check("capability checks", MISSING, str(exc), "use Linux 6.14+ or a kernel with kprobes"), None
    if source == "tracepoint":
        return tracefs, Check("capability checks", OK, "the capability:cap_capable tracepoint"), root
    return tracefs, Check("capability checks", OK, "a kprobe on cap_capable (the kernel predates the tracepoint)"), root


def check_bpf(root: Path | None) -> Check:
    from leastcap.profile.bpf.recorder import BpfRecorder, BpfUnavailableError
    from leastcap.profile.tracefs import tracepoint_available

    fallback = "profile records with ftrace stack traces instead (slower)"
    if root is None or not tracepoint_available(root):
        return Check("BPF recorder", LIMITED, "needs the capability:cap_capable tracepoint", fallback)
    try:
        with BpfRecorder(root, opens=False):
            pass
    except BpfUnavailableError as exc:
        first = str(exc).splitlines()[0]
        return Check("BPF recorder", LIMITED, first, fallback + "; BPF needs root (CAP_BPF, CAP_PERFMON)")
    return Check("BPF recorder", OK, "its programs load and attach")


def check_fanotify() -> Check:
    from leastcap.profile import fanotify as fan

    try:
        group = fan.Group(fan.FAN_REPORT_TID | fan.FAN_REPORT_DFID_NAME, os.O_RDONLY)
        try:
            group.mark_mount("/dev", fan.FAN_OPEN)
        finally:
            group.close()
    except OSError as exc:
        return Check(
            "fanotify",
            LIMITED,
            f"cannot watch a mount: {exc.strerror or exc}",
            "device and /sys opens are then seen only while the open syscalls are watched (--open-window)",
        )
    return Check("fanotify", OK, "mount marks work (device, /proc/sys and /sys opens)")


def _in_initial_user_namespace() -> bool:
    """The host's user namespace maps every uid to itself; any other map is a nested namespace."""
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def check_bounding_set() -> Check:
    from leastcap.profile.docker import bounding_set, kernel_capabilities

    if not _in_initial_user_namespace():
        # A new user namespace starts with a full bounding set of its own: it says nothing of the host's.
        return Check(
            "bounding set",
            LIMITED,
            "unknown: leastcap runs in a user namespace, whose bounding set is its own, not the host's",
            "run leastcap as root on the host to learn which capabilities privileged containers get",
        )
    missing = sort_capabilities(kernel_capabilities() - bounding_set())
    if not missing:
        return Check("bounding set", OK, "complete: privileged containers can start")
    names = ", ".join(short(c) for c in missing)
    return Check(
        "bounding set",
        LIMITED,
        f"this host lacks {names}: privileged containers cannot start here, and a profile can neither"
        f" grant nor measure {names}",
        "profile records with a stand-in for privileged (every capability the host has, every device,"
        " a writable /proc/sys); run on a host whose bounding set is complete to measure them",
    )


def check_dockerd() -> Check:
    docker = shutil.which("docker")
    if docker is None:
        return Check("dockerd", MISSING, "no docker CLI on PATH", "install Docker (the docker CLI and dockerd)")
    error = "no answer"
    server = None
    try:
        proc = subprocess.run(
            [docker, "version", "--format", "{{json .Server}}"], capture_output=True, text=True, timeout=30, check=False
        )
        error = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else error
        server = json.loads(proc.stdout or "null") if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        error = str(exc)
    if not isinstance(server, dict):
        error = defuse(error)
        return Check("dockerd", MISSING, f"not reachable: {error}", "start dockerd, or point DOCKER_HOST at it")
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    version, api = defuse(str(server.get("Version"))), defuse(str(server.get("ApiVersion")))
    return Check("dockerd", OK, f"version {version} (API {api}), at {defuse(where)}")


def check_compose() -> Check:
    from leastcap.profile.composebin import ENV_VAR, HOW_TO_INSTALL, ComposeNotFoundError, compose

    try:
        found = compose()
    except ComposeNotFoundError as exc:
        message, tail = str(exc), ": " + HOW_TO_INSTALL
        if message.endswith(tail):
            return Check("Compose v2", MISSING, defuse(message[: -len(tail)]), HOW_TO_INSTALL)
        return Check("Compose v2", MISSING, defuse(message), f"correct or unset {ENV_VAR}")
    return Check("Compose v2", OK, f"{defuse(found.version)}, {found.source} at {defuse(found.path)}")


def run_checks(log: Callable[[str], None], *, compose: bool = True) -> list[Check]:
    """Every check, in the order printed; ``compose=False`` for ``profile --container`` (no Compose)."""
    tracefs, source, root = check_tracing(log)
    checks = [check_privileges(), check_kernel(), tracefs, source, check_bpf(root), check_fanotify()]
    checks += [check_bounding_set(), check_dockerd()]
    if compose:
        checks.append(check_compose())
    return checks


def can_profile(checks: list[Check]) -> bool:
    return all(c.status != MISSING for c in checks)


def render(checks: list[Check], *, only_failed: bool = False) -> str:
    """The doctor's lines; ``only_failed``: just the missing ones (profile's message when it stops)."""
    lines: list[str] = []
    for c in checks:
        if only_failed and c.status != MISSING:
            continue
        lines.append(f"{c.status:<8} {c.name}: {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"         fix: {c.fix}")
    if can_profile(checks):
        lines.append("leastcap profile can run here.")
    else:
        lines.append("leastcap profile cannot run here: fix the lines marked missing.")
    return "\n".join(lines)
