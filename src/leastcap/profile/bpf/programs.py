"""The in-kernel half of the BPF recorder: its capability and open programs, the layout of the maps,
and the emitting helpers its other programs share (``following``: fork, exec, rename, exit;
``calibration``: the start-up measurement of the kernel's stacks).

* ``tracked`` (hash, tid -> generation): the tasks being followed. Seeded by the recorder (the
  container runtime's tasks, or a running container's); the fork program adds each child of a
  tracked task, exec gives a task a new generation, exit removes it. A generation is the time of the
  fork or exec, so the same tid after an exec (or a reused pid) never shares entries with its past.
* ``caps`` (hash): one element per distinct (task, generation, capability, result, kernel stack),
  keyed by the stack's hash. The first check of a kind records its time, the task's name and the
  stack; every repeat only adds one to its count. (The ftrace stacktrace trigger instead wrote a
  full stack to the ring buffer for every check.) A walk is most of a check's cost, so few checks
  are walked: the SYS_ADMIN no-audit probe of every mmap, brk and fork is recognised from one
  calibrated stack word (CallerSlot), and a check at a known call site takes its stack from
  ``sites`` (Fingerprint).
* ``sites`` (hash, fingerprint -> stack), ``wrappers`` (a wrapper's return address -> its frame
  size) and ``approved`` (fingerprints whose stack the recorder reviewed): the call-site cache.
* ``opens`` (hash): opens by tracked tasks of absolute paths below /dev/, /proc/sys/ or /sys/,
  counted per (task, generation, flags, path).
* ``stats`` (array): elements that did not fit (a full map), reported as lost events, and records
  taken from the cache.
* ``scratch`` (per-CPU array): room for keys and values, larger than the programs' BPF stack may be
  (MAX_PROGRAM_STACK). Tracing programs do not nest on a CPU, so one slot per CPU is enough.
* ``calibration`` (array): what the calibration program saw on the recorder's own checks.
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
# sites value: stack hash u64, checks seen u64, ambiguous u64, cap s32, pad, stack bytes s64, frames
# (the size and frames at the same place as in a caps value)
SITE_VALUE = struct.Struct(f"<QQQiIq{STACK_FRAMES}Q")
# How many words above a wrapper's return address are searched for its caller's (_learn_wrapper).
WRAPPER_WORDS = 16
SITES_MAX = 1 << 14
# A fingerprint's cached stack is used after this many walks found that same stack (a power of two)...
SITE_CONFIRMATIONS = 8
# ... and one check in this many is still walked, to catch a second stack behind it (a power of two).
SITE_RESAMPLE = 64
# The scratch area of the capability program: key, value, the frame pointer as a number, site key
# and site value (the open program uses only the start: its key and value).
VALUE_AT = CAP_KEY.size
FRAME_AT = VALUE_AT + CAP_VALUE.size
WRAPPER_AT = FRAME_AT + 8  # the wrapper's return address (the wrappers map's key)
CALLER_AT = WRAPPER_AT + 8  # the return address into the wrapper's caller
SYSCALL_AT = CALLER_AT + 8
DISTANCE_AT = SYSCALL_AT + 8  # a wrappers map value being learned
SITE_KEY_AT = DISTANCE_AT + 8
SITE_AT = SITE_KEY_AT + 8
SCRATCH_BYTES = max(SITE_AT + SITE_VALUE.size, OPEN_KEY.size + OPEN_VALUE.size)
TRACKED_KEY, TRACKED_VALUE = struct.Struct("<I"), struct.Struct("<Q")
STAT_CAPS_LOST, STAT_OPENS_LOST, STAT_TRACKED_LOST = 0, 1, 2
LOST_STATS = 3  # the stats before this index count lost events
STAT_CACHED = 3  # records whose stack came from the sites cache (no walk)
STATS = 4

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


# The programs keep their own stack under 33 bytes: a tracing program with a deeper one runs on a
# private per-CPU stack on recent kernels (6.13+, BPF_PRIV_STACK_MIN_SIZE after rounding), and then
# r10 no longer points into the kernel stack that CallerSlot and Fingerprint read. Larger things go
# in the scratch map.
MAX_PROGRAM_STACK = 32


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
class Fingerprint:
    """Where to read a check's fingerprint without walking its stack (x86-64; calibrated).

    For a check made through security_capable (nearly all that are not the vm probe), the return
    address into *its* caller lies ``caller_offset`` bytes above the program's frame pointer
    (security_capable's frame has a fixed size), and the task's saved syscall number lies
    ``orig_ax_from_top`` bytes below the top of its ``thread_size``-aligned kernel stack.
    """

    caller_offset: int
    start: int  # security_capable
    end: int
    thread_size: int
    orig_ax_from_top: int


@dataclass(frozen=True, slots=True)
class Maps:
    tracked: int
    caps: int
    opens: int
    stats: int
    scratch: int
    calibration: int  # array of CALIBRATION_SLOTS copies of the stack above the program's frame
    sites: int  # hash: fingerprint -> SITE_VALUE (the capability program's cache of walked stacks)
    wrappers: int  # hash: a wrapper's return address -> its frame's size (0: not found)
    approved: int  # hash: fingerprint -> 1, set by the recorder: the site's cached stack may be used


def lookup(p: Program, map_fd: int, key_at: int, missing: str) -> None:
    """r0 = the element of ``map_fd`` whose key is on the BPF stack at r10+key_at; jump to
    ``missing`` when there is none."""
    p.ld_map(R1, map_fd)
    p.mov(R2, R10)
    p.add_imm(R2, key_at)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, missing)


def _tracked_generation(p: Program, maps: Maps, out: str) -> None:
    """r7 = current tid; r8 = its generation, or jump to ``out`` when the task is not tracked."""
    p.call(GET_CURRENT_PID_TGID)
    p.mov32(R7, R0)
    p.stx(4, R10, -4, R7)
    lookup(p, maps.tracked, -4, out)
    p.ldx(8, R8, R0, 0)


def _scratch(p: Program, maps: Maps, out: str) -> None:
    """r9 = this CPU's scratch area."""
    p.st_imm(4, R10, -8, 0)
    lookup(p, maps.scratch, -8, out)
    p.mov(R9, R0)


def _insert_new(p: Program, map_fd: int, key_at: int, value_at: int) -> None:
    """Insert the value at scratch[value_at:] under the key at scratch[key_at:] unless the key is
    there already (r0: 0 when inserted)."""
    p.ld_map(R1, map_fd)
    p.mov(R2, R9)
    if key_at:
        p.add_imm(R2, key_at)
    p.mov(R3, R9)
    p.add_imm(R3, value_at)
    p.mov_imm(R4, NOEXIST)
    p.call(MAP_UPDATE_ELEM)


def _add_or_insert(p: Program, map_fd: int, key_size: int, stat: int, maps: Maps, tag: str) -> None:
    """Insert scratch[key_size:] under the key scratch[0:key_size]; if another CPU inserted the same
    key meanwhile, count on it instead; if the map is full, count a lost event."""
    _insert_new(p, map_fd, 0, key_size)
    p.jmp_imm(JEQ, R0, 0, "out")
    p.ld_map(R1, map_fd)
    p.mov(R2, R9)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, f"lost_{tag}")
    p.mov_imm(R1, 1)
    p.atomic_add(8, R0, 0, R1)
    p.jmp("out")
    p.label(f"lost_{tag}")
    count_lost(p, maps, stat)
    p.jmp("out")


def count_lost(p: Program, maps: Maps, stat: int) -> None:
    """stats[stat] += 1: something did not fit in its map (reported as lost events)."""
    p.st_imm(4, R10, -8, stat)
    lookup(p, maps.stats, -8, "out")
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


def finish(p: Program) -> None:
    p.label("out")
    p.mov_imm(R0, 0)
    p.exit()


def _walk(p: Program) -> None:
    """Walk the whole stack into the new value's stack area; r1 = its hash, also the key's site."""
    p.mov(R1, R6)
    p.mov(R2, R9)
    p.add_imm(R2, VALUE_AT + 40)
    p.mov_imm(R3, STACK_FRAMES * 8)
    p.mov_imm(R4, 0)
    p.call(GET_STACK)
    p.stx(8, R9, VALUE_AT + 32, R0)  # bytes written (the helper zero-fills the rest), or an error
    _stack_hash(p, VALUE_AT + 40)
    p.stx(8, R9, 24, R1)


def _copy(p: Program, dst: int, src_reg: int, src: int, words: int) -> None:
    """scratch[dst:] = words 8-byte words at src_reg + src (unrolled)."""
    for word in range(words):
        p.ldx(8, R1, src_reg, src + 8 * word)
        p.stx(8, R9, dst + 8 * word, R1)


def _fingerprint(p: Program, maps: Maps, fp: Fingerprint, walk: str, learn: str) -> None:
    """scratch[SITE_KEY_AT] = the check's fingerprint, from words read without a walk: the return
    addresses into security_capable's caller (which wrapper checked: ns_capable, ns_capable_noaudit,
    capable_wrt_inode_uidgid...) and into the wrapper's caller (where it was called), and the syscall
    number in the task's saved registers.

    Expects the return address into cap_capable's caller at r10-24; leaves the wrapper's at WRAPPER_AT.
    Jumps to ``walk`` when the caller is not security_capable or a read fails, and to ``learn`` when
    the wrapper's frame size is not known yet (the ``wrappers`` map; see _learn_wrapper).
    """
    p.ldx(8, R1, R10, -24)
    p.ld_imm64(R2, fp.start)
    p.jmp_reg(JLT, R1, R2, walk)
    p.ld_imm64(R2, fp.end)
    p.jmp_reg(JGE, R1, R2, walk)
    p.mov(R1, R9)
    p.add_imm(R1, WRAPPER_AT)
    p.mov_imm(R2, 8)
    p.mov(R3, R10)
    p.add_imm(R3, fp.caller_offset)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JNE, R0, 0, walk)
    p.ld_map(R1, maps.wrappers)
    p.mov(R2, R9)
    p.add_imm(R2, WRAPPER_AT)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, learn)
    p.ldx(8, R1, R0, 0)
    p.jmp_imm(JEQ, R1, 0, walk)  # a wrapper whose caller could not be found: always walked
    # The frame pointer as a number (through a map value: the verifier forbids arithmetic on it), to
    # read at a learned distance and at the top of the task's stack, where its saved registers are.
    # (The stack's depth is no use: the kernel randomises each syscall's stack offset.)
    p.stx(8, R9, FRAME_AT, R10)
    p.ldx(8, R3, R9, FRAME_AT)
    p.add_imm(R3, fp.caller_offset)
    p.add_reg(R3, R1)
    p.mov(R1, R9)
    p.add_imm(R1, CALLER_AT)
    p.mov_imm(R2, 8)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JNE, R0, 0, walk)
    p.ldx(8, R3, R9, FRAME_AT)
    p.or_imm(R3, fp.thread_size - 1)
    p.add_imm(R3, 1 - fp.orig_ax_from_top)
    p.mov(R1, R9)
    p.add_imm(R1, SYSCALL_AT)
    p.mov_imm(R2, 8)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JNE, R0, 0, walk)
    p.ld_imm64(R1, _FNV_OFFSET)
    p.ld_imm64(R3, _FNV_PRIME)
    for size, reg, off in ((4, R9, 4), (4, R9, 8), (8, R9, WRAPPER_AT), (8, R9, CALLER_AT), (8, R9, SYSCALL_AT)):
        p.ldx(size, R2, reg, off)  # cap, ret, the two return addresses, the syscall
        p.xor_reg(R1, R2)
        p.mul_reg(R1, R3)
        p.mov(R2, R1)
        p.rsh_imm(R2, 29)
        p.xor_reg(R1, R2)
    p.stx(8, R9, SITE_KEY_AT, R1)


def _learn_wrapper(p: Program, maps: Maps, fp: Fingerprint) -> None:
    """After a walk: wrappers[the wrapper's return address, at WRAPPER_AT] = the distance from its slot to
    the next return address's (the wrapper's frame size is fixed), found among the WRAPPER_WORDS
    words above it as the walk's fourth frame; 0 when it is not there (never fingerprinted)."""
    p.mov_imm(R8, 0)
    p.ldx(8, R1, R9, VALUE_AT + 40 + 16)  # the walk must agree on the wrapper...
    p.ldx(8, R2, R9, WRAPPER_AT)
    p.jmp_reg(JNE, R1, R2, "learned")
    p.ldx(8, R2, R9, VALUE_AT + 40 + 24)  # ... and have a fourth frame
    p.jmp_imm(JEQ, R2, 0, "learned")
    p.mov(R1, R9)
    p.add_imm(R1, SITE_AT)
    p.mov_imm(R2, 8 * WRAPPER_WORDS)
    p.mov(R3, R10)
    p.add_imm(R3, fp.caller_offset + 8)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JNE, R0, 0, "learned")
    p.ldx(8, R2, R9, VALUE_AT + 40 + 24)
    for word in range(WRAPPER_WORDS):
        p.ldx(8, R1, R9, SITE_AT + 8 * word)
        p.mov_imm(R8, 8 + 8 * word)
        p.jmp_reg(JEQ, R1, R2, "learned")
    p.mov_imm(R8, 0)
    p.label("learned")
    p.stx(8, R9, DISTANCE_AT, R8)
    _insert_new(p, maps.wrappers, WRAPPER_AT, DISTANCE_AT)


def capability_program(
    maps: Maps,
    cap_offset: int,
    ret_offset: int,
    vm_probe: CallerSlot | None = None,
    fingerprint: Fingerprint | None = None,
) -> bytes:
    """On ``capability:cap_capable``: count the check per (task, generation, cap, ret, stack).

    ``vm_probe``: recognise the vm probe without a walk. ``fingerprint`` (needs ``vm_probe``): take
    a check's stack from the ``sites`` cache when other checks with its fingerprint already walked
    it -- after SITE_CONFIRMATIONS walks that all found the same stack, once the recorder has
    approved that stack (``approved``), and with a walk every SITE_RESAMPLE checks after that; a
    fingerprint that ever showed two stacks is always walked.
    """
    p = Program()
    p.mov(R6, R1)
    _tracked_generation(p, maps, "out")
    _scratch(p, maps, "out")
    _check_key(p, cap_offset, ret_offset)
    # The vm probe is most checks a service makes, and a stack walk is most of the cost of a check:
    # its caller is recognised from one word of the stack instead, and that return address is the
    # whole stack the record keeps (a walk per new process would cost as much as the rest).
    if vm_probe is not None:
        _vm_probe_record(p, maps, vm_probe)
        p.label("not_vm")
        if fingerprint is not None:
            _site_cache(p, maps, fingerprint)
    # Any other check: one walk of the whole stack, straight into the value, and its hash is the
    # call site. The walk's start is most of its cost (a few frames cost nearly as much as 64), so
    # one full walk is cheaper than a short one for the key plus a full one for each new record.
    p.label("walk")
    _walk(p)
    p.label("counted")
    _existing_plus_one(p, maps.caps, "new")
    p.label("new")
    _value_header(p, VALUE_AT)
    p.label("insert")
    _add_or_insert(p, maps.caps, CAP_KEY.size, STAT_CAPS_LOST, maps, "cap")
    finish(p)
    return p.code()


def _check_key(p: Program, cap_offset: int, ret_offset: int) -> None:
    """The caps key in scratch (r9): tid (r7), cap and ret from the context (r6), generation (r8)."""
    p.stx(4, R9, 0, R7)
    p.ldx(4, R1, R6, cap_offset)
    p.stx(4, R9, 4, R1)
    p.ldx(4, R1, R6, ret_offset)
    p.stx(4, R9, 8, R1)
    p.st_imm(4, R9, 12, 0)
    p.stx(8, R9, 16, R8)


def _vm_probe_record(p: Program, maps: Maps, vm_probe: CallerSlot) -> None:
    """A check whose caller's return address is in the vm probe's function: count it with that
    address as its whole stack (to "insert"); any other goes to "not_vm", or "walk" when the stack
    word cannot be read."""
    p.mov(R1, R10)
    p.add_imm(R1, -24)
    p.mov_imm(R2, 8)
    p.mov(R3, R10)
    p.add_imm(R3, vm_probe.offset)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JNE, R0, 0, "walk")
    p.ldx(8, R1, R10, -24)
    p.ld_imm64(R2, vm_probe.start)
    p.jmp_reg(JLT, R1, R2, "not_vm")
    p.ld_imm64(R2, vm_probe.end)
    p.jmp_reg(JGE, R1, R2, "not_vm")
    p.st_imm(8, R9, 24, VM_PROBE_SITE)
    _existing_plus_one(p, maps.caps, "new_probe")
    p.label("new_probe")
    _value_header(p, VALUE_AT)
    p.ldx(8, R1, R10, -24)
    p.stx(8, R9, VALUE_AT + 40, R1)
    p.st_imm(8, R9, VALUE_AT + 32, 8)
    p.jmp("insert")


def _site_cache(p: Program, maps: Maps, fingerprint: Fingerprint) -> None:
    """Take the check's stack from ``sites`` when its fingerprint is confirmed and approved (to
    "insert"); otherwise walk (to "counted"), confirming, caching or learning from the walk."""
    _fingerprint(p, maps, fingerprint, "walk", "walk_learn")
    p.ld_map(R1, maps.sites)
    p.mov(R2, R9)
    p.add_imm(R2, SITE_KEY_AT)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, "walk_new_site")
    p.mov(R7, R0)  # the site; r7 (the tid) is in the key already
    p.ldx(8, R8, R7, 8)
    p.mov_imm(R1, 1)
    p.atomic_add(8, R7, 8, R1)
    p.ldx(8, R1, R7, 16)
    p.jmp_imm(JNE, R1, 0, "walk")  # ambiguous: two stacks showed this fingerprint
    p.jmp_imm(JLT, R8, SITE_CONFIRMATIONS, "walk_confirm")
    p.and_imm(R8, SITE_RESAMPLE - 1)
    p.jmp_imm(JEQ, R8, 0, "walk_confirm")
    p.ld_map(R1, maps.approved)
    p.mov(R2, R9)
    p.add_imm(R2, SITE_KEY_AT)
    p.call(MAP_LOOKUP_ELEM)
    p.jmp_imm(JEQ, R0, 0, "walk_confirm")
    _cached_stack(p, maps)
    _site_walks(p, maps, fingerprint)


def _cached_stack(p: Program, maps: Maps) -> None:
    """Confirmed and approved: the cached stack (site at r7) is this check's; to "insert"."""
    p.ldx(8, R1, R7, 0)
    p.stx(8, R9, 24, R1)
    _existing_plus_one(p, maps.caps, "new_cached")
    p.label("new_cached")
    _value_header(p, VALUE_AT)
    _copy(p, VALUE_AT + 32, R7, 32, 1 + STACK_FRAMES)
    p.st_imm(4, R10, -8, STAT_CACHED)  # counted for the tests and the bench, not as lost
    lookup(p, maps.stats, -8, "insert")
    p.mov_imm(R1, 1)
    p.atomic_add(8, R0, 0, R1)
    p.jmp("insert")


def _site_walks(p: Program, maps: Maps, fingerprint: Fingerprint) -> None:
    """The walks the site cache asks for, each then counted (to "counted")."""
    # A confirmation walk: a different stack makes the fingerprint ambiguous for good.
    p.label("walk_confirm")
    _walk(p)
    p.ldx(8, R2, R7, 0)
    p.jmp_reg(JEQ, R1, R2, "counted")
    p.st_imm(8, R7, 16, 1)
    p.jmp("counted")
    # First of its fingerprint: walk, and cache the stack for the next ones.
    p.label("walk_new_site")
    _walk(p)
    p.stx(8, R9, SITE_AT, R1)
    p.st_imm(8, R9, SITE_AT + 8, 1)
    p.st_imm(8, R9, SITE_AT + 16, 0)
    p.ldx(4, R1, R9, 4)
    p.stx(4, R9, SITE_AT + 24, R1)
    p.st_imm(4, R9, SITE_AT + 28, 0)
    _copy(p, SITE_AT + 32, R9, VALUE_AT + 32, 1 + STACK_FRAMES)
    _insert_new(p, maps.sites, SITE_KEY_AT, SITE_AT)  # a full cache only means more walks
    p.jmp("counted")
    # A wrapper not seen before: walk, and learn its frame from the walk.
    p.label("walk_learn")
    _walk(p)
    _learn_wrapper(p, maps, fingerprint)
    p.jmp("counted")


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
    finish(p)
    return p.code()
