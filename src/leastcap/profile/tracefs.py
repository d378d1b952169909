"""A private tracefs instance: created for one recording, removed afterwards, nothing else touched.

Everything leastcap writes is inside ``instances/leastcap-<pid>-<random>``: its own ring buffer,
event enables, trigger, pid filter and options. The top-level tracing state (``tracing_on``,
``current_tracer``, the global buffer, other instances) is never written. Instances left behind by a
recorder that was SIGKILLed are removed by ``remove_stale_instances`` (their pid is dead).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TRACEFS_CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
CAP_EVENT = "capability/cap_capable"
SCHED_EVENTS = ("sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit")
# Optional events: exact process names across prctl(PR_SET_NAME); runc joining the container's cgroup.
OPTIONAL_EVENTS = ("task/task_rename", "cgroup/cgroup_attach_task")
KPROBE_GROUP_PREFIX = "leastcap"
INSTANCE_PREFIX = "leastcap-"
_INSTANCE_NAME = re.compile(r"^leastcap-(\d+)-[0-9a-f]+$")


class TracingUnavailableError(RuntimeError):
    """Why recording is impossible here, and what to do about it."""


def _mounted(root: Path) -> bool:
    try:
        return (root / "instances").is_dir()
    except OSError:  # e.g. PermissionError: tracefs is root's, mode 0700
        return False


def _mount(source: str, target: Path, fstype: str) -> str | None:
    """mount(2) with no options; None when done, else why not."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    if libc.mount(source.encode(), str(target).encode(), fstype.encode(), 0, None) == 0:
        return None
    return os.strerror(ctypes.get_errno())


def tracefs_root(log: Callable[[str], None] | None = None) -> Path:
    """Where tracefs is mounted. As root, when it is not, mount it as systemd does at boot
    (``/sys/kernel/tracing``, left mounted: other tracing tools expect it there); where that is
    impossible, mount debugfs, whose ``tracing`` directory is tracefs mounted on first use."""
    for root in TRACEFS_CANDIDATES:
        if _mounted(root):
            return root
    if os.geteuid() != 0:
        raise TracingUnavailableError(
            f"tracefs is not mounted, or not readable by uid {os.geteuid()} (no {TRACEFS_CANDIDATES[0]}/instances):"
            " run leastcap as root"
        )
    say = log or (lambda message: None)
    tracing, debug = TRACEFS_CANDIDATES[0], TRACEFS_CANDIDATES[1].parent
    failed = _mount("nodev", tracing, "tracefs")
    if failed is None and _mounted(tracing):
        say(f"mounted tracefs at {tracing} (it stays mounted, as systemd would mount it at boot)")
        return tracing
    why = [f"mount -t tracefs nodev {tracing}: {failed or 'no instances directory'}"]
    if not _mounted(TRACEFS_CANDIDATES[1]):
        failed_debug = _mount("nodev", debug, "debugfs")
        if failed_debug is not None:
            why.append(f"mount -t debugfs nodev {debug}: {failed_debug}")
        else:
            say(f"mounted debugfs at {debug} for its tracing directory (it stays mounted)")
    if _mounted(TRACEFS_CANDIDATES[1]):
        say(f"using tracefs at {TRACEFS_CANDIDATES[1]}")
        return TRACEFS_CANDIDATES[1]
    raise TracingUnavailableError(
        f"tracefs is not mounted and could not be ({'; '.join(why)}). Mount it with"
        f" `mount -t tracefs nodev {tracing}` (a kernel with CONFIG_TRACING)."
    )


def tracepoint_available(root: Path) -> bool:
    return (root / "events" / CAP_EVENT / "enable").exists()


def kprobes_available(root: Path) -> bool:
    return (root / "kprobe_events").exists()


def check_source(root: Path) -> str:
    """``"tracepoint"`` or ``"kprobe"``; raises with an explanation when neither can work."""
    if not os.access(root / "instances", os.W_OK):
        raise TracingUnavailableError(
            f"cannot write {root}/instances: run leastcap as root (or with CAP_SYS_ADMIN and write access to tracefs)"
        )
    if tracepoint_available(root):
        return "tracepoint"
    if kprobes_available(root):
        return "kprobe"
    raise TracingUnavailableError(
        "this kernel has neither the capability:cap_capable tracepoint (Linux 6.14+) nor kprobes "
        f"({root}/kprobe_events is missing). Use a kernel with CONFIG_KPROBE_EVENTS=y or Linux 6.14+."
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_instances(root: Path) -> list[str]:
    """Remove leastcap instances whose recorder process is gone (e.g. it was SIGKILLed)."""
    removed: list[str] = []
    for entry in sorted((root / "instances").iterdir()):
        m = _INSTANCE_NAME.match(entry.name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            _disable(entry)
            entry.rmdir()
            removed.append(entry.name)
    return removed


def _write(path: Path, text: str) -> None:
    # tracefs files want one write() per command; open without truncation semantics surprises.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _append(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _disable(instance: Path) -> None:
    with contextlib.suppress(OSError):
        _write(instance / "tracing_on", "0")
    with contextlib.suppress(OSError):
        _write(instance / "events" / "enable", "0")
    trigger = instance / "events" / CAP_EVENT / "trigger"
    with contextlib.suppress(OSError):
        if trigger.exists() and "stacktrace" in trigger.read_text():
            _append(trigger, "!stacktrace")
    with contextlib.suppress(OSError):
        _write(instance / "set_event_pid", "")


@dataclass(frozen=True, slots=True)
class BufferStats:
    overrun: int
    dropped: int
    entries: int

    @property
    def lost(self) -> int:
        return self.overrun + self.dropped


class Instance:
    """One private instance. Use as a context manager; ``close()`` is idempotent."""

    def __init__(self, root: Path | None = None, buffer_kb: int = 8192) -> None:
        self.root = root or tracefs_root()
        remove_stale_instances(self.root)
        self.name = f"{INSTANCE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.root / "instances" / self.name
        self.path.mkdir()
        self._closed = False
        self._kprobes_defined = False
        try:
            _write(self.path / "tracing_on", "0")
            _write(self.path / "buffer_size_kb", str(buffer_kb))
            # Wake the reader as soon as anything is there (the default waits for half a buffer).
            if (self.path / "buffer_percent").exists():
                _write(self.path / "buffer_percent", "0")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Instance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enable_capability_events(self, source: str) -> None:
        """Enable the capability checks with a kernel stack per check, plus the sched events."""
        events = [CAP_EVENT]
        if source == "kprobe":
            events = self._define_kprobes()
        # A trigger, not options/stacktrace: only the capability event pays for a stack walk.
        _write(self.path / "events" / events[0] / "trigger", "stacktrace")
        for event in events:
            _write(self.path / "events" / event / "enable", "1")
        self.enable_process_events()

    def enable_process_events(self) -> None:
        """Only the process events (fork/exec/exit, renames, cgroup moves): the BPF recorder counts the
        capability checks itself."""
        for event in SCHED_EVENTS:
            _write(self.path / "events" / event / "enable", "1")
        for event in OPTIONAL_EVENTS:
            if (self.path / "events" / event / "enable").exists():
                _write(self.path / "events" / event / "enable", "1")

    @property
    def kprobe_group(self) -> str:
        return self.name.replace("-", "_")

    def _define_kprobes(self) -> list[str]:
        """Kernels without the tracepoint: kprobes on cap_capable (its 4th argument is ``opts``).

        kprobe definitions are global (kprobe_events has no per-instance copy), so the group is named
        after this instance and removed in close(); they are enabled only inside the instance.
        """
        group = self.kprobe_group
        kprobe_events = self.root / "kprobe_events"
        _append(kprobe_events, f"p:{group}/leastcap_cap cap_capable cap=$arg3:s32 opts=$arg4:x32\n")
        self._kprobes_defined = True
        _append(kprobe_events, f"r:{group}/leastcap_ret cap_capable ret=$retval:s32\n")
        return [f"{group}/leastcap_cap", f"{group}/leastcap_ret"]

    def filter_pids(self, pids: Iterable[int], follow_forks: bool = True) -> None:
        """Keep only events of these tasks (and, with follow_forks, their future children), in-kernel."""
        _write(self.path / "options" / "event-fork", "1" if follow_forks else "0")
        text = " ".join(str(p) for p in pids)
        _write(self.path / "set_event_pid", text)

    def start(self) -> None:
        _write(self.path / "tracing_on", "1")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            _write(self.path / "tracing_on", "0")

    def stats(self) -> BufferStats:
        overrun = dropped = entries = 0
        for cpu in sorted((self.path / "per_cpu").glob("cpu*")):
            try:
                text = (cpu / "stats").read_text()
            except OSError:
                continue
            values = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in text.splitlines()))
            overrun += int(values.get("overrun", "0") or 0)
            dropped += int(values.get("dropped events", "0") or 0)
            entries += int(values.get("entries", "0") or 0)
        return BufferStats(overrun, dropped, entries)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _disable(self.path)
        if self._kprobes_defined:
            self._remove_kprobes()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # EBUSY while a reader still has trace_pipe open; it is closing.
                if exc.errno != errno.EBUSY:
                    raise
                time.sleep(0.1)
        self.path.rmdir()

    def _remove_kprobes(self) -> None:
        group = self.kprobe_group
        trigger = self.path / "events" / group / "leastcap_cap" / "trigger"
        with contextlib.suppress(OSError):
            _append(trigger, "!stacktrace")
        for name in ("leastcap_cap", "leastcap_ret"):
            with contextlib.suppress(OSError):
                _write(self.path / "events" / group / name / "enable", "0")
            with contextlib.suppress(OSError):
                _append(self.root / "kprobe_events", f"-:{group}/{name}\n")


class PipeReader:
    """Reads the instance's trace_pipe on a thread and hands complete lines to ``sink``."""

    def __init__(self, instance: Instance, sink: Callable[[list[str]], None]) -> None:
        self._path = instance.path / "trace_pipe"
        self._sink = sink
        self._stop = threading.Event()
        self._fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, name="leastcap-trace-pipe", daemon=True)
        self.error: BaseException | None = None
        self._thread.start()

    def _run(self) -> None:
        partial = b""
        try:
            while True:
                try:
                    chunk = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    if self._stop.is_set():
                        break
                    time.sleep(0.02)
                    continue
                if not chunk:
                    if self._stop.is_set():
                        break
                    time.sleep(0.02)
                    continue
                data = partial + chunk
                lines = data.split(b"\n")
                partial = lines.pop()
                self._sink([line.decode(errors="replace") for line in lines])
            if partial:
                self._sink([partial.decode(errors="replace")])
        except BaseException as exc:  # reported by stop(); a dead reader must not go unnoticed
            self.error = exc

    def stop(self) -> None:
        """Drain what is buffered, then stop. Call after tracing was stopped."""
        self._stop.set()
        self._thread.join(timeout=30)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        if self.error is not None:
            raise RuntimeError(f"reading {self._path} failed: {self.error}") from self.error
