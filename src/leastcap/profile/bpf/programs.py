"""The in-kernel half of the BPF recorder: six small programs and the layout of their maps.

* ``tracked`` (hash, tid -> generation): the tasks being followed. Seeded by the recorder (the
  container runtime's tasks, or a running container's); the fork program adds each child of a
  tracked task, exec gives a task a new generation, exit removes it. A generation is the time of the
  fork or exec, so the same tid after an exec (or a reused pid) never shares entries with its past.
* ``caps`` (hash): one element per distinct (task, generation, capability, result, kernel stack);
  the stack is walked once per check and keyed by its hash. The first check of a kind records its
  time, the task's name and the stack; every repeat only adds one to its count. The ftrace
  stacktrace trigger instead wrote a full stack to the ring buffer for every check. The SYS_ADMIN
  no-audit probe of every mmap, brk and fork (most checks) is recognised without a walk.
* ``opens`` (hash): opens by tracked tasks of absolute paths below /dev/, /proc/sys/ or /sys/,
  counted per (task, generation, flags, path).
* ``stats`` (array): elements that did not fit (a full map), reported as lost events.
* ``scratch`` (per-CPU array): room for a key and a value, larger than the 512-byte BPF stack allows.
  Tracing programs do not nest on a CPU, so one slot per CPU is enough.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from leastcap.profile.bpf.asm import (
    JEQ,
    JGE,
    JLT,
    JNE,
    JSLT,
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R7,
    R8,
    R9,
    R10,
    Program,
    le_int,
)  # fmt: skip

# Helper function ids (include/uapi/linux/bpf.h, enum bpf_func_id).
MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM = 1, 2, 3
KTIME_GET_NS, GET_CURRENT_PID_TGID, GET_CURRENT_COMM = 5, 14, 16
GET_STACK, PROBE_READ_USER, PROBE_READ_KERNEL, PROBE_READ_USER_STR = 67, 112, 113, 114
NOEXIST = 1

STACK_FRAMES = 64
PATH_BYTES = 128

# caps key: tid u32, cap s32, ret s32, pad u32, generation u64, call site u64 (a hash of the stack)
CAP_KEY = struct.Struct("<IiiIQQ")
# caps value: count u64, first time (CLOCK_MONOTONIC ns) u64, comm[16], stack bytes s64, frames
CAP_VALUE = struct.Struct(f"<QQ16sq{STACK_FRAMES}Q")
# opens key: tid u32, open flags u32, generation u64, path[PATH_BYTES]; value: count, time, comm
OPEN_KEY = struct.Struct(f"<IIQ{PATH_BYTES}s")
OPEN_VALUE = struct.Struct("<QQ16s")
SCRATCH_BYTES = max(CAP_KEY.size + CAP_VALUE.size, OPEN_KEY.size + OPEN_VALUE.size)
TRACKED_KEY, TRACKED_VALUE = struct.Struct("<I"), struct.Struct("<Q")
STAT_CAPS_LOST, STAT_OPENS_LOST, STAT_TRACKED_LOST = 0, 1, 2
STATS = 3

_MASK5 = (1 << 40) - 1
_DEV, _SYS = le_int(b"/dev/"), le_int(b"/sys/")
_PROC_SY, _S_SLASH = le_int(b"/proc/sy"), le_int(b"s/")


# The call site of a check made by security_vm_enough_memory_mm (see CallerSlot): the SYS_ADMIN
# no-audit probe of every mmap, brk and fork, recognised without a stack walk. Its record's stack is
# the one return address that showed it. Every other site is a stack hash, whose top bit is set.
VM_PROBE_SITE = 1
# 64-bit FNV-1a over the stack's words, with a shift after each multiplication so that every bit of a
# word reaches the low bits (addresses in one kernel differ mostly in their low bits).
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
# How much of the kernel stack above the program's frame the calibration program copies.
CALIBRATION_BYTES = 512
CALIBRATION_SLOTS = 2  # 0: the SYS_ADMIN vm probe, 1: a CAP_SETUID check through security_capable
CAP_SETUID, CAP_SYS_ADMIN = 7, 21


@dataclass(frozen=True, slots=True)
class CallerSlot:
    """Where, above the program's frame pointer, the return address into cap_capable's caller lies.

    Every check reaches the program through the same chain (cap_capable -> tracepoint -> perf ->
    trace_call_bpf -> the program), so that distance is one constant of the running kernel; it is
    measured at start-up (``calibration_program``). Reading one word there tells, with no stack walk,
    whether the caller is security_vm_enough_memory_mm: the address lies in [start, end).
    """

    offset: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Maps:
    tracked: int
    caps: int
    opens: int
    stats: int
    scratch: int
    calibration: int  # array of CALIBRATION_SLOTS copies of the stack above the program's frame


def _tracked_generation(p: Program, maps: Maps, out: str) -> None:
    """r7 = current tid; r8 = its generation, or jump to ``out`` when the task is not tracked."""
    p.call(GET_CURRENT_PID_TGID)
    p.mov32(R7, R0)
    p.stx(4, R10, -4, R7)
    p.ld_map(R1, maps.tracked)
    p.mov(R2, R10)
    p.add_imm(R2, -4)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, out)
    p.ldx(8, R8, R0, 0)


def _scratch(p: Program, maps: Maps, out: str) -> None:
    """r9 = this CPU's scratch area."""
    p.st_imm(4, R10, -8, 0)
    p.ld_map(R1, maps.scratch)
    p.mov(R2, R10)
    p.add_imm(R2, -8)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, out)
    p.mov(R9, R0)


def _add_or_insert(p: Program, map_fd: int, key_size: int, stat: int, maps: Maps, tag: str) -> None:
    """Insert scratch[key_size:] under the key scratch[0:key_size]; if another CPU inserted the same
    key meanwhile, count on it instead; if the map is full, count a lost event."""
    p.ld_map(R1, map_fd)
    p.mov(R2, R9)
    p.mov(R3, R9)
    p.add_imm(R3, key_size)
    p.mov_imm(R4, NOEXIST)
    p.call(MAP_UPDATE_ELEM)
    p.jmp_imm(JEQ, R0, 0, "out")
    p.ld_map(R1, map_fd)
    p.mov(R2, R9)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, f"lost_{tag}")
    p.mov_imm(R1, 1)
    p.atomic_add(8, R0, 0, R1)
    p.jmp("out")
    p.label(f"lost_{tag}")
    _count_lost(p, maps, stat)
    p.jmp("out")


def _count_lost(p: Program, maps: Maps, stat: int) -> None:
    """stats[stat] += 1: something did not fit in its map (reported as lost events)."""
    p.st_imm(4, R10, -8, stat)
    p.ld_map(R1, maps.stats)
    p.mov(R2, R10)
    p.add_imm(R2, -8)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, "out")
    p.mov_imm(R1, 1)
    p.atomic_add(8, R0, 0, R1)


def _existing_plus_one(p: Program, map_fd: int, new: str) -> None:
    """If the key at scratch[0:] is in the map, add one to its count and finish; else go to ``new``."""
    p.ld_map(R1, map_fd)
    p.mov(R2, R9)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, new)
    p.mov_imm(R1, 1)
    p.atomic_add(8, R0, 0, R1)
    p.jmp("out")


def _value_header(p: Program, value: int) -> None:
    """A new element's value at scratch[value:]: count 1, the time now, the task's name."""
    p.st_imm(8, R9, value, 1)
    p.call(KTIME_GET_NS)
    p.stx(8, R9, value + 8, R0)
    p.mov(R1, R9)
    p.add_imm(R1, value + 16)
    p.mov_imm(R2, 16)
    p.call(GET_CURRENT_COMM)


def _stack_hash(p: Program, at: int) -> None:
    """r1 = a hash of the STACK_FRAMES words at scratch[at:], with its top bit set (never VM_PROBE_SITE).

    Unrolled: the verifier then needs no loop bounds, and the hash costs ~60 ns against ~2 us for
    the walk. A collision (two stacks of one task, capability and result with the same 64-bit hash)
    would count both as the first one; it is far less likely than an event lost to a full map."""
    p.ld_imm64(R1, _FNV_OFFSET)
    p.ld_imm64(R3, _FNV_PRIME)
    for frame in range(STACK_FRAMES):
        p.ldx(8, R2, R9, at + 8 * frame)
        p.xor_reg(R1, R2)
        p.mul_reg(R1, R3)
        p.mov(R2, R1)
        p.rsh_imm(R2, 29)
        p.xor_reg(R1, R2)
    p.ld_imm64(R2, 1 << 63)
    p.or_reg(R1, R2)


def _finish(p: Program) -> None:
    p.label("out")
    p.mov_imm(R0, 0)
    p.exit()


def capability_program(maps: Maps, cap_offset: int, ret_offset: int, vm_probe: CallerSlot | None = None) -> bytes:
    """On ``capability:cap_capable``: count the check per (task, generation, cap, ret, call site)."""
    p = Program()
    p.mov(R6, R1)
    _tracked_generation(p, maps, "out")
    _scratch(p, maps, "out")
    p.stx(4, R9, 0, R7)
    p.ldx(4, R1, R6, cap_offset)
    p.stx(4, R9, 4, R1)
    p.ldx(4, R1, R6, ret_offset)
    p.stx(4, R9, 8, R1)
    p.st_imm(4, R9, 12, 0)
    p.stx(8, R9, 16, R8)
    value = CAP_KEY.size
    # The vm probe is most checks a service makes, and a stack walk is most of the cost of a check:
    # its caller is recognised from one word of the stack instead, and that return address is the
    # whole stack the record keeps (a walk per new process would cost as much as the rest).
    if vm_probe is not None:
        p.mov(R1, R10)
        p.add_imm(R1, -24)
        p.mov_imm(R2, 8)
        p.mov(R3, R10)
        p.add_imm(R3, vm_probe.offset)
        p.call(PROBE_READ_KERNEL)
        p.jmp_imm(JNE, R0, 0, "walk")
        p.ldx(8, R1, R10, -24)
        p.ld_imm64(R2, vm_probe.start)
        p.jmp_reg(JLT, R1, R2, "walk")
        p.ld_imm64(R2, vm_probe.end)
        p.jmp_reg(JGE, R1, R2, "walk")
        p.st_imm(8, R9, 24, VM_PROBE_SITE)
        _existing_plus_one(p, maps.caps, "new_probe")
        p.label("new_probe")
        _value_header(p, value)
        p.ldx(8, R1, R10, -24)
        p.stx(8, R9, value + 40, R1)
        p.st_imm(8, R9, value + 32, 8)
        p.jmp("insert")
    # Any other check: one walk of the whole stack, straight into the value, and its hash is the
    # call site. The walk's start is most of its cost (a few frames cost nearly as much as 64), so
    # one full walk is cheaper than a short one for the key plus a full one for each new record.
    p.label("walk")
    p.mov(R1, R6)
    p.mov(R2, R9)
    p.add_imm(R2, value + 40)
    p.mov_imm(R3, STACK_FRAMES * 8)
    p.mov_imm(R4, 0)
    p.call(GET_STACK)
    p.stx(8, R9, value + 32, R0)  # bytes written (the helper zero-fills the rest), or an error
    _stack_hash(p, value + 40)
    p.stx(8, R9, 24, R1)
    _existing_plus_one(p, maps.caps, "new")
    p.label("new")
    _value_header(p, value)
    p.label("insert")
    _add_or_insert(p, maps.caps, CAP_KEY.size, STAT_CAPS_LOST, maps, "cap")
    _finish(p)
    return p.code()


def open_program(
    maps: Maps, filename_offset: int, flags_offset: int | None, how_offset: int | None, *, how_in_kernel: bool = False
) -> bytes:
    """Count opens of /dev/*, /proc/sys/*, /sys/* paths by tracked tasks, per (task, flags, path).

    Attached to fentry of do_sys_openat2 (every open, openat, openat2 and creat; ``how_in_kernel``:
    its ``struct open_how *`` is kernel memory), or else to ``syscalls:sys_enter_open*`` events.
    ``flags_offset``: the flags argument in the context; ``how_offset``: a ``struct open_how *``
    (flags are its first u64); neither: creat(2), O_CREAT|O_WRONLY|O_TRUNC.
    """
    p = Program()
    p.mov(R6, R1)
    _tracked_generation(p, maps, "out")
    _scratch(p, maps, "out")
    for off in range(0, OPEN_KEY.size, 8):
        p.st_imm(8, R9, off, 0)
    p.stx(4, R9, 0, R7)
    p.stx(8, R9, 8, R8)
    p.mov(R1, R9)
    p.add_imm(R1, 16)
    p.mov_imm(R2, PATH_BYTES)
    p.ldx(8, R3, R6, filename_offset)
    p.call(PROBE_READ_USER_STR)
    p.jmp_imm(JSLT, R0, 6, "out")  # shorter than "/sys/x" and its NUL
    p.ldx(8, R1, R9, 16)
    p.ld_imm64(R2, _MASK5)
    p.and_reg(R2, R1)
    p.ld_imm64(R3, _DEV)
    p.jmp_reg(JEQ, R2, R3, "wanted")
    p.ld_imm64(R3, _SYS)
    p.jmp_reg(JEQ, R2, R3, "wanted")
    p.ld_imm64(R3, _PROC_SY)
    p.jmp_reg(JNE, R1, R3, "out")
    p.ldx(2, R1, R9, 24)
    p.jmp_imm(JNE, R1, _S_SLASH, "out")
    p.label("wanted")
    if flags_offset is not None:
        p.ldx(4, R1, R6, flags_offset)
        p.stx(4, R9, 4, R1)
    elif how_offset is not None:
        p.mov(R1, R10)
        p.add_imm(R1, -16)
        p.mov_imm(R2, 8)
        p.ldx(8, R3, R6, how_offset)
        p.call(PROBE_READ_KERNEL if how_in_kernel else PROBE_READ_USER)
        p.jmp_imm(JNE, R0, 0, "out")
        p.ldx(4, R1, R10, -16)
        p.stx(4, R9, 4, R1)
    else:
        p.st_imm(4, R9, 4, 0o1101)  # O_CREAT | O_TRUNC | O_WRONLY
    _existing_plus_one(p, maps.opens, "new")
    p.label("new")
    _value_header(p, OPEN_KEY.size)
    _add_or_insert(p, maps.opens, OPEN_KEY.size, STAT_OPENS_LOST, maps, "open")
    _finish(p)
    return p.code()


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
    _count_lost(p, maps, STAT_TRACKED_LOST)


def _if_tracked(p: Program, maps: Maps, pid_offset: int) -> None:
    p.ldx(4, R1, R6, pid_offset)
    p.stx(4, R10, -4, R1)
    p.ld_map(R1, maps.tracked)
    p.mov(R2, R10)
    p.add_imm(R2, -4)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, "out")


def fork_program(maps: Maps, parent_offset: int, child_offset: int) -> bytes:
    """On ``sched:sched_process_fork``: a child (process or thread) of a tracked task is tracked."""
    p = Program()
    p.mov(R6, R1)
    _if_tracked(p, maps, parent_offset)
    _set_generation(p, maps, child_offset)
    _finish(p)
    return p.code()


def exec_program(maps: Maps, pid_offset: int, old_pid_offset: int) -> bytes:
    """On ``sched:sched_process_exec``: a tracked task starts a new generation (under its new tid,
    which is the leader's when a thread exec'd)."""
    p = Program()
    p.mov(R6, R1)
    _if_tracked(p, maps, old_pid_offset)
    _set_generation(p, maps, pid_offset)
    _finish(p)
    return p.code()


def rename_program(maps: Maps, pid_offset: int) -> bytes:
    """On ``task:task_rename`` (prctl PR_SET_NAME, a write to /proc/PID/comm): a new generation, so
    checks made under the new name are not counted with those made under the old one (busybox
    applets rename themselves instead of exec'ing)."""
    return exec_program(maps, pid_offset, pid_offset)


def calibration_program(maps: Maps, cap_offset: int, tid: int) -> bytes:
    """For task ``tid`` only: copy CALIBRATION_BYTES of the stack above the frame pointer into
    calibration[0] on a SYS_ADMIN check and into calibration[1] on a SETUID check."""
    p = Program()
    p.mov(R6, R1)
    p.call(GET_CURRENT_PID_TGID)
    p.mov32(R7, R0)
    p.jmp_imm(JNE, R7, tid, "out")
    p.ldx(4, R1, R6, cap_offset)
    p.mov_imm(R8, 0)
    p.jmp_imm(JEQ, R1, CAP_SYS_ADMIN, "copy")
    p.mov_imm(R8, 1)
    p.jmp_imm(JEQ, R1, CAP_SETUID, "copy")
    p.jmp("out")
    p.label("copy")
    p.stx(4, R10, -4, R8)
    p.ld_map(R1, maps.calibration)
    p.mov(R2, R10)
    p.add_imm(R2, -4)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, "out")
    p.mov(R1, R0)
    p.mov_imm(R2, CALIBRATION_BYTES)
    p.mov(R3, R10)
    p.call(PROBE_READ_KERNEL)
    _finish(p)
    return p.code()


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
    _finish(p)
    return p.code()
