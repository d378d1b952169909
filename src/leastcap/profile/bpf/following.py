"""The BPF recorder's programs that follow the tracked tasks (``tracked``, see ``programs``): a
fork's child and an exec'd or renamed task get a new generation, an exited task is forgotten."""

from __future__ import annotations

from leastcap.profile.bpf.asm import JEQ, R0, R1, R2, R3, R4, R6, R10, Program
from leastcap.profile.bpf.programs import (
    KTIME_GET_NS,
    MAP_DELETE_ELEM,
    MAP_UPDATE_ELEM,
    STAT_TRACKED_LOST,
    Maps,
    count_lost,
    finish,
    lookup,
)


def _set_generation(p: Program, maps: Maps, pid_offset: int) -> None:
    """tracked[ctx.pid_offset] = now (a new generation); a full map counts a lost task."""
    p.call(KTIME_GET_NS)
    p.stx(8, R10, -16, R0)
    p.ldx(4, R1, R6, pid_offset)
    p.stx(4, R10, -4, R1)
    p.ld_map(R1, maps.tracked)
    p.mov(R2, R10)
    p.add_imm(R2, -4)
    p.mov(R3, R10)
    p.add_imm(R3, -16)
    p.mov_imm(R4, 0)
    p.call(MAP_UPDATE_ELEM)
    p.jmp_imm(JEQ, R0, 0, "out")
    count_lost(p, maps, STAT_TRACKED_LOST)


def _if_tracked(p: Program, maps: Maps, pid_offset: int) -> None:
    p.ldx(4, R1, R6, pid_offset)
    p.stx(4, R10, -4, R1)
    lookup(p, maps.tracked, -4, "out")


def _follow(maps: Maps, tracked_offset: int, new_offset: int) -> bytes:
    """If the task at ctx.tracked_offset is tracked, the one at ctx.new_offset gets a new generation."""
    p = Program()
    p.mov(R6, R1)
    _if_tracked(p, maps, tracked_offset)
    _set_generation(p, maps, new_offset)
    finish(p)
    return p.code()


def fork_program(maps: Maps, parent_offset: int, child_offset: int) -> bytes:
    """On ``sched:sched_process_fork``: a child (process or thread) of a tracked task is tracked."""
    return _follow(maps, parent_offset, child_offset)


def exec_program(maps: Maps, pid_offset: int, old_pid_offset: int) -> bytes:
    """On ``sched:sched_process_exec``: a tracked task starts a new generation (under its new tid,
    which is the leader's when a thread exec'd)."""
    return _follow(maps, old_pid_offset, pid_offset)


def rename_program(maps: Maps, pid_offset: int) -> bytes:
    """On ``task:task_rename`` (prctl PR_SET_NAME, a write to /proc/PID/comm): a new generation, so
    checks made under the new name are not counted with those made under the old one (busybox
    applets rename themselves instead of exec'ing)."""
    return exec_program(maps, pid_offset, pid_offset)


def exit_program(maps: Maps, pid_offset: int) -> bytes:
    """On ``sched:sched_process_exit``: the task is forgotten (its tid may be reused)."""
    p = Program()
    p.mov(R6, R1)
    p.ldx(4, R1, R6, pid_offset)
    p.stx(4, R10, -4, R1)
    p.ld_map(R1, maps.tracked)
    p.mov(R2, R10)
    p.add_imm(R2, -4)
    p.call(MAP_DELETE_ELEM)
    finish(p)
    return p.code()
