"""Devices and sysctls the service touched that privileged mode provided: propose them, or say why not.

Privileged mode gives a container every host device node and a writable ``/proc/sys`` and ``/sys``.
The recorder reports the service's opens below ``/dev/``, ``/proc/sys/`` and ``/sys/`` (``PathOpen``);
from them:

* a ``/dev`` path that is a character or block device on the host, and not one Docker already gives
  every container, becomes a ``devices:`` entry (the path itself: Docker resolves a symlinked host
  path and creates the node at the same path in the container);
* a ``/proc/sys`` path opened for writing becomes a ``sysctls:`` entry when Docker can set it per
  container (runc's rule: ``net.*`` with a private network namespace; the IPC ones with a private
  IPC namespace; ``kernel.domainname``) and its value is known; otherwise a note says why not;
* a ``/sys`` path opened for writing gives a note: only privileged makes ``/sys`` writable.

Sysctl values are read at the end of the recording inside the container's namespaces
(``read_sysctls``): net, ipc and uts sysctls answer for the namespace of the task that reads them, so
reading ``/proc/sys`` from the host would give the host's values.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leastcap.profile.events import PathOpen
from leastcap.profile.format import DEVICE, SYSCTL, AccessEvidence, ProcessCount

# What Docker (runc) gives every container under /dev, so never worth proposing: the nodes runc
# creates (specconv's default devices, plus /dev/console for a tty), its symlinks (/dev/ptmx ->
# pts/ptmx, /dev/fd, /dev/std*, /dev/core -> /proc/kcore) and its mounts (pts, shm, mqueue).
DOCKER_DEFAULT_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/console",
        "/dev/ptmx",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/core",
        "/dev/fd",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
    }
)
_DEFAULT_DIRS = ("/dev/pts/", "/dev/shm/", "/dev/mqueue/", "/dev/fd/")

# runc (libcontainer/configs/validate: sysctl) accepts these with a private IPC namespace.
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
_MAX_VALUE = 4096  # sysctl values are short; never copy more than this into a profile
_MAX_LISTED = 5  # paths named in one note


@dataclass(frozen=True, slots=True)
class Touched:
    """What to add to the service besides capabilities, why, and what could not be proposed."""

    devices: tuple[str, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    evidence: tuple[AccessEvidence, ...] = ()
    notes: tuple[str, ...] = ()


def _clean(path: str, prefix: str) -> str | None:
    """The normalised absolute path if it is below ``prefix`` (``..`` cannot climb out), else None."""
    if not path.startswith("/") or "\0" in path:
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("//"):  # POSIX keeps a leading "//"
        norm = "/" + norm.lstrip("/")
    return norm if norm.startswith(prefix) and len(norm) > len(prefix) else None


def is_docker_default_device(path: str) -> bool:
    return path in DOCKER_DEFAULT_DEVICES or path.startswith(_DEFAULT_DIRS)


def sysctl_name(path: str) -> str | None:
    """``/proc/sys/net/ipv4/ip_forward`` -> ``net.ipv4.ip_forward``; None if not below /proc/sys.

    A dot inside one component (an interface ``eth0.100``) is written as ``/``, as sysctl(8) and
    runc do, so the name maps back to exactly one path.
    """
    norm = _clean(path, "/proc/sys/")
    if norm is None:
        return None
    parts = norm[len("/proc/sys/") :].split("/")
    return ".".join(p.replace(".", "/") for p in parts)


def sysctl_path(name: str) -> str | None:
    """The /proc/sys path of a dotted sysctl name, or None when the name could escape /proc/sys."""
    if not name or "\0" in name:
        return None
    parts = [p.replace("/", ".") for p in name.split(".")]
    if any(p in ("", ".", "..") for p in parts):
        return None
    return "/proc/sys/" + "/".join(parts)


def sysctl_names(opens: Iterable[PathOpen]) -> list[str]:
    """The sysctls the service opened for writing, sorted: what ``read_sysctls`` should read."""
    return sorted({n for o in opens if o.writes and (n := sysctl_name(o.path)) is not None})


def _normalise_value(text: str) -> str:
    # Multi-field values (kernel.sem) are tab-separated; a Compose value with spaces writes the same.
    return " ".join(text.split())


# Runs inside the container's namespaces (under nsenter) with the host's filesystem: prints
# {path: value} for each path given that can be read and that the namespace shows writable. A global
# net sysctl (net.core.rmem_max) is visible read-only (0444) in a container's network namespace and
# runc fails to start a container that sets it, so it is left out like an unreadable one.
_READER = (
    "import json,os,sys\n"
    "out={}\n"
    "for p in sys.argv[1:]:\n"
    "    try:\n"
    "        if not os.stat(p).st_mode & 0o222: continue\n"
    f"        with open(p,'rb') as f: out[p]=f.read({_MAX_VALUE}).decode('utf-8','replace')\n"
    "    except OSError: pass\n"
    "print(json.dumps(out))\n"
)


def read_sysctls(pid: int, names: Iterable[str], *, timeout: float = 10.0) -> dict[str, str]:
    """Read sysctls as the container with init ``pid`` sees them (its net, ipc and uts namespaces).

    Never raises: a name that cannot be read (unknown in that namespace, write-only, read-only there
    because it is global, the container gone, no ``nsenter``) is simply absent from the result.
    Values are whitespace-normalised (``kernel.sem``'s tabs become single spaces).
    """
    paths = {p: n for n in dict.fromkeys(names) if (p := sysctl_path(n)) is not None}
    nsenter = shutil.which("nsenter")
    if not paths or nsenter is None or pid <= 0:
        return {}
    args = [nsenter, f"--target={pid}", "--net", "--ipc", "--uts", "--", sys.executable, "-c", _READER]
    try:
        proc = subprocess.run([*args, *paths], capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            return {}
        data = json.loads(proc.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {paths[p]: _normalise_value(v) for p, v in data.items() if p in paths and isinstance(v, str)}


def sysctl_refusal(name: str, *, host_network: bool = False, host_ipc: bool = False) -> str | None:
    """Why Docker cannot set this sysctl for the container (runc's validation), or None if it can."""
    if name.startswith("net."):
        if host_network:
            return (
                "the service uses the host's network namespace (network_mode: host),"
                " where no net.* sysctl can be set per container"
            )
        return None
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        if host_ipc:
            return (
                "the service uses the host's IPC namespace (ipc: host), where IPC sysctls cannot be set per container"
            )
        return None
    if name == "kernel.domainname":
        return None
    if name == "kernel.hostname":
        return "set it with hostname: instead (Docker refuses kernel.hostname in sysctls:)"
    return (
        "it is not namespaced: no container can set it through sysctls:, and a privileged one"
        " changes it for the whole host; set it on the host (sysctl -w, /etc/sysctl.d) if the service needs it"
    )


@dataclass
class _Seen:
    path: str
    reads: int = 0
    writes: int = 0
    procs: Counter[str] = field(default_factory=Counter)

    def add(self, event: PathOpen) -> None:
        if event.writes:
            self.writes += event.count
        else:
            self.reads += event.count
        self.procs[event.comm] += event.count

    def processes(self) -> tuple[ProcessCount, ...]:
        return tuple(ProcessCount(c, n) for c, n in sorted(self.procs.items(), key=lambda i: (-i[1], i[0])))

    def by(self) -> str:
        return ", ".join(f"{p.comm} x{p.count}" for p in self.processes()[:3])

    def how(self) -> str:
        if self.writes and self.reads:
            return "opened for reading and writing"
        return "opened for writing" if self.writes else "opened for reading"


# Directories below /dev whose nodes privileged mode does not pass on (containerd's HostDevices walk,
# which Docker uses for privileged containers; their own pts, shm, mqueue and fd are mounted anyway).
_UNPASSED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(dev_root: Path = Path("/dev")) -> tuple[str, ...]:
    """The host's device nodes that privileged mode passes to a container -- every character and
    block node below ``dev_root`` (symlinks not followed) -- less those every container has anyway:
    what a recording that cannot be privileged adds in its place. Container paths, sorted."""
    found: list[str] = []
    for directory, subdirs, files in os.walk(dev_root):
        subdirs[:] = [d for d in subdirs if d not in _UNPASSED_DIRS]
        for name in files:
            path = os.path.join(directory, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:  # gone since the listing
                continue
            container = "/dev/" + os.path.relpath(path, dev_root)
            if ":" in container:  # Compose's HOST:CONTAINER:PERMS syntax could not say it
                continue
            if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and not is_docker_default_device(container):
                found.append(container)
    return tuple(sorted(found))


def _host_device(dev_root: Path, rel: str) -> tuple[str, int] | None:
    """(kind, st_rdev) if ``dev_root/rel`` is a device node on the host, following symlinks only
    while they stay inside ``dev_root`` (a symlink to /proc/self/fd/1 or out of /dev is not a
    device to hand over); None otherwise."""
    root = os.path.realpath(dev_root)
    real = os.path.realpath(os.path.join(root, rel))
    if real == root or os.path.commonpath([real, root]) != root:
        return None
    # A symlink to a device every container has (e.g. a host alias of /dev/null) needs nothing.
    if is_docker_default_device("/dev/" + os.path.relpath(real, root)):
        return None
    try:
        st = os.stat(real, follow_symlinks=False)
    except OSError:
        return None
    if stat.S_ISCHR(st.st_mode):
        return "character device", st.st_rdev
    if stat.S_ISBLK(st.st_mode):
        return "block device", st.st_rdev
    return None


def propose(
    opens: Iterable[PathOpen],
    sysctl_values: Mapping[str, str],
    *,
    dev_root: Path = Path("/dev"),
    privileged: bool = True,
    host_network: bool = False,
    host_ipc: bool = False,
    configured_sysctls: Mapping[str, str] | None = None,
) -> Touched:
    """Devices and sysctls to propose from the service's opens, with evidence and notes.

    ``privileged``: the recording ran privileged, so the service's writes to /proc/sys succeeded and
    ``sysctl_values`` show what it set. Without it /proc/sys was read-only: a value read afterwards
    is the container's default (or the Compose file's own setting), not what the service wanted, so
    it is not proposed. ``configured_sysctls``: the service's own ``sysctls:`` (kept by fix anyway).
    """
    seen = _sort_opens(opens)
    proposed_devices, device_evidence = _propose_devices(seen.devices, dev_root)
    proposed_sysctls, sysctl_evidence, notes = _propose_sysctls(
        seen.sysctls,
        sysctl_values,
        configured=dict(configured_sysctls or {}),
        privileged=privileged,
        host_network=host_network,
        host_ipc=host_ipc,
    )
    if seen.sys_writes:
        notes.append(_sys_writes_note(seen.sys_writes))
    evidence = (*device_evidence, *sysctl_evidence)
    return Touched(tuple(proposed_devices), proposed_sysctls, evidence, tuple(notes))


@dataclass
class _Opens:
    """The service's opens by what they touched: device paths, sysctl names, paths below /sys."""

    devices: dict[str, _Seen] = field(default_factory=dict)
    sysctls: dict[str, _Seen] = field(default_factory=dict)  # writes only
    sys_writes: dict[str, _Seen] = field(default_factory=dict)


def _sort_opens(opens: Iterable[PathOpen]) -> _Opens:
    """Group the opens that may need something privileged mode gave; ignore all the others."""
    seen = _Opens()
    for event in opens:
        if (dev := _clean(event.path, "/dev/")) is not None:
            if not is_docker_default_device(dev):
                seen.devices.setdefault(dev, _Seen(dev)).add(event)
        elif (name := sysctl_name(event.path)) is not None:
            if event.writes:
                seen.sysctls.setdefault(name, _Seen(event.path)).add(event)
        elif (path := _clean(event.path, "/sys/")) is not None and event.writes:
            seen.sys_writes.setdefault(path, _Seen(path)).add(event)
    return seen


def _propose_devices(devices: Mapping[str, _Seen], dev_root: Path) -> tuple[list[str], list[AccessEvidence]]:
    """The opened paths that are device nodes on this host, sorted, with their evidence."""
    proposed: list[str] = []
    evidence: list[AccessEvidence] = []
    for path in sorted(devices):
        seen = devices[path]
        node = _host_device(dev_root, path[len("/dev/") :])
        if node is None:
            continue  # not a device on this host (a regular file, a socket, absent): nothing to pass
        kind, rdev = node
        proposed.append(path)
        reason = f"{kind} {os.major(rdev)}:{os.minor(rdev)} on the host; {seen.how()} by {seen.by()}"
        evidence.append(AccessEvidence(DEVICE, path, path, reason, None, seen.reads, seen.writes, seen.processes()))
    return proposed, evidence


def _propose_sysctls(
    sysctls: Mapping[str, _Seen],
    sysctl_values: Mapping[str, str],
    *,
    configured: Mapping[str, str],
    privileged: bool,
    host_network: bool,
    host_ipc: bool,
) -> tuple[dict[str, str], list[AccessEvidence], list[str]]:
    """The written sysctls whose wanted value is known and that Docker can set, with evidence, and
    a note for each written sysctl that is not proposed (except the Compose file's own)."""
    proposed: dict[str, str] = {}
    evidence: list[AccessEvidence] = []
    notes: list[str] = []
    for name in sorted(sysctls):
        seen = sysctls[name]
        refusal = sysctl_refusal(name, host_network=host_network, host_ipc=host_ipc)
        if refusal is not None:
            notes.append(f"the service wrote {name} ({seen.by()}), which is not proposed: {refusal}")
            continue
        value = sysctl_values.get(name)
        if name in configured:
            if not privileged:
                continue  # the Compose file sets it; fix keeps it, and its value is the user's
        elif not privileged:
            now = f" (it is {value!r} in the container)" if value is not None else ""
            notes.append(
                f"the service wrote {name} ({seen.by()}), but the recording was not privileged, so"
                f" /proc/sys was read-only and the value it wanted is unknown{now}: add"
                f" sysctls: {{{name}: <value>}} if the service needs it"
            )
            continue
        if value is None:
            notes.append(
                f"the service wrote {name} ({seen.by()}), but it could not be read in the container's"
                " namespaces at the end of the recording (the container had exited, the sysctl is"
                " write-only, or it is global and read-only in a container, like net.core.rmem_max):"
                f" not proposed; add sysctls: {{{name}: <value>}} if the service needs it and Docker accepts it"
            )
            continue
        proposed[name] = value
        reason = f"{seen.how()} by {seen.by()}; {value!r} in the container at the end of the recording"
        evidence.append(
            AccessEvidence(SYSCTL, name, seen.path, reason, value, seen.reads, seen.writes, seen.processes())
        )
    return proposed, evidence, notes


def _sys_writes_note(sys_writes: Mapping[str, _Seen]) -> str:
    """Writes below /sys: nothing in Compose can allow them, so the user is told, once."""
    paths = sorted(sys_writes)
    listed = ", ".join(paths[:_MAX_LISTED])
    if len(paths) > _MAX_LISTED:
        listed += f" and {len(paths) - _MAX_LISTED} more"
    procs: Counter[str] = Counter()
    for seen in sys_writes.values():
        procs.update(seen.procs)
    by = ", ".join(f"{c} x{n}" for c, n in sorted(procs.items(), key=lambda i: (-i[1], i[0]))[:3])
    return (
        f"the service opened {listed} below /sys for writing ({by}): /sys is read-only in a"
        " container unless it is privileged, and no Compose setting makes it writable; if the"
        " service needs this, it will fail without privileged (or a bind mount of that path)"
    )


__all__ = [
    "DOCKER_DEFAULT_DEVICES",
    "IPC_SYSCTLS",
    "Touched",
    "is_docker_default_device",
    "propose",
    "read_sysctls",
    "sysctl_name",
    "sysctl_names",
    "sysctl_path",
    "sysctl_refusal",
]
