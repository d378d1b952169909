"""Where the call-site fingerprint is read (``_fingerprint_place``), on fixed calibration copies."""

from __future__ import annotations

import pytest

from leastcap.profile.bpf import calibration as cal
from leastcap.profile.bpf import programs as pg
from leastcap.profile.bpf.recorder import CALIBRATION_SYSCALLS, _fingerprint_place

CAPABLE = (0xFFFF_FFFF_8100_0000, 0xFFFF_FFFF_8100_0100)  # security_capable's span
IN_CAPABLE, WRAPPER_RA = CAPABLE[0] + 0x40, 0xFFFF_FFFF_8120_0010


def _copy(caller: int, wrapper: int | None) -> list[int]:
    """64 words above the program's frame on the SETUID check: the two return addresses at known
    slots, noise elsewhere (kernel-looking values that are neither)."""
    words = [0xFFFF_8880_0000_0000 + 8 * i for i in range(64)]
    words[caller] = IN_CAPABLE
    if wrapper is not None:
        words[wrapper] = WRAPPER_RA
    return words


def _regs(index: int | None) -> list[int]:
    """calibration[3]: the vm probe's candidates, then the SETUID check's; one place holds both."""
    n = len(cal.REGS_CANDIDATES)
    regs = [7, 7, 7, 7, 7, 7, 7, 7, 0]
    if index is not None:
        regs[index], regs[n + index] = CALIBRATION_SYSCALLS["mmap"], CALIBRATION_SYSCALLS["setuid"]
    return regs


def test_the_wrapper_slot_and_the_saved_registers_are_found() -> None:
    walked = [0xFFFF_FFFF_8150_0000, IN_CAPABLE, WRAPPER_RA, 0xFFFF_FFFF_8130_0000]
    fp = _fingerprint_place(37, CAPABLE, _copy(37, 42), walked, _regs(1), "x86_64")
    assert fp == pg.Fingerprint(8 * 42, CAPABLE[0], CAPABLE[1], 1 << 14, 64)


@pytest.mark.parametrize(
    ("caller", "wrapper", "walked_capable", "regs", "why"),
    [
        (37, 42, IN_CAPABLE + 8, 1, "the walk disagrees with the slot on security_capable's return address"),
        (37, None, IN_CAPABLE, 1, "the walk's third frame is nowhere above the slot"),
        (37, 30, IN_CAPABLE, 1, "the wrapper's return address lies below the caller's slot"),
        (37, 42, IN_CAPABLE, None, "no place holds both syscall numbers"),
    ],
)
def test_no_fingerprint_when_the_calibration_does_not_add_up(
    caller: int, wrapper: int | None, walked_capable: int, regs: int | None, why: str
) -> None:
    walked = [0xFFFF_FFFF_8150_0000, walked_capable, WRAPPER_RA, 0xFFFF_FFFF_8130_0000]
    assert _fingerprint_place(caller, CAPABLE, _copy(caller, wrapper), walked, _regs(regs), "x86_64") is None, why


def test_no_fingerprint_off_x86_64() -> None:
    # The saved registers' layout (orig_ax) and the syscall numbers are x86-64's.
    walked = [0xFFFF_FFFF_8150_0000, IN_CAPABLE, WRAPPER_RA, 0xFFFF_FFFF_8130_0000]
    assert _fingerprint_place(37, CAPABLE, _copy(37, 42), walked, _regs(1), "aarch64") is None
