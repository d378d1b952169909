"""Parse tracefs text output (``trace_pipe``) into typed events.

Two sources produce capability checks:

* the ``capability:cap_capable`` tracepoint (kernel 6.14+):
  ``comm-123 [001] ..... 536.817: cap_capable: cred 0000.., target_ns .., capable_ns .., cap 0, ret 0``
  followed (through a ``stacktrace`` trigger) by ``comm-123 [001] ..... 536.817: <stack trace>`` and
  `` => frame`` lines. It has no audit flag.
* the kprobe fallback (older kernels): an entry probe ``leastcap_cap`` with ``cap=`` and ``opts=`` and a
  return probe ``leastcap_ret`` with ``ret=``, paired per task. ``opts & 2`` is CAP_OPT_NOAUDIT.

Stack lines carry no pid, but their header does; a stack belongs to the last check of that task
that has none yet (on one CPU the trigger's stack entry directly follows its event, while
``trace_pipe`` may interleave other CPUs' lines between them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# "  <comm>-<pid> [cpu] <flags> <ts>: <event>: <rest>". comm may contain spaces and dashes,
# so the pid is the last "-digits" before the CPU field. Some kernels print a tgid column
# "(  123)" with options/record-tgid; it is accepted and ignored.
_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?"
    r"(?P<ts>\d+\.\d+):\s+(?P<event>[\w:<> ]+?):?\s(?P<rest>.*)$"
)
_STACK_HEADER = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[\d+\]\s+(?:\S+\s+)?\d+\.\d+:"
    r"\s+<stack trace>\s*$"
)
_FRAME = re.compile(r"^\s*=>\s+(?P<frame>\S+)")
_KV = re.compile(r"(\w+)=(\S*)")
_ATTACH = re.compile(r"dst_path=(?P<path>\S*) pid=(?P<pid>\d+) comm=")
_RENAME = re.compile(r"pid=(?P<pid>\d+) oldcomm=.* newcomm=(?P<comm>.*) oom_score_adj=")
_TP_CAP = re.compile(r"cap (?P<cap>-?\d+), ret (?P<ret>-?\d+)")

CAP_OPT_NOAUDIT = 0x2


@dataclass(slots=True)
class CapCheck:
    """One capability check. ``noaudit`` is known only from the kprobe source (None otherwise)."""

    ts: float
    pid: int
    comm: str
    cap: int
    ret: int | None
    noaudit: bool | None = None
    stack: list[str] = field(default_factory=list)
    # How many identical checks this one stands for: the BPF backend counts repeats of a check
    # (same task, capability, result and call site) in the kernel and reports the first one.
    count: int = 1

    @property
    def granted(self) -> bool:
        return self.ret == 0


@dataclass(frozen=True, slots=True)
class Fork:
    ts: float
    parent: int
    child: int
    child_comm: str


@dataclass(frozen=True, slots=True)
class Exec:
    ts: float
    pid: int
    old_pid: int
    filename: str
    comm: str


@dataclass(frozen=True, slots=True)
class Exit:
    ts: float
    pid: int


@dataclass(frozen=True, slots=True)
class Rename:
    """``task:task_rename``: prctl(PR_SET_NAME) or a write to /proc/PID/comm."""

    ts: float
    pid: int
    comm: str


@dataclass(frozen=True, slots=True)
class CgroupAttach:
    """``cgroup:cgroup_attach_task``: runc moving its init process into the container's cgroup."""

    ts: float
    pid: int
    path: str


@dataclass(slots=True)
class PathOpen:
    """An open(2)/openat(2) of a path below /dev, /proc/sys or /sys: from the BPF recorder's open
    syscall hooks, or from fanotify (openwatch).

    ``path``: from the hooks, the name the task passed (absolute; relative names are not resolved);
    from fanotify, the file's path in the container. ``flags`` are the open flags (fanotify: only
    the access mode), so ``flags & 3`` tells read-only from a write. ``count`` is how many identical
    opens by this task it stands for. These are what privileged mode may have provided: host
    devices, a writable /proc/sys and /sys.
    """

    ts: float
    pid: int
    comm: str
    path: str
    flags: int
    count: int = 1

    @property
    def writes(self) -> bool:
        return self.flags & 3 != 0


Event = CapCheck | Fork | Exec | Exit | Rename | CgroupAttach | PathOpen


_PROCESS_EVENTS = frozenset(
    {"sched_process_fork", "sched_process_exec", "sched_process_exit", "cgroup_attach_task", "task_rename"}
)


class TraceParser:
    """Incremental parser: feed lines, get events. Stacks are attached to their check in place.

    A check is yielded as soon as its line is read; its ``stack`` list is filled when the
    stack lines arrive (later in the same or the next feed). Consumers that need stacks look at
    them after the recording has been drained.
    """

    def __init__(self) -> None:
        self._awaiting_stack: dict[int, CapCheck] = {}
        self._stack_target: CapCheck | None = None
        self._pending_kprobe: dict[int, CapCheck] = {}
        self.unparsed = 0

    def feed(self, lines: Iterable[str]) -> Iterator[Event]:
        for line in lines:
            event = self._line(line)
            if event is not None:
                yield event

    def _line(self, line: str) -> Event | None:
        line = line.rstrip("\n")
        if self._stack_line(line):
            return None
        self._stack_target = None
        m = _LINE.match(line)
        if m is None:
            if line.strip() and not line.startswith("#"):
                self.unparsed += 1
            return None
        pid = int(m.group("pid"))
        ts = float(m.group("ts"))
        comm = m.group("comm").strip()
        event = m.group("event").strip()
        rest = m.group("rest")
        if event == "cap_capable" and rest.startswith("cred"):
            return self._tracepoint_check(ts, pid, comm, rest)
        if event in _PROCESS_EVENTS:
            return self._process_event(event, ts, pid, comm, rest)
        if event.endswith("leastcap_cap"):
            self._kprobe_entry(ts, pid, comm, rest)
            return None  # yielded with its return value
        if event.endswith("leastcap_ret"):
            return self._kprobe_return(pid, rest)
        self.unparsed += 1
        return None

    def _stack_line(self, line: str) -> bool:
        """Take a stack header or frame line (attached to the check it follows); False for others."""
        # Most lines are stack frames: plain string operations first, the regexes only when needed.
        if line.startswith(" => "):
            if self._stack_target is not None:
                self._stack_target.stack.append(line[4:].strip())
            return True
        if line.endswith("<stack trace>"):
            header = _STACK_HEADER.match(line)
            if header is not None:
                self._stack_target = self._awaiting_stack.pop(int(header.group("pid")), None)
                return True
        frame = _FRAME.match(line)
        if frame is not None:
            if self._stack_target is not None:
                self._stack_target.stack.append(frame.group("frame"))
            return True
        return False

    def _tracepoint_check(self, ts: float, pid: int, comm: str, rest: str) -> CapCheck | None:
        c = _TP_CAP.search(rest)
        if c is None:
            self.unparsed += 1
            return None
        check = CapCheck(ts, pid, comm, int(c.group("cap")), int(c.group("ret")))
        self._awaiting_stack[pid] = check
        return check

    def _process_event(self, event: str, ts: float, pid: int, comm: str, rest: str) -> Event | None:
        """A fork, exec, exit, cgroup move or rename line (event is one of _PROCESS_EVENTS)."""
        if event == "sched_process_fork":
            kv = dict(_KV.findall(rest))
            return Fork(ts, int(kv["pid"]), int(kv["child_pid"]), kv.get("child_comm", ""))
        if event == "sched_process_exec":
            kv = dict(_KV.findall(rest))
            return Exec(ts, int(kv["pid"]), int(kv["old_pid"]), kv["filename"], comm)
        if event == "sched_process_exit":
            kv = dict(_KV.findall(rest))
            return Exit(ts, int(kv.get("pid", pid)))
        if event == "cgroup_attach_task":
            a = _ATTACH.search(rest)
            if a is None:
                self.unparsed += 1
                return None
            return CgroupAttach(ts, int(a.group("pid")), a.group("path"))
        r = _RENAME.search(rest)
        if r is None:
            self.unparsed += 1
            return None
        return Rename(ts, int(r.group("pid")), r.group("comm"))

    def _kprobe_entry(self, ts: float, pid: int, comm: str, rest: str) -> None:
        """Hold a kprobe'd check until its return line gives the result."""
        kv = dict(_KV.findall(rest))
        opts = int(kv.get("opts", "0"), 0)
        check = CapCheck(ts, pid, comm, int(kv["cap"], 0), None, noaudit=bool(opts & CAP_OPT_NOAUDIT))
        self._awaiting_stack[pid] = check
        self._pending_kprobe[pid] = check

    def _kprobe_return(self, pid: int, rest: str) -> CapCheck | None:
        kv = dict(_KV.findall(rest))
        pending = self._pending_kprobe.pop(pid, None)
        if pending is None:
            return None
        pending.ret = int(kv["ret"], 0)
        return pending
