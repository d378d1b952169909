"""The BPF recorder's calibration program: on the recorder's own checks, it copies what the running
kernel's stacks look like, from which ``bpf.recorder`` learns a CallerSlot and a Fingerprint."""

from __future__ import annotations

from leastcap.profile.bpf.asm import JEQ, JNE, R0, R1, R2, R3, R4, R6, R7, R8, R10, Program
from leastcap.profile.bpf.programs import GET_CURRENT_PID_TGID, GET_STACK, PROBE_READ_KERNEL, Maps, finish, lookup

# How much of the kernel stack above the program's frame the calibration program copies.
CALIBRATION_BYTES = 512
# 0: the stack above the frame on the SYS_ADMIN vm probe; 1: the same on a CAP_SETUID check through
# security_capable; 2: that check's walked stack; 3: the words where the syscall number would be in
# the task's saved registers, for each (stack size, distance from its top) in REGS_CANDIDATES, on
# the vm probe (words 0-3) and on the SETUID check (words 4-7).
CALIBRATION_SLOTS = 4
# x86-64: THREAD_SIZE 16 KiB (32 KiB with KASAN); pt_regs->orig_ax 48 bytes below the top of the
# stack, or 64 with the 16 bytes of padding FRED kernels leave above pt_regs.
REGS_CANDIDATES = ((1 << 14, 48), (1 << 14, 64), (1 << 15, 48), (1 << 15, 64))
CAP_SETUID, CAP_SYS_ADMIN = 7, 21


def _regs_candidates(p: Program, first_word: int) -> None:
    """calibration[3] words first_word...: the word at each REGS_CANDIDATES place (r7 = that slot)."""
    for index, (thread_size, from_top) in enumerate(REGS_CANDIDATES):
        p.ldx(8, R3, R7, 8 * len(REGS_CANDIDATES) * 2)  # the frame pointer, as a number
        p.or_imm(R3, thread_size - 1)
        p.add_imm(R3, 1 - from_top)
        p.mov(R1, R7)
        p.add_imm(R1, 8 * (first_word + index))
        p.mov_imm(R2, 8)
        p.call(PROBE_READ_KERNEL)


def _calibration_slot(p: Program, maps: Maps) -> None:
    """r0 = calibration[the u32 at r10-4], or finish when the lookup fails."""
    lookup(p, maps.calibration, -4, "out")


def calibration_program(maps: Maps, cap_offset: int, tid: int) -> bytes:
    """For task ``tid`` only: fill the CALIBRATION_SLOTS (see there) on a SYS_ADMIN and a SETUID check."""
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
    _calibration_slot(p, maps)
    p.mov(R1, R0)
    p.mov_imm(R2, CALIBRATION_BYTES)
    p.mov(R3, R10)
    p.call(PROBE_READ_KERNEL)
    p.jmp_imm(JEQ, R8, 0, "regs")
    p.st_imm(4, R10, -4, 2)
    _calibration_slot(p, maps)
    p.mov(R1, R6)
    p.mov(R2, R0)
    p.mov_imm(R3, CALIBRATION_BYTES)
    p.mov_imm(R4, 0)
    p.call(GET_STACK)
    p.label("regs")
    p.st_imm(4, R10, -4, 3)
    _calibration_slot(p, maps)
    p.mov(R7, R0)
    p.stx(8, R7, 8 * len(REGS_CANDIDATES) * 2, R10)  # a number from now on (see _fingerprint)
    p.jmp_imm(JEQ, R8, 1, "regs_setuid")
    _regs_candidates(p, 0)
    p.jmp("out")
    p.label("regs_setuid")
    _regs_candidates(p, len(REGS_CANDIDATES))
    finish(p)
    return p.code()
