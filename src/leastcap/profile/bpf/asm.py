"""A small assembler for eBPF instructions (the kernel's Documentation/bpf/standardization).

leastcap loads its few in-kernel programs itself instead of depending on a BPF compiler toolchain
(clang, bcc, kernel headers) that a production host rarely has. The programs are short; this
module gives them readable mnemonics and symbolic jump labels, resolved when the program is built.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# Instruction classes and fields (include/uapi/linux/bpf.h, bpf_common.h).
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
W, H, B, DW = 0x00, 0x08, 0x10, 0x18  # sizes
IMM, MEM, ATOMIC = 0x00, 0x60, 0xC0  # modes
K, X = 0x00, 0x08  # source: immediate or register
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0,
)  # fmt: skip
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE, JSLT, JSLE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0,
)  # fmt: skip
PSEUDO_MAP_FD = 1

# Registers: r0 return value, r1-r5 arguments (clobbered by calls), r6-r9 callee-saved, r10 frame.
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

_INSN = struct.Struct("<BBhi")
_SIZES = {1: B, 2: H, 4: W, 8: DW}


@dataclass
class Program:
    """Instructions in order, with labels; ``code()`` resolves jumps and encodes."""

    _insns: list[tuple[int, int, int, int, int, str | None]] = field(default_factory=list)
    _labels: dict[str, int] = field(default_factory=dict)

    def _emit(self, op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, target: str | None = None) -> None:
        self._insns.append((op, dst, src, off, imm, target))

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"label {name} defined twice")
        self._labels[name] = len(self._insns)

    # ALU
    def mov(self, dst: int, src: int) -> None:
        self._emit(ALU64 | MOV | X, dst, src)

    def mov_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | MOV | K, dst, imm=imm)

    def mov32(self, dst: int, src: int) -> None:
        """32-bit move: the upper half of dst is zeroed."""
        self._emit(ALU | MOV | X, dst, src)

    def add_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | ADD | K, dst, imm=imm)

    def add_reg(self, dst: int, src: int) -> None:
        self._emit(ALU64 | ADD | X, dst, src)

    def and_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | AND | K, dst, imm=imm)

    def or_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | OR | K, dst, imm=imm)

    def and_reg(self, dst: int, src: int) -> None:
        self._emit(ALU64 | AND | X, dst, src)

    def or_reg(self, dst: int, src: int) -> None:
        self._emit(ALU64 | OR | X, dst, src)

    def xor_reg(self, dst: int, src: int) -> None:
        self._emit(ALU64 | XOR | X, dst, src)

    def mul_reg(self, dst: int, src: int) -> None:
        """64-bit multiplication, modulo 2**64."""
        self._emit(ALU64 | MUL | X, dst, src)

    def lsh_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | LSH | K, dst, imm=imm)

    def rsh_imm(self, dst: int, imm: int) -> None:
        self._emit(ALU64 | RSH | K, dst, imm=imm)

    def ld_imm64(self, dst: int, value: int, src: int = 0) -> None:
        """A 64-bit immediate (two slots); with src=PSEUDO_MAP_FD, value is a map's fd."""
        value &= (1 << 64) - 1
        lo, hi = value & 0xFFFFFFFF, value >> 32
        self._emit(LD | DW | IMM, dst, src, imm=_s32(lo))
        self._emit(0, 0, 0, imm=_s32(hi))

    def ld_map(self, dst: int, map_fd: int) -> None:
        self.ld_imm64(dst, map_fd, PSEUDO_MAP_FD)

    # memory
    def ldx(self, size: int, dst: int, src: int, off: int) -> None:
        self._emit(LDX | MEM | _SIZES[size], dst, src, off)

    def stx(self, size: int, dst: int, off: int, src: int) -> None:
        self._emit(STX | MEM | _SIZES[size], dst, src, off)

    def st_imm(self, size: int, dst: int, off: int, imm: int) -> None:
        self._emit(ST | MEM | _SIZES[size], dst, 0, off, imm)

    def atomic_add(self, size: int, dst: int, off: int, src: int) -> None:
        """*(dst + off) += src, atomically (lock xadd)."""
        self._emit(STX | ATOMIC | _SIZES[size], dst, src, off, ADD)

    # control flow
    def jmp(self, target: str) -> None:
        self._emit(JMP | JA, target=target)

    def jmp_imm(self, op: int, dst: int, imm: int, target: str) -> None:
        self._emit(JMP | op | K, dst, 0, imm=imm, target=target)

    def jmp_reg(self, op: int, dst: int, src: int, target: str) -> None:
        self._emit(JMP | op | X, dst, src, target=target)

    def call(self, helper: int) -> None:
        self._emit(JMP | CALL, imm=helper)

    def exit(self) -> None:
        self._emit(JMP | EXIT)

    def code(self) -> bytes:
        out = bytearray()
        for index, (op, dst, src, offset, imm, target) in enumerate(self._insns):
            jump = offset
            if target is not None:
                if target not in self._labels:
                    raise ValueError(f"undefined label {target}")
                jump = self._labels[target] - index - 1
            out += _INSN.pack(op, (src << 4) | dst, jump, imm)
        return bytes(out)

    def __len__(self) -> int:
        return len(self._insns)


def _s32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def le_int(text: bytes) -> int:
    """The little-endian integer whose bytes are ``text``: compare a loaded word with a string prefix."""
    return int.from_bytes(text, "little")
