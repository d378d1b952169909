"""One traced run of a container: start (or attach), watch for the duration, collect the checks.

The in-kernel pid filter (``set_event_pid`` with ``event-fork``) is seeded with containerd's tasks,
so only descendants of containerd (shims, runc, containers) are recorded at all; the process tree
(``proctree``) then keeps this container's service. Its roots are found in the trace itself, because
a short-lived container may be gone (``State.Pid`` 0) before ``docker inspect`` could tell its pid:
``cgroup_attach_task`` events whose cgroup path names the container id are runc moving its init
process (for the container, and for each ``docker exec``) into the container -- race-free, in-kernel.
As a fallback the containerd shim is recognised by its command line (``-id <container id>``), read
from /proc when the trace shows its exec.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import docker

from leastcap.profile import docker as dk
from leastcap.profile.bpf.recorder import BpfRecorder, BpfUnavailableError
from leastcap.profile.events import CapCheck, CgroupAttach, Event, Exec, PathOpen, TraceParser
from leastcap.profile.helpers import HelperFile, read_helpers
from leastcap.profile.openwatch import OpenWatcher
from leastcap.profile.proctree import ProcessTree, State
from leastcap.profile.rawtrace import RawReader, raw_supported
from leastcap.profile.touched import read_sysctls, sysctl_names
from leastcap.profile.tracefs import Instance, PipeReader, TracingUnavailableError, tracefs_root
from leastcap.profile.watch import EarlyEnd, Probe, watch

Reader = PipeReader | RawReader


def open_reader(instance: Instance, collector: Collector, source: str, raw: bool = True) -> Reader:
    """The binary reader where it works (far cheaper, see rawtrace), else trace_pipe text.

    The kprobe fallback is always read as text (its events have kernel-made formats per group).
    Call before ``instance.start()``.
    """
    if raw and source == "tracepoint" and raw_supported(instance):
        return RawReader(instance, collector.sink_events)
    return PipeReader(instance, collector.sink)


def lost_events(instance: Instance, reader: Reader | None) -> int:
    """Events tracefs lost: per-CPU overrun + dropped; at least one if a page said events were missed."""
    lost = instance.stats().lost
    if isinstance(reader, RawReader) and reader.missed_pages and not lost:
        lost = reader.missed_pages
    return lost


class Collector:
    """Parses trace lines (on the reader thread) and keeps the service's checks.

    ``deferred``: keep everything until ``flush()``, then process it in time order. The BPF recorder
    hands over its checks in batches, behind the instance's process events; the process tree must see
    both in the order they happened.
    """

    def __init__(self, container_id: str | None = None, deferred: bool = False) -> None:
        self._deferred = deferred
        self._held: list[Event] = []
        self._lock = threading.Lock()
        self._parser = TraceParser()
        self._tree = ProcessTree()
        self._buffer: list[Event] = []  # events before the root is known, replayed once it is
        self._rooted = False
        self._container_id = container_id
        self.checks: list[CapCheck] = []
        self.opens: list[PathOpen] = []
        self.execs: list[Exec] = []  # the service's execs (for its setuid/file-capability helpers)
        self.lines = 0
        self.events = 0

    @property
    def rooted(self) -> bool:
        return self._rooted

    @property
    def unparsed(self) -> int:
        return self._parser.unparsed

    def set_roots(self, roots: dict[int, State], running: bool = False) -> None:
        """Start the tree at these tasks. ``running``: they are alive now (attach mode) and are
        named from /proc: the raw trace carries no names, and by the time it is decoded a task
        may be gone."""
        with self._lock:
            for pid, state in roots.items():
                self._tree.add_root(pid, state)
                if running:
                    with contextlib.suppress(OSError):
                        self._tree.set_name(pid, Path(f"/proc/{pid}/comm").read_text().rstrip("\n"))
            self._rooted = True
            buffered, self._buffer = self._buffer, []
            self._consume(buffered)

    def _consume(self, events: list[Event]) -> None:
        for event in events:
            # runc init of the container or of a `docker exec`: its next exec is the service.
            if (
                isinstance(event, CgroupAttach)
                and self._is_our_cgroup(event)
                and self._tree.state(event.pid) is not State.SERVICE
            ):
                self._tree.add_root(event.pid, State.RUNC_INIT)
            kept = self._tree.feed(event)
            if isinstance(event, Exec) and self._tree.state(event.pid) is State.SERVICE:
                self.execs.append(event)
            if isinstance(kept, CapCheck):
                self.checks.append(kept)
            elif kept is not None:
                self.opens.append(kept)

    def sink(self, lines: list[str]) -> None:
        """Trace_pipe text (``PipeReader``)."""
        with self._lock:
            self.lines += len(lines)
            self._take(list(self._parser.feed(lines)))

    def sink_events(self, events: list[Event]) -> None:
        """Events already decoded (``RawReader``, ``BpfRecorder``)."""
        with self._lock:
            self._take(events)

    def _take(self, events: list[Event]) -> None:
        if self._deferred:
            self._held.extend(events)
        else:
            self._sink_events(events)

    def flush(self) -> None:
        """Process the held events, oldest first (a stable sort: equal times keep arrival order)."""
        with self._lock:
            held, self._held = self._held, []
            held.sort(key=lambda e: e.ts)
            self._sink_events(held)

    def _sink_events(self, events: list[Event]) -> None:
        self.events += len(events)
        if not self._rooted:
            for event in events:
                if isinstance(event, CgroupAttach) and self._is_our_cgroup(event):
                    self._tree.add_root(event.pid, State.RUNC_INIT)
                    self._rooted = True
                elif isinstance(event, Exec) and self._is_our_shim(event):
                    self._tree.add_root(event.pid)
                    self._rooted = True
            if not self._rooted:
                self._buffer.extend(events)
                return
            events = [*self._buffer, *events]
            self._buffer = []
        self._consume(events)

    def _is_our_cgroup(self, event: CgroupAttach) -> bool:
        return self._container_id is not None and self._container_id in event.path

    def _is_our_shim(self, event: Exec) -> bool:
        if self._container_id is None:
            return False
        if not os.path.basename(event.filename).startswith("containerd-shim"):
            return False
        return self._container_id in dk.read_cmdline(event.pid)


def all_tasks() -> list[int]:
    """Every task id on the machine (an unfiltered recording follows them all)."""
    tasks: list[int] = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            tasks += dk.process_tasks(int(proc.name))
    return tasks


# How long an unprivileged recording watches the open syscalls by default (see Session).
DEFAULT_OPEN_WINDOW = 30.0

# What the open syscalls' events add to fanotify's (openwatch), said in the notes that tell when they
# were not watched.
_UNSEEN_FAILURES = (
    "only opens that succeeded were seen (fanotify), not a device node missing from the container"
    " nor a write refused by its read-only /proc/sys"
)


class Session:
    """The recording side of one traced run: a private tracefs instance for the process events and
    a counter of capability checks -- the BPF recorder where it loads (cheap; it also sees the open
    syscalls of /dev, /proc/sys and /sys), else the instance's own ``cap_capable`` events with a
    stack each -- and, once the container is known (``watch_container``), fanotify on its /dev,
    /proc/sys and /sys for the rest of the recording.

    ``pids``: tasks to follow (with everything they start); None follows everything (no filter).
    Use as a context manager; ``start()``, ``tick()`` now and then, ``stop()``.
    """

    BPF_DRAIN_SECONDS = 1.0
    # New call sites are reviewed this often (at most), so that their stacks are taken from the BPF
    # recorder's cache instead of walked soon after they first show up (bpf/recorder.py,
    # _review_sites; a review is a few syscalls per site).
    BPF_REVIEW_SECONDS = 0.1

    def __init__(
        self,
        collector: Collector,
        source: str,
        pids: list[int] | None,
        *,
        recorder: str = "auto",
        buffer_kb: int = 8192,
        raw: bool = True,
        open_window: float | Literal["auto"] | None = "auto",
        privileged: bool = False,
    ) -> None:
        """``open_window``: seconds from ``start()`` during which the open syscalls are watched (None:
        the whole recording; 0: not at all). Their tracepoints put every syscall of every task on the
        kernel's slow path (~70 ns each here): a syscall-bound service runs ~15% slower while they
        are on. fanotify (``watch_container``) costs nothing of the sort but sees only opens that
        succeed, and a privileged container (``privileged``) has every device and a writable
        /proc/sys and /sys, so there that is all that matters. "auto": a privileged recording
        watches the syscalls only until fanotify watches the container (its start-up); an
        unprivileged one for DEFAULT_OPEN_WINDOW seconds, when services open their devices and
        write their sysctls."""
        self.collector = collector
        self.reader: Reader | None = None
        self.bpf: BpfRecorder | None = None
        self.bpf_error: str | None = None
        self.watcher: OpenWatcher | None = None
        self.watch_error: str | None = None
        self.notes: list[str] = []  # how this recording fell short of the default, for the profile
        self.lost = 0
        self._stopped = False
        self._opens: list[PathOpen] = []  # every tracked task's, before the process tree filters them
        self._last_drain = self._last_review = 0.0
        self._started = 0.0
        self.privileged = privileged
        self._until_watched = open_window == "auto" and privileged
        self.open_window: float | None = (
            None if self._until_watched else DEFAULT_OPEN_WINDOW if open_window == "auto" else open_window
        )
        # When the open syscalls' hooks stopped watching (monotonic clock; start() if never hooked).
        self._hooks_off_at: float | None = None
        # The BPF recorder is loaded before the instance exists: both are ready once it does.
        if recorder != "ftrace":
            self._load_bpf(source, required=recorder == "bpf")
        try:
            self.instance = Instance(buffer_kb=buffer_kb)
        except BaseException:
            if self.bpf is not None:
                self.bpf.close()
            raise
        try:
            self._enable_events(source, pids, required=recorder == "bpf")
            self.reader = open_reader(self.instance, collector, source, raw=raw)
        except BaseException:
            self.close()
            raise

    def _load_bpf(self, source: str, *, required: bool) -> None:
        """Load the BPF recorder, or say why it cannot be in ``bpf_error`` (an error if ``required``)."""
        if source != "tracepoint":
            self.bpf_error = "the BPF recorder needs the capability:cap_capable tracepoint"
        else:
            try:
                self.bpf = BpfRecorder(tracefs_root(), opens=self.open_window != 0)
            except BpfUnavailableError as exc:
                self.bpf_error = str(exc).splitlines()[0]
        if self.bpf is None and required:
            raise TracingUnavailableError(f"--recorder bpf: {self.bpf_error}")

    def _enable_events(self, source: str, pids: list[int] | None, *, required: bool) -> None:
        """Turn on what the instance records: process events beside the BPF recorder (which tracks
        ``pids``), or the capability events themselves; only ``pids`` when given."""
        if self.bpf is not None and not raw_supported(self.instance):
            # Its times must merge with the instance's raw (mono clock) process events.
            self.bpf.close()
            self.bpf, self.bpf_error = None, "the BPF recorder needs kallsyms and the mono trace clock"
            if required:
                raise TracingUnavailableError(f"--recorder bpf: {self.bpf_error}")
        self.source = "bpf" if self.bpf is not None else source
        if self.bpf is not None:
            self.instance.enable_process_events()
            self.bpf.track(pids if pids is not None else all_tasks())
        else:
            self.instance.enable_capability_events(source)
        if pids is not None:
            self.instance.filter_pids(pids)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _hooked(self) -> bool:
        """The open syscalls' hooks were attached (whether or not they still are)."""
        return self.bpf is not None and self.bpf.opens_via is not None

    @property
    def opens_closed_at(self) -> float | None:
        """Seconds after ``start()`` when the open syscalls' hooks were detached (None: they were
        never attached, or are on still)."""
        if not self._hooked or self._hooks_off_at is None:
            return None
        return self._hooks_off_at - self._started

    def start(self) -> None:
        self.instance.start()
        self._started = self._last_drain = time.monotonic()
        if not self._hooked:
            self._hooks_off_at = self._started

    def watch_container(self, pid: int) -> None:
        """Watch the container whose init is ``pid`` with fanotify from now on (see openwatch). When
        fanotify is unavailable, say why and keep the open syscalls' window."""
        if self.watcher is not None or self._stopped:
            return
        try:
            self.watcher = OpenWatcher(pid)
        except OSError as exc:
            self.watch_error = str(exc)
            if self._until_watched:
                self._until_watched, self.open_window = False, DEFAULT_OPEN_WINDOW
            return
        if self._until_watched:
            self._stop_hooks()

    def _stop_hooks(self) -> None:
        if self.bpf is not None and self._hooks_off_at is None:
            self.bpf.stop_opens()
            self._hooks_off_at = time.monotonic()

    def tick(self) -> None:
        """Empty the BPF maps and fanotify's opens now and then, so that neither fills up on a long
        recording; close the open syscalls' window when its time is up."""
        now = time.monotonic()
        if self.open_window is not None and now >= self._started + self.open_window:
            self._stop_hooks()
        if now - self._last_drain >= self.BPF_DRAIN_SECONDS:
            self._drain()
        elif self.bpf is not None and now - self._last_review >= self.BPF_REVIEW_SECONDS:
            self.bpf.review_sites()
            self._last_review = now

    def _drain(self, final: bool = False) -> None:
        events: list[Event] = []
        if self.bpf is not None:
            drained = self.bpf.drain()
            events += drained.checks
            self._opens += drained.opens
            events += drained.opens
        if self.watcher is not None:
            seen = self.watcher.finish() if final else self.watcher.drain()
            # While the syscall hooks were on they saw these opens too.
            since = self._hooks_off_at
            kept = [o for o in seen if since is not None and o.ts >= since]
            self._opens += kept
            events += kept
        self.collector.sink_events(events)
        self._last_drain = time.monotonic()

    def opens_so_far(self) -> list[PathOpen]:
        """The opens seen until now (any followed task's, service or not): what to read back while
        the container still runs, e.g. the sysctls it wrote."""
        self._drain()
        return list(self._opens)

    def stop(self) -> None:
        """Stop tracing, read everything out, and hand it to the collector in time order."""
        self._stopped = True
        try:
            self.instance.stop()
            self._drain(final=True)
        finally:
            if self.reader is not None:
                self.reader.stop()
        self.lost = lost_events(self.instance, self.reader) + (self.bpf.lost if self.bpf is not None else 0)
        if self.watcher is not None:
            # A write whose file could not be named, or a queue overflow, is an open not recorded.
            self.lost += self.watcher.unnamed + int(self.watcher.overflowed)
            if self.watcher.failure is not None:
                self.lost += 1
                self.notes.append(f"fanotify stopped reading the container's opens early ({self.watcher.failure})")
        self.notes += self._opens_notes()
        self.collector.flush()

    def _opens_notes(self) -> list[str]:
        """What the recording could not see of the service's opens, if anything."""
        watched = self.watcher is not None
        fanotify = f"fanotify could not watch the container ({self.watch_error})" if self.watch_error else None
        if not self._hooked:
            if self.bpf is None:
                why = f"recorded with ftrace, not BPF ({self.bpf_error}): the open syscalls were not watched"
            elif self.open_window == 0:
                why = "the open syscalls were not watched (--open-window 0)"
            else:
                why = "this kernel has no open syscall events"
            if watched and self.privileged:
                # Nothing failed to open in a privileged container, but fanotify starts late.
                return [f"{why}: opens before fanotify watched the container (its first moments) were not seen"]
            if watched:
                return [f"{why}; {_UNSEEN_FAILURES}"]
            return [f"{why}{f', and {fanotify}' if fanotify else ''}: no devices or sysctls are proposed"]
        if self.opens_closed_at is None or self._until_watched:
            return []  # watched throughout, or until fanotify took over
        window = f"the open syscalls were watched for the first {self.open_window:g} s only (--open-window)"
        if watched:
            return [] if self.privileged else [f"{window}; after that {_UNSEEN_FAILURES}"]
        return [
            f"{window}{f' and {fanotify}' if fanotify else ''}: devices or sysctls first used later are not proposed"
        ]

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        if self.bpf is not None:
            self.bpf.close()
        if self.reader is not None and not self._stopped:
            with contextlib.suppress(RuntimeError):
                self.reader.stop()
        self.instance.close()


@dataclass
class RunResult:
    checks: list[CapCheck]
    duration: float
    exit_code: int | None  # None: still running at the end
    health: str | None
    probe_results: list[int] = field(default_factory=list)
    lost_events: int = 0
    rooted: bool = True
    container: str | None = None
    logs: str = ""
    opens: list[PathOpen] = field(default_factory=list)  # the service's opens below /dev, /proc/sys, /sys
    # Values of the sysctls the service wrote, read inside the container's namespaces at the end of
    # the run (absent when the container had already exited).
    sysctl_values: dict[str, str] = field(default_factory=dict)
    source: str = "tracepoint"  # what counted the checks: bpf, tracepoint or kprobe
    notes: list[str] = field(default_factory=list)  # how the recorder fell short (Session.notes)
    # time.monotonic() when watching began, just after the container was started (the checks' clock):
    # first_probe_ok and an EarlyEnd's warm-up count from here.
    started: float = 0.0
    first_probe_ok: float | None = None  # seconds from the start to the first passing probe round
    ended_early: str | None = None  # a verification run that stopped before its duration, and why
    execs: list[Exec] = field(default_factory=list)  # the service's execs
    # The setuid-root and file-capability binaries among them, read from the container (recording only).
    helper_files: dict[str, HelperFile] = field(default_factory=dict)

    @property
    def probe_ok(self) -> bool | None:
        if not self.probe_results:
            return None
        return self.probe_results[-1] == 0


def record_compose_run(
    target: dk.ComposeTarget,
    setting: dk.CapabilitySetting,
    binary: str,
    *,
    duration: float,
    probes: Sequence[Probe] = (),
    probe_interval: float = 1.0,
    early: EarlyEnd | None = None,
    source: str = "tracepoint",
    kernel_filter: bool = True,
    recorder: str = "auto",
    open_window: float | Literal["auto"] | None = "auto",
    watch_opens: bool = True,
    inspect_helpers: bool = False,
    stop_timeout: int = 1,
    on_elapsed: Callable[[float], None] | None = None,
) -> RunResult:
    """Start a temporary copy of the service with ``setting``, trace it, and clean everything up.
    ``watch_opens``: watch the container's opens with fanotify too (see Session).
    ``inspect_helpers``: read the service's exec'd files back from the container (helpers.py).
    ``stop_timeout``: seconds between SIGTERM and SIGKILL when the copy is removed (``compose down
    -t``); a PID 1 without a SIGTERM handler ignores it and always takes them all.
    ``on_elapsed``: hears the seconds the run has been watched, about ten times a second."""
    client = docker.from_env()
    run = dk.ComposeRun(target, setting, binary)
    try:
        container_id = run.create()
        collector = Collector(container_id, deferred=True)
        # No containerd found: nothing to seed the filter with, so everything is followed.
        pids = (dk.containerd_tasks() or None) if kernel_filter else None
        with Session(
            collector,
            source,
            pids,
            recorder=recorder,
            open_window=open_window,
            privileged=setting.privileged or setting.like_privileged,
        ) as session:
            shim: int | None = None
            sysctl_values: dict[str, str] = {}
            try:
                session.start()
                run.start()
                # Belt and braces: if the shim's exec was missed, State.Pid's parent is the shim
                # (read while the container's processes still exist; used once the trace is read).
                pid = int(client.api.inspect_container(container_id)["State"].get("Pid") or 0)
                if pid and watch_opens:
                    session.watch_container(pid)
                watching = time.monotonic()

                def tick() -> None:
                    session.tick()
                    if on_elapsed is not None:
                        on_elapsed(time.monotonic() - watching)

                watched = watch(client, container_id, duration, probes, probe_interval, on_tick=tick, early=early)
                shim = dk.parent_pid(pid) if pid else None
                if watched.exit_code is None and pid:
                    sysctl_values = read_sysctls(pid, sysctl_names(session.opens_so_far()))
            finally:
                session.stop()
            # Whether the trace named the container's processes is known once it is drained.
            if not collector.rooted and shim:
                collector.set_roots({shim: State.SETUP})
            lost = session.lost
            source_used = session.source
            notes = session.notes
        logs = client.api.logs(container_id).decode(errors="replace")
        # The container still exists (exited or running): its filesystem says what each exec'd file is.
        helper_files = read_helpers(client, container_id, collector.execs) if inspect_helpers else {}
        return RunResult(
            checks=collector.checks,
            duration=watched.elapsed,
            exit_code=watched.exit_code,
            health=watched.health,
            probe_results=watched.probe_results,
            lost_events=lost,
            rooted=collector.rooted,
            logs=logs,
            opens=collector.opens,
            sysctl_values=sysctl_values,
            source=source_used,
            notes=notes,
            started=watched.started,
            first_probe_ok=watched.first_probe_ok,
            ended_early=watched.ended_early,
            execs=collector.execs,
            helper_files=helper_files,
        )
    finally:
        run.close(stop_timeout)
