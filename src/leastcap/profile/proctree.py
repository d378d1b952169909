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

from leastcap.profile.events import CapCheck, Event, Exec, Exit, Fork


class State(enum.Enum):
    SETUP = "setup"  # under the shim, not (yet) the service
    RUNC_INIT = "runc-init"  # runc's in-container set-up process (its next exec is the service)
    SERVICE = "service"


# How runc re-executes itself as ``runc init``: /proc/self/exe, then (runc >= 1.1) a sealed memfd
# copy through /dev/fd/N or /proc/self/fd/N; runc 1.2 may exec through runc-dmz.
_RUNC_INIT = re.compile(r"^(/proc/self/exe|/proc/self/fd/\d+|/dev/fd/\d+|memfd:.*|.*/runc-dmz)$")


def is_runc_init(filename: str) -> bool:
    return _RUNC_INIT.match(filename) is not None


class ProcessTree:
    def __init__(self) -> None:
        self._state: dict[int, State] = {}
        # tracefs prints comm from its pid->comm cache when the line is read, so a check made just
        # before an exec (chroot, su, setpriv...) shows the name of a program exec'd later. Checks
        # followed by an exec get the name of the program that ran before it (from the previous
        # exec or the fork); the last program's checks keep the printed name, which also follows
        # prctl renames (busybox applets run without exec).
        self._comm: dict[int, str] = {}
        self._since_exec: dict[int, list[CapCheck]] = {}

    def add_root(self, pid: int, state: State = State.SETUP) -> None:
        self._state[pid] = state

    def state(self, pid: int) -> State | None:
        return self._state.get(pid)

    @property
    def tracked(self) -> int:
        return len(self._state)

    def feed(self, event: Event) -> CapCheck | None:
        """Update the tree; return the check when it belongs to the service."""
        if isinstance(event, CapCheck):
            if self._state.get(event.pid) is not State.SERVICE:
                return None
            self._since_exec.setdefault(event.pid, []).append(event)
            return event
        if isinstance(event, Fork):
            parent = self._state.get(event.parent)
            if parent is not None:
                self._state[event.child] = parent
                if event.parent in self._comm:
                    self._comm[event.child] = self._comm[event.parent]
        elif isinstance(event, Exec):
            if event.old_pid != event.pid and event.old_pid in self._state:
                # A non-leader thread exec'd: it takes over the leader's pid.
                self._state[event.pid] = self._state.pop(event.old_pid)
            current = self._state.get(event.pid)
            if current is None:
                return None
            new = event.filename.rsplit("/", 1)[-1][:15]
            old = self._comm.get(event.pid)
            for check in self._since_exec.pop(event.pid, []):
                if old is not None:
                    check.comm = old
            if is_runc_init(event.filename):
                # /proc/self/exe re-execs (busybox applets, runc) have an unknowable argv[0] name.
                self._comm.pop(event.pid, None)
            else:
                self._comm[event.pid] = new
            if current is State.SERVICE:
                return None
            if is_runc_init(event.filename):
                self._state[event.pid] = State.RUNC_INIT
            elif current is State.RUNC_INIT:
                self._state[event.pid] = State.SERVICE
        elif isinstance(event, Exit):
            self._state.pop(event.pid, None)
            self._comm.pop(event.pid, None)
            self._since_exec.pop(event.pid, None)
        return None

    def feed_all(self, events: Iterable[Event]) -> list[CapCheck]:
        kept: list[CapCheck] = []
        for event in events:
            check = self.feed(event)
            if check is not None:
                kept.append(check)
        return kept
