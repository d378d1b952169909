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

from leastcap.capabilities import CAPABILITY_NUMBERS
from leastcap.profile.bpf import calibration as cal
from leastcap.profile.bpf import following
from leastcap.profile.bpf import programs as pg
from leastcap.profile.bpf import sys as bpf
from leastcap.profile.bpf.btf import BtfError, function_id
from leastcap.profile.classify import FALLBACK_TO_SYS_ADMIN, PROBE_FRAMES, SYS_ADMIN_FIRST
from leastcap.profile.events import CapCheck, PathOpen
from leastcap.profile.rawtrace import Symbols, kernel_symbols, read_format

TRACKED_MAX = 1 << 16
CAPS_MAX = 1 << 16
OPENS_MAX = 1 << 14
WRAPPERS_MAX = 1 << 10
VM_PROBE_FUNCTION = "security_vm_enough_memory_mm"
OPEN_FUNCTION = "do_sys_openat2"  # (dfd, const char __user *filename, struct open_how *how)
# The open syscalls: (event, filename field, flags field or None, openat2's `how` field or None).
OPEN_EVENTS = (
    ("syscalls/sys_enter_open", "filename", "flags", None),
    ("syscalls/sys_enter_openat", "filename", "flags", None),
    ("syscalls/sys_enter_openat2", "filename", None, "how"),
    ("syscalls/sys_enter_creat", "pathname", None, None),
)


# A site with one of these frames or capabilities is always walked: its classification may depend on
# frames below the two the fingerprint reads (a no-audit caller, an either-of pair's half).
NEVER_CACHED_FRAMES = PROBE_FRAMES | frozenset(SYS_ADMIN_FIRST)
NEVER_CACHED_CAPS = frozenset(
    CAPABILITY_NUMBERS[name] for name in {*FALLBACK_TO_SYS_ADMIN, "CAP_SYS_ADMIN", *SYS_ADMIN_FIRST.values()}
)
# x86-64 syscall numbers of the calibration's two checks (mmap(2) and setuid(2)).
CALIBRATION_SYSCALLS = {"mmap": 9, "setuid": 105}


def _fingerprint_place(
    caller: int,
    capable: tuple[int, int],
    capable_words: list[int],
    walked: list[int],
    regs: list[int],
    machine: str,
) -> pg.Fingerprint | None:
    """The Fingerprint the calibration's SETUID check shows, or None (not x86-64, or no match)."""
    if machine != "x86_64" or len(walked) < 3 or walked[1] != capable_words[caller]:
        return None
    wrapper = next((i for i in range(caller + 1, len(capable_words)) if capable_words[i] == walked[2]), None)
    if wrapper is None:
        return None
    candidates = len(cal.REGS_CANDIDATES)
    for index, (thread_size, from_top) in enumerate(cal.REGS_CANDIDATES):
        if (regs[index], regs[candidates + index]) == (CALIBRATION_SYSCALLS["mmap"], CALIBRATION_SYSCALLS["setuid"]):
            return pg.Fingerprint(8 * wrapper, capable[0], capable[1], thread_size, from_top)
    return None


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
        self,
        tracefs: Path,
        symbols: Symbols | None = None,
        *,
        opens: bool = True,
        mark_vm_probe: bool = True,
        fingerprints: bool = True,
    ) -> None:
        """``mark_vm_probe``: recognise the vm probe from its caller's return address (calibrated
        here) instead of a stack walk; ``fingerprints``: also take other checks' stacks from the
        verified cache of walked stacks (needs ``mark_vm_probe``); ``opens``: count opens of /dev,
        /proc/sys and /sys."""
        if sys.byteorder != "little":
            raise BpfUnavailableError("the BPF recorder is written for little-endian machines")
        self._fds: list[int] = []
        self._open_fds: list[int] = []  # the open hooks' programs and perf events (stop_opens)
        self._lock = threading.Lock()
        self._symbols = symbols
        self._stacks: dict[bytes, tuple[str, ...]] = {}
        self._reviewed: set[bytes] = set()  # sites whose cached stack was approved or refused
        self.lost = 0
        self.vm_probe: pg.CallerSlot | None = None
        self.fingerprint: pg.Fingerprint | None = None
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
                calibration=self._fd(bpf.map_create(bpf.MAP_ARRAY, 4, cal.CALIBRATION_BYTES, cal.CALIBRATION_SLOTS)),
                sites=self._fd(
                    bpf.map_create(bpf.MAP_HASH, 8, pg.SITE_VALUE.size, pg.SITES_MAX, bpf.MAP_F_NO_PREALLOC)
                ),
                wrappers=self._fd(bpf.map_create(bpf.MAP_HASH, 8, 8, WRAPPERS_MAX, bpf.MAP_F_NO_PREALLOC)),
                approved=self._fd(bpf.map_create(bpf.MAP_HASH, 8, 8, pg.SITES_MAX, bpf.MAP_F_NO_PREALLOC)),
            )
            cap_id, cap = read_format(events / "capability/cap_capable/format")
            fork_id, fork = read_format(events / "sched/sched_process_fork/format")
            exec_id, exe = read_format(events / "sched/sched_process_exec/format")
            exit_id, ext = read_format(events / "sched/sched_process_exit/format")
            # Followers first, so no task is missed between attaching the check counter and them.
            self._attach(
                fork_id, following.fork_program(self.maps, fork["parent_pid"].offset, fork["child_pid"].offset)
            )
            self._attach(exec_id, following.exec_program(self.maps, exe["pid"].offset, exe["old_pid"].offset))
            self._attach(exit_id, following.exit_program(self.maps, ext["pid"].offset))
            rename = events / "task/task_rename/format"
            if rename.exists():
                rename_id, ren = read_format(rename)
                if "pid" in ren:
                    self._attach(rename_id, following.rename_program(self.maps, ren["pid"].offset))
            if mark_vm_probe:
                self.vm_probe, self.fingerprint = self._calibrate(cap_id, cap["cap"].offset)
                if not fingerprints:
                    self.fingerprint = None
            code = pg.capability_program(
                self.maps, cap["cap"].offset, cap["ret"].offset, self.vm_probe, self.fingerprint
            )
            try:
                self._attach(cap_id, code)
            except bpf.BpfError:
                if self.fingerprint is None:
                    raise
                # A verifier that refuses the larger, fingerprinting program: walk those checks.
                self.fingerprint = None
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

    def _calibrate(self, cap_id: int, cap_offset: int) -> tuple[pg.CallerSlot | None, pg.Fingerprint | None]:
        """Find where the return address into cap_capable's caller lies above the program's frame,
        and where a check's fingerprint can be read (``pg.Fingerprint``).

        A calibration program records this thread's own checks: a private writable mmap
        (security_vm_enough_memory_mm's SYS_ADMIN probe) and setuid(0) (CAP_SETUID through
        security_capable). The caller slot is the word that is inside the first function in one copy
        of the stack and inside the second in the other; the wrapper's slot is where the SETUID
        check's walked third frame lies; the saved registers are where both syscall numbers are.
        (None, None) when this process cannot make both checks or nothing matches: every check is
        then walked.
        """
        symbols = self._symbols or kernel_symbols()
        vm, capable = symbols.span(VM_PROBE_FUNCTION), symbols.span("security_capable")
        if vm is None or capable is None or os.geteuid() != 0:
            return None, None
        code = cal.calibration_program(self.maps, cap_offset, threading.get_native_id())
        try:
            fds = [bpf.prog_load(code)]
        except bpf.BpfError:
            # A verifier that refuses it (it keeps its frame pointer as a number, a "pointer leak"
            # allowed with CAP_PERFMON, which loading any tracepoint program needs too): every
            # check is walked, rather than the BPF recorder given up.
            return None, None
        try:
            fds.append(bpf.attach_tracepoint(cap_id, fds[0]))
            with mmap.mmap(-1, 1 << 16, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as area:
                area[0] = 1
            os.setuid(0)
        finally:
            for fd in reversed(fds):
                os.close(fd)
        slots = [
            bpf.map_lookup(self.maps.calibration, pg.TRACKED_KEY.pack(i), cal.CALIBRATION_BYTES)
            for i in range(cal.CALIBRATION_SLOTS)
        ]
        if any(raw is None for raw in slots):
            return None, None
        probe_words, capable_words, walked, regs = (
            [w for (w,) in struct.iter_unpack("<Q", raw or b"")] for raw in slots
        )
        caller = next(
            (
                index
                for index, (a, b) in enumerate(zip(probe_words, capable_words, strict=True))
                if vm[0] <= a < vm[1] and capable[0] <= b < capable[1]
            ),
            None,
        )
        if caller is None:
            return None, None
        slot = pg.CallerSlot(8 * caller, vm[0], vm[1])
        return slot, _fingerprint_place(caller, capable, capable_words, walked, regs, os.uname().machine)

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
            self._review_sites()
            return Drained(checks, opens)

    def review_sites(self) -> None:
        """Approve new sites now (drain() does it too); cheap enough to call several times a second."""
        with self._lock:
            self._review_sites()

    def _review_sites(self) -> None:
        """Approve the cached stacks the capability program may hand out without a walk: those whose
        classification cannot depend on frames the fingerprint does not see -- no no-audit frame, no
        either-of frame, and no capability that can be a fallback pair's half."""
        if self.fingerprint is None:
            return
        key: bytes | None = None
        while (key := bpf.map_next_key(self.maps.sites, key, 8)) is not None:
            if key in self._reviewed:
                continue
            raw = bpf.map_lookup(self.maps.sites, key, pg.SITE_VALUE.size)
            if raw is None:
                continue
            _hash, _seen, ambiguous, cap, _pad, size, *_ = pg.SITE_VALUE.unpack(raw)
            if ambiguous:
                self._reviewed.add(key)
                continue
            frames = self._frames(raw[40:], size)
            self._reviewed.add(key)
            if cap in NEVER_CACHED_CAPS or not frames or NEVER_CACHED_FRAMES.intersection(frames):
                continue
            with contextlib.suppress(OSError):
                bpf.map_update(self.maps.approved, key, pg.TRACKED_VALUE.pack(1))

    def _stat(self, index: int) -> int:
        raw = bpf.map_lookup(self.maps.stats, pg.TRACKED_KEY.pack(index), 8)
        return 0 if raw is None else int(pg.TRACKED_VALUE.unpack(raw)[0])

    def _lost(self) -> int:
        return sum(self._stat(index) for index in range(pg.LOST_STATS))

    @property
    def cached(self) -> int:
        """How many records took their stack from the sites cache instead of a walk (so far)."""
        return self._stat(pg.STAT_CACHED)

    def ambiguous_sites(self) -> int:
        """Fingerprints that showed two different stacks (each is walked on every check since)."""
        total, key = 0, None
        while True:
            key = bpf.map_next_key(self.maps.sites, key, 8)
            if key is None:
                return total
            raw = bpf.map_lookup(self.maps.sites, key, pg.SITE_VALUE.size)
            if raw is not None and pg.SITE_VALUE.unpack(raw)[2]:
                total += 1

    def close(self) -> None:
        """Detach and free everything (perf events first, so no program runs on a freed map)."""
        self.stop_opens()
        fds, self._fds = self._fds, []
        for fd in reversed(fds):
            with contextlib.suppress(OSError):
                os.close(fd)
