"""Count the service's capability checks (and its opens of /dev, /proc/sys, /sys) in the kernel.

``BpfRecorder`` loads the programs of ``programs`` on the ``capability:cap_capable``,
``sched_process_{fork,exec,exit}`` and ``syscalls:sys_enter_open*`` tracepoints and reads their maps
out as ``CapCheck`` and ``PathOpen`` events (``count`` = repeats). The process tree, names and
roots still come from the private tracefs instance (sched, task_rename and cgroup_attach_task
events, pid-filtered): the events here carry CLOCK_MONOTONIC times, as the instance's ``mono``
trace clock does, so the two streams merge by time.

Why it exists: with a stacktrace trigger, ftrace walked and stored a full kernel stack for every
check and wrote it to the ring buffer. Here a check costs one walk and a hash lookup (the vm probe,
most checks, not even the walk), and a stack is kept once per kind of check.

Everything is file descriptors: closing them (``close()``, or the process dying however it dies)
detaches the programs and frees the maps; nothing is left in the kernel and no tracing state is
changed. Two recorders never see each other's tasks (each has its own ``tracked`` map).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from leastcap.profile.bpf import programs as pg
from leastcap.profile.bpf import sys as bpf
from leastcap.profile.bpf.btf import BtfError, function_id
from leastcap.profile.events import CapCheck, PathOpen
from leastcap.profile.rawtrace import Symbols, kernel_symbols, read_format

TRACKED_MAX = 1 << 16
CAPS_MAX = 1 << 16
OPENS_MAX = 1 << 14
VM_PROBE_FUNCTION = "security_vm_enough_memory_mm"
OPEN_FUNCTION = "do_sys_openat2"  # (dfd, const char __user *filename, struct open_how *how)
# The open syscalls: (event, filename field, flags field or None, openat2's `how` field or None).
OPEN_EVENTS = (
    ("syscalls/sys_enter_open", "filename", "flags", None),
    ("syscalls/sys_enter_openat", "filename", "flags", None),
    ("syscalls/sys_enter_openat2", "filename", None, "how"),
    ("syscalls/sys_enter_creat", "pathname", None, None),
)


class BpfUnavailableError(RuntimeError):
    """BPF recording cannot be used here; the caller records with ftrace stack traces instead."""


@dataclass(frozen=True, slots=True)
class Drained:
    checks: list[CapCheck]
    opens: list[PathOpen]


def _comm(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


class BpfRecorder:
    """Use as a context manager: ``track()`` the roots, then ``drain()`` as often as wanted."""

    def __init__(
        self, tracefs: Path, symbols: Symbols | None = None, *, opens: bool = True, mark_vm_probe: bool = True
    ) -> None:
        """``mark_vm_probe``: recognise the vm probe from its caller's return address (calibrated
        here) instead of a stack walk; ``opens``: count opens of /dev, /proc/sys and /sys."""
        if sys.byteorder != "little":
            raise BpfUnavailableError("the BPF recorder is written for little-endian machines")
        self._fds: list[int] = []
        self._open_fds: list[int] = []  # the open hooks' programs and perf events (stop_opens)
        self._lock = threading.Lock()
        self._symbols = symbols
        self._stacks: dict[bytes, tuple[str, ...]] = {}
        self.lost = 0
        self.vm_probe: pg.CallerSlot | None = None
        self.opens_via: str | None = None  # "fentry", "syscalls" (slower: every syscall pays), or None
        events = tracefs / "events"
        try:
            self.maps = pg.Maps(
                tracked=self._fd(bpf.map_create(bpf.MAP_HASH, 4, 8, TRACKED_MAX, bpf.MAP_F_NO_PREALLOC)),
                caps=self._fd(
                    bpf.map_create(bpf.MAP_HASH, pg.CAP_KEY.size, pg.CAP_VALUE.size, CAPS_MAX, bpf.MAP_F_NO_PREALLOC)
                ),
                opens=self._fd(
                    bpf.map_create(bpf.MAP_HASH, pg.OPEN_KEY.size, pg.OPEN_VALUE.size, OPENS_MAX, bpf.MAP_F_NO_PREALLOC)
                ),
                stats=self._fd(bpf.map_create(bpf.MAP_ARRAY, 4, 8, pg.STATS)),
                scratch=self._fd(bpf.map_create(bpf.MAP_PERCPU_ARRAY, 4, pg.SCRATCH_BYTES, 1)),
                calibration=self._fd(
                    bpf.map_create(bpf.MAP_ARRAY, 4, pg.CALIBRATION_BYTES, pg.CALIBRATION_SLOTS)
                ),
            )
            cap_id, cap = read_format(events / "capability/cap_capable/format")
            fork_id, fork = read_format(events / "sched/sched_process_fork/format")
            exec_id, exe = read_format(events / "sched/sched_process_exec/format")
            exit_id, ext = read_format(events / "sched/sched_process_exit/format")
            # Followers first, so no task is missed between attaching the check counter and them.
            self._attach(fork_id, pg.fork_program(self.maps, fork["parent_pid"].offset, fork["child_pid"].offset))
            self._attach(exec_id, pg.exec_program(self.maps, exe["pid"].offset, exe["old_pid"].offset))
            self._attach(exit_id, pg.exit_program(self.maps, ext["pid"].offset))
            rename = events / "task/task_rename/format"
            if rename.exists():
                rename_id, ren = read_format(rename)
                if "pid" in ren:
                    self._attach(rename_id, pg.rename_program(self.maps, ren["pid"].offset))
            if mark_vm_probe:
                self.vm_probe = self._calibrate(cap_id, cap["cap"].offset)
            self._attach(
                cap_id, pg.capability_program(self.maps, cap["cap"].offset, cap["ret"].offset, self.vm_probe)
            )
            self.opens_via = self._attach_opens(events) if opens else None
        except (OSError, ValueError, KeyError) as exc:
            self.close()
            log = getattr(exc, "log", "")
            detail = f"{exc}" + (f"\n{log[-2000:]}" if log else "")
            raise BpfUnavailableError(f"cannot load the BPF recorder: {detail}") from None

    def _fd(self, fd: int) -> int:
        self._fds.append(fd)
        return fd

    def _attach(self, tracepoint_id: int, code: bytes, into: list[int] | None = None) -> None:
        fds = self._fds if into is None else into
        fds.append(bpf.prog_load(code))
        fds.append(bpf.attach_tracepoint(tracepoint_id, fds[-1]))

    def _attach_function(self, function: str, code: bytes, attach_type: int) -> None:
        self._open_fds.append(
            bpf.prog_load(
                code, prog_type=bpf.PROG_TYPE_TRACING, attach_type=attach_type, attach_btf_id=function_id(function)
            )
        )
        self._open_fds.append(bpf.attach_tracing(self._open_fds[-1]))

    def _calibrate(self, cap_id: int, cap_offset: int) -> pg.CallerSlot | None:
        """Find where the return address into cap_capable's caller lies above the program's frame.

        A calibration program copies the stack above its frame pointer on this thread's own checks:
        a private writable mmap (security_vm_enough_memory_mm's SYS_ADMIN probe) and setuid(0)
        (CAP_SETUID through security_capable). The slot is the word that is inside the first
        function in one copy and inside the second in the other. None (every check walks its stack)
        when this process cannot make both checks or no word matches.
        """
        symbols = self._symbols or kernel_symbols()
        vm, capable = symbols.span(VM_PROBE_FUNCTION), symbols.span("security_capable")
        if vm is None or capable is None or os.geteuid() != 0:
            return None
        code = pg.calibration_program(self.maps, cap_offset, threading.get_native_id())
        fds = [bpf.prog_load(code)]
        try:
            fds.append(bpf.attach_tracepoint(cap_id, fds[0]))
            with mmap.mmap(-1, 1 << 16, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as area:
                area[0] = 1
            os.setuid(0)
        finally:
            for fd in reversed(fds):
                os.close(fd)
        copies = [bpf.map_lookup(self.maps.calibration, pg.TRACKED_KEY.pack(i), pg.CALIBRATION_BYTES) for i in (0, 1)]
        if copies[0] is None or copies[1] is None:
            return None
        probe_words = [w for (w,) in struct.iter_unpack("<Q", copies[0])]
        capable_words = [w for (w,) in struct.iter_unpack("<Q", copies[1])]
        for index, (a, b) in enumerate(zip(probe_words, capable_words, strict=True)):
            if vm[0] <= a < vm[1] and capable[0] <= b < capable[1]:
                return pg.CallerSlot(8 * index, vm[0], vm[1])
        return None

    def _attach_opens(self, events: Path) -> str | None:
        """fentry on do_sys_openat2, which every open(2)-family call goes through; else the open
        syscalls' tracepoints -- which make every syscall of every task take the slow path while they
        are enabled; else None (a kernel without FTRACE_SYSCALLS)."""
        try:
            self._attach_function(
                OPEN_FUNCTION, pg.open_program(self.maps, 8, None, 16, how_in_kernel=True), bpf.TRACE_FENTRY
            )
            return "fentry"
        except (OSError, BtfError):
            pass
        attached = False
        for event, name, flags, how in OPEN_EVENTS:
            fmt = events / event / "format"
            if not fmt.exists():
                continue
            event_id, fields = read_format(fmt)
            code = pg.open_program(
                self.maps,
                fields[name].offset,
                fields[flags].offset if flags else None,
                fields[how].offset if how else None,
            )
            self._attach(event_id, code, self._open_fds)
            attached = True
        return "syscalls" if attached else None

    def stop_opens(self) -> None:
        """Detach the open hooks (the counted opens stay in their map until drained). With the
        syscall tracepoints gone, the other syscalls of every task are back on their fast path."""
        fds, self._open_fds = self._open_fds, []
        for fd in reversed(fds):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> BpfRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def track(self, tids: Iterable[int]) -> None:
        """Follow these tasks and everything they start from now on."""
        for tid in tids:
            with contextlib.suppress(OSError):
                bpf.map_update(self.maps.tracked, pg.TRACKED_KEY.pack(tid), pg.TRACKED_VALUE.pack(1))

    def _frames(self, raw: bytes, size: int) -> tuple[str, ...]:
        blob = raw[: max(0, min(size, len(raw)))]
        cached = self._stacks.get(blob)
        if cached is None:
            symbols = self._symbols or kernel_symbols()
            addrs = [a for (a,) in struct.iter_unpack("<Q", blob) if a]
            cached = self._stacks[blob] = tuple(symbols.name(a) for a in addrs)
        return cached

    def drain(self) -> Drained:
        """Everything counted since the last drain (elements are removed as they are read)."""
        with self._lock:
            checks: list[CapCheck] = []
            for key, value in bpf.map_lookup_and_delete_all(self.maps.caps, pg.CAP_KEY.size, pg.CAP_VALUE.size):
                tid, cap, ret, _pad, _gen, _site = pg.CAP_KEY.unpack(key)
                count, ts, comm, size, *_ = pg.CAP_VALUE.unpack(value)
                frames = self._frames(value[40:], size)
                checks.append(CapCheck(ts / 1e9, tid, _comm(comm), cap, ret, stack=list(frames), count=count))
            opens: list[PathOpen] = []
            for key, value in bpf.map_lookup_and_delete_all(self.maps.opens, pg.OPEN_KEY.size, pg.OPEN_VALUE.size):
                tid, flags, _gen, path = pg.OPEN_KEY.unpack(key)
                count, ts, comm = pg.OPEN_VALUE.unpack(value)
                opens.append(PathOpen(ts / 1e9, tid, _comm(comm), _comm(path), flags, count))
            self.lost = self._lost()
            return Drained(checks, opens)

    def _lost(self) -> int:
        total = 0
        for index in range(pg.STATS):
            raw = bpf.map_lookup(self.maps.stats, pg.TRACKED_KEY.pack(index), 8)
            if raw is not None:
                total += pg.TRACKED_VALUE.unpack(raw)[0]
        return total

    def close(self) -> None:
        """Detach and free everything (perf events first, so no program runs on a freed map)."""
        self.stop_opens()
        fds, self._fds = self._fds, []
        for fd in reversed(fds):
            with contextlib.suppress(OSError):
                os.close(fd)

