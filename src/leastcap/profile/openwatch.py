"""The container's opens below /dev and its writes below /proc/sys and /sys, from fanotify.

The open syscalls' tracepoints see every open, even one that fails, but while they are on every
syscall of every task on the host takes the kernel's slow path (~15% on a syscall-bound service).
fanotify marks only the container's own mounts and costs nothing elsewhere, so it watches the whole
recording. It sees only what succeeded: in a privileged container that is all that matters (every
host device node exists, /proc/sys and /sys are writable); in an unprivileged one a missing device
node or a write refused by the read-only /proc/sys is only seen by the tracepoints (Session's window).

Two groups, because each file system allows a different kind of report:

* ``/dev`` (a tmpfs): reported by directory handle and name, so the kernel never opens the device in
  leastcap (opening some devices has effects: a watchdog starts counting down). Open, then a close
  that says whether it was opened for writing.
* ``/proc/sys`` and ``/sys``: procfs and sysfs cannot encode handles, so these events carry a file the
  kernel opened for leastcap; only writes matter here (a sysctl or /sys write), reported when the
  writer closes the file. The kernel opens it write-only, which succeeds for every file the service
  could write, write-only sysfs attributes included, and has no effect until written, which
  leastcap never does. /proc/sys is marked per directory, not as a mount: in a privileged container
  it is part of /proc, where marking the mount would report every write to /proc/<pid>/... too.

fanotify events carry no time: each is stamped when read, by a thread that waits on both groups, a
few hundred microseconds after the open at most. The process tree treats such a late event of a
task that has just exited as that task's (proctree).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from leastcap.profile import fanotify as fan
from leastcap.profile.events import PathOpen

# /proc/sys directories marked at most: a container's has ~70; a host's with many interfaces a few
# thousand. Marks pin their inodes, so this bounds the kernel memory one recording holds.
MAX_DIRECTORY_MARKS = 8192

_DEVICE_EVENTS = fan.FAN_OPEN | fan.FAN_CLOSE_WRITE | fan.FAN_CLOSE_NOWRITE


class OpenWatcher:
    """Watch the container whose init is ``pid`` from now until ``finish()``.

    OSError from the constructor: fanotify is unavailable (no CONFIG_FANOTIFY, no CAP_SYS_ADMIN) or
    the container is gone; nothing is left behind.
    """

    def __init__(self, pid: int) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()
        self._directories: dict[bytes, str] = {}
        self.unnamed = 0  # writes whose file the kernel could not open for us: path unknown
        self.overflowed = False
        self.failure: str | None = None  # why the reader stopped before finish(), if it did
        self._devices: fan.Group | None = None
        self._writes: fan.Group | None = None
        self._dev_fd = -1
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self._thread: threading.Thread | None = None
        root = f"/proc/{pid}/root"
        try:
            self._devices = fan.Group(fan.FAN_REPORT_TID | fan.FAN_REPORT_DFID_NAME, os.O_RDONLY)
            self._devices.mark_mount(f"{root}/dev", _DEVICE_EVENTS)
            self._dev_fd = os.open(f"{root}/dev", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._dev_prefix = _Prefix(_fd_path(self._dev_fd), "/dev")
            self._writes = _write_group()
            self._prefixes: list[_Prefix] = []
            if os.path.isdir(f"{root}/sys"):
                self._writes.mark_mount(f"{root}/sys", fan.FAN_CLOSE_WRITE)
                self._prefixes.append(_Prefix(_resolved(f"{root}/sys"), "/sys"))
            if os.path.isdir(f"{root}/proc/sys"):
                _in_namespaces_of(pid, lambda: self._mark_sysctl_directories(f"{root}/proc/sys"))
                self._prefixes.append(_Prefix(_resolved(f"{root}/proc/sys"), "/proc/sys"))
        except BaseException:
            self._close_fds()
            raise
        self._thread = threading.Thread(target=self._run, name="leastcap-openwatch", daemon=True)
        self._thread.start()

    def _mark_sysctl_directories(self, top: str) -> None:
        marked = 0
        for directory, _, _ in os.walk(top, followlinks=False):
            if marked == MAX_DIRECTORY_MARKS:
                break
            with contextlib.suppress(FileNotFoundError):  # an interface that just went away
                assert self._writes is not None
                self._writes.mark_directory(directory, fan.FAN_CLOSE_WRITE)
                marked += 1

    def _run(self) -> None:
        assert self._devices is not None and self._writes is not None
        # poll, not select: a recorder holds many descriptors (a perf event per CPU per tracepoint),
        # and select cannot wait on one numbered 1024 or above.
        poller = select.poll()
        for fd in (self._devices.fd, self._writes.fd, self._wake_r):
            poller.register(fd, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                self._read_all()
                if self._wake_r in ready:
                    return
        except OSError as exc:  # never seen; if it happens, the recording must say so
            with self._lock:
                self.failure = str(exc)

    def _read_all(self) -> None:
        """Empty both queues, stamping each batch with the time it was read."""
        assert self._devices is not None and self._writes is not None
        while True:
            now = time.monotonic()
            devices = self._devices.read()
            with self._lock:
                for event in self._unless_overflow(devices):
                    self._device_event(now, event)
            try:
                writes = self._writes.read()
            except OSError:  # no FAN_REPORT_FD_ERROR: the kernel failed the read for one event
                with self._lock:
                    self.unnamed += 1
                continue
            if not devices and not writes:
                return
            with self._lock:
                for event in self._unless_overflow(writes):
                    self._write_event(now, event)

    def _unless_overflow(self, events: list[fan.RawEvent]) -> list[fan.RawEvent]:
        """The events but the queue-overflow record, which says that events were dropped."""
        kept = [e for e in events if not e.mask & fan.FAN_Q_OVERFLOW]
        self.overflowed |= len(kept) != len(events)
        return kept

    def _device_event(self, ts: float, event: fan.RawEvent) -> None:
        path = self._device_path(event)
        if path is not None:
            self._tally.device(ts, event.tid, path, event.mask)

    def _device_path(self, event: fan.RawEvent) -> str | None:
        if event.dir_handle is None or event.name is None:
            return None
        directory = self._directories.get(event.dir_handle)
        if directory is None:
            try:
                fd = fan.open_by_handle(self._dev_fd, event.dir_handle)
            except OSError:  # the directory is gone already
                return None
            try:
                directory = self._dev_prefix.canonical(_fd_path(fd))
            finally:
                os.close(fd)
            if directory is None:
                return None
            self._directories[event.dir_handle] = directory
        return f"{directory.rstrip('/')}/{event.name}"

    def _write_event(self, ts: float, event: fan.RawEvent) -> None:
        if event.fd < 0:
            self.unnamed += 1
            return
        try:
            rendered = _fd_path(event.fd)
        finally:
            os.close(event.fd)
        for prefix in self._prefixes:
            path = prefix.canonical(rendered)
            if path is not None:
                self._tally.add(ts, event.tid, path, os.O_WRONLY)
                return

    def drain(self) -> list[PathOpen]:
        """The opens seen since the last drain (opens whose close is not read yet stay pending)."""
        with self._lock:
            return self._tally.drain()

    def finish(self) -> list[PathOpen]:
        """Stop watching; the opens not drained yet, devices still open included (their mode read
        from /proc/<tid>/fdinfo while the task still has them open, else counted as reads)."""
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._thread = None
        with self._lock:
            self._tally.settle(lambda tid, path: _open_mode(tid, path, self._dev_prefix))
        self._close_fds()
        return self.drain()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.finish()

    def _close_fds(self) -> None:
        for group in (self._devices, self._writes):
            if group is not None:
                group.close()
        for fd in (self._dev_fd, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._dev_fd = self._wake_r = self._wake_w = -1


# The namespaces whose sysctls /proc/sys shows as the task that looks them up sees them: net.*
# (per network namespace), the IPC ones and kernel.{host,domain}name.
_SYSCTL_NAMESPACES = (("net", 0x40000000), ("ipc", 0x08000000), ("uts", 0x04000000))
_libc = ctypes.CDLL(None, use_errno=True)


class Tally:
    """Opens counted per (task, path, access mode), and the /dev opens whose mode is not known yet.

    An open below /dev is reported when it happens, its mode when the file is closed (a close
    "after writing" means it was opened for writing), and the kernel folds an unread open and its
    close into one record: so an open waits for its close, oldest first, and a record with both
    is one open of that mode.
    """

    def __init__(self, comm_of: Callable[[int], str] | None = None) -> None:
        self._comm_of = comm_of or _comm
        self._opens: dict[tuple[int, str, int], PathOpen] = {}
        self._pending: defaultdict[tuple[int, str], list[float]] = defaultdict(list)

    def device(self, ts: float, tid: int, path: str, mask: int) -> None:
        pending = self._pending[(tid, path)]
        if mask & fan.FAN_OPEN:
            pending.append(ts)
        for bit, flags in ((fan.FAN_CLOSE_WRITE, os.O_WRONLY), (fan.FAN_CLOSE_NOWRITE, os.O_RDONLY)):
            if mask & bit:
                # A close whose open was folded into an earlier record counts from the close.
                self.add(pending.pop(0) if pending else ts, tid, path, flags)
        if not pending:
            del self._pending[(tid, path)]

    def add(self, ts: float, tid: int, path: str, flags: int) -> None:
        seen = self._opens.get((tid, path, flags))
        if seen is not None:
            seen.count += 1
        else:
            self._opens[(tid, path, flags)] = PathOpen(ts, tid, self._comm_of(tid), path, flags)

    def settle(self, mode_of: Callable[[int, str], int]) -> None:
        """Count the opens still waiting for their close, in the mode ``mode_of(tid, path)`` says."""
        for (tid, path), stamps in self._pending.items():
            for ts in stamps:
                self.add(ts, tid, path, mode_of(tid, path))
        self._pending.clear()

    def drain(self) -> list[PathOpen]:
        opens, self._opens = list(self._opens.values()), {}
        return opens


def _in_namespaces_of(pid: int, work: Callable[[], None]) -> None:
    """Run ``work`` in a thread that has joined ``pid``'s net, IPC and UTS namespaces.

    /proc/sys/net of the container is not the host's: each network namespace has its own directory
    inodes there, chosen by the namespace of the task that looks the path up. So the directories
    are marked from the container's namespaces. setns(2) moves only the calling thread (these three
    namespaces allow that), and the thread then ends: the rest of leastcap never changes namespace.
    """
    failure: list[BaseException] = []

    def enter_and_work() -> None:
        try:
            for kind, flag in _SYSCTL_NAMESPACES:
                fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if _libc.setns(fd, flag) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns into {kind} namespace of {pid}: {os.strerror(err)}")
                finally:
                    os.close(fd)
            work()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=enter_and_work, name="leastcap-openwatch-marks")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _write_group() -> fan.Group:
    flags = fan.FAN_REPORT_TID
    event_flags = os.O_WRONLY | os.O_LARGEFILE
    try:
        return fan.Group(flags | fan.FAN_REPORT_FD_ERROR, event_flags)
    except OSError:  # before 6.13: a failed fd fails the read instead (counted the same)
        return fan.Group(flags, event_flags)


class _Prefix:
    """How paths below one of the container's mounts read from here (``rendered``: the kernel names
    a path in another mount namespace from that namespace's root, e.g. ``/dev``), and what they are
    in the container (``canonical``)."""

    def __init__(self, rendered: str, container: str) -> None:
        self.rendered = rendered.rstrip("/") or "/"
        self.container = container

    def canonical(self, path: str) -> str | None:
        if path == self.rendered:
            return self.container
        head = self.rendered if self.rendered != "/" else ""
        if path.startswith(head + "/"):
            return self.container + path[len(head) :]
        return None


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def _resolved(path: str) -> str:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        return _fd_path(fd)
    finally:
        os.close(fd)


def _comm(tid: int) -> str:
    try:
        return Path(f"/proc/{tid}/comm").read_text().rstrip("\n")
    except OSError:
        return ""


def _open_mode(tid: int, path: str, prefix: _Prefix) -> int:
    """The access mode of ``tid``'s open descriptor of ``path`` (O_RDONLY when none is found)."""
    fds = f"/proc/{tid}/fd"
    with contextlib.suppress(OSError):
        for fd in os.listdir(fds):
            with contextlib.suppress(OSError):
                if prefix.canonical(os.readlink(f"{fds}/{fd}")) != path:
                    continue
                for line in Path(f"/proc/{tid}/fdinfo/{fd}").read_text().splitlines():
                    if line.startswith("flags:"):
                        return int(line.split()[1], 8) & 3
    return os.O_RDONLY
