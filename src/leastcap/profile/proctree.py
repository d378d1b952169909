"""Which tasks are the container's service, from fork/exec/exit events.

A container's processes descend from its containerd shim. Below the shim, runc sets things up
(``runc create``, hooks, ``runc init``) and then the last runc-init stage ``exec``s the entrypoint;
``docker exec`` and healthchecks go through the same ``runc init`` -> exec path. So a task is the
service once it (or an ancestor) has exec'd something out of a runc-init task; everything before
that, and everything else under the shim (runc itself, hooks run by runc, the shim), is set-up.

States are per task id (threads fork too), inherited at fork, dropped at exit (pids are reused).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from leastcap.profile.events import CapCheck, Event, Exec, Exit, Fork, PathOpen, Rename


class State(enum.Enum):
    SETUP = "setup"  # under the shim, not (yet) the service
    RUNC_INIT = "runc-init"  # runc's in-container set-up process (its next exec is the service)
    SERVICE = "service"


# How runc re-executes itself as ``runc init``: /proc/self/exe, then (runc >= 1.1) a sealed memfd
# copy through /dev/fd/N or /proc/self/fd/N; runc 1.2 may exec through runc-dmz.
_RUNC_INIT = re.compile(r"^(/proc/self/exe|/proc/self/fd/\d+|/dev/fd/\d+|memfd:.*|.*/runc-dmz)$")


def is_runc_init(filename: str) -> bool:
    return _RUNC_INIT.match(filename) is not None


# Exited tasks remembered for late events: a late event is milliseconds late, a few exits at most
# even in a fork loop.
GONE_KEPT = 4096


class ProcessTree:
    def __init__(self) -> None:
        self._state: dict[int, State] = {}
        # The name each task had at the time of each event. tracefs prints comm from a pid->comm
        # cache that lags behind exec and prctl renames (a check made just before an exec shows
        # the next program's name), so names are tracked from the events themselves: fork copies
        # the parent's, exec sets the file's basename (as the kernel does), task_rename changes it.
        # The printed name is used only for tasks whose name we never saw set.
        self._comm: dict[int, str] = {}
        # The last state and name of tasks that exited, until their id is reused: fanotify's opens
        # are stamped when read (openwatch), which can be just after the opener's exit.
        self._gone: dict[int, tuple[State, str | None]] = {}

    def add_root(self, pid: int, state: State = State.SETUP) -> None:
        self._state[pid] = state

    def set_name(self, pid: int, comm: str) -> None:
        self._comm[pid] = comm

    def state(self, pid: int) -> State | None:
        return self._state.get(pid)

    @property
    def tracked(self) -> int:
        return len(self._state)

    def feed(self, event: Event) -> CapCheck | PathOpen | None:
        """Update the tree; return the check (or path open) when it belongs to the service."""
        if isinstance(event, CapCheck | PathOpen):
            return self._service_event(event)
        if isinstance(event, Rename):
            if event.pid in self._state:
                self._comm[event.pid] = event.comm
        elif isinstance(event, Fork):
            self._fork(event)
        elif isinstance(event, Exec):
            self._exec(event)
        elif isinstance(event, Exit):
            self._exit(event)
        return None

    def _service_event(self, event: CapCheck | PathOpen) -> CapCheck | PathOpen | None:
        """The event named as its task was named then, or None when the task is not the service."""
        state, comm = self._state.get(event.pid), self._comm.get(event.pid)
        if state is None and isinstance(event, PathOpen) and event.pid in self._gone:
            state, comm = self._gone[event.pid]
        if state is not State.SERVICE:
            return None
        if comm is not None:
            event.comm = comm
        return event

    def _fork(self, event: Fork) -> None:
        parent = self._state.get(event.parent)
        self._gone.pop(event.child, None)
        if parent is not None:
            self._state[event.child] = parent
            if event.parent in self._comm:
                self._comm[event.child] = self._comm[event.parent]

    def _exec(self, event: Exec) -> None:
        if event.old_pid != event.pid and event.old_pid in self._state:
            # A non-leader thread exec'd: it takes over the leader's pid.
            self._state[event.pid] = self._state.pop(event.old_pid)
        current = self._state.get(event.pid)
        if current is None:
            return
        self._comm[event.pid] = event.filename.rsplit("/", 1)[-1][:15]
        if current is State.SERVICE:
            return
        if is_runc_init(event.filename):
            self._state[event.pid] = State.RUNC_INIT
        elif current is State.RUNC_INIT:
            self._state[event.pid] = State.SERVICE

    def _exit(self, event: Exit) -> None:
        state = self._state.pop(event.pid, None)
        comm = self._comm.pop(event.pid, None)
        if state is not None:
            self._gone[event.pid] = (state, comm)
            if len(self._gone) > GONE_KEPT:  # the oldest exit: far behind any late event
                del self._gone[next(iter(self._gone))]

    def feed_all(self, events: Iterable[Event]) -> list[CapCheck]:
        kept: list[CapCheck] = []
        for event in events:
            check = self.feed(event)
            if isinstance(check, CapCheck):
                kept.append(check)
        return kept
