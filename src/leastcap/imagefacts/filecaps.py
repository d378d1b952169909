"""``security.capability``: the file capabilities of a binary (linux/capability.h, vfs_cap_data).

Layout, little-endian: ``magic_etc`` (revision in the high byte, bit 0 = effective), then per
32-bit half the permitted and inheritable masks. Revision 1 has one half; 2 has two; 3 adds the
root uid of the user namespace it was set in.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from leastcap.capabilities import CAPABILITY_BY_NUMBER, CAPABILITY_NUMBERS, normalize, short

_REVISION_MASK = 0xFF000000
_EFFECTIVE = 0x000001
_REV1, _REV2, _REV3 = 0x01000000, 0x02000000, 0x03000000


@dataclass(frozen=True, slots=True)
class FileCapabilities:
    permitted: tuple[str, ...]  # short names, in capability order
    inheritable: tuple[str, ...]
    effective: bool
    rootid: int | None = None  # revision 3 only

    def describe(self) -> str:
        names = ",".join(n.lower() for n in self.permitted) or "none"
        flags = "ep" if self.effective else "p"
        return f"cap_{names.replace(',', ',cap_')}={flags}" if self.permitted else "no permitted capabilities"


def _names(mask: int) -> tuple[str, ...]:
    return tuple(short(CAPABILITY_BY_NUMBER[n]) for n in sorted(CAPABILITY_BY_NUMBER) if mask >> n & 1)


def decode(blob: bytes) -> FileCapabilities | None:
    """The capabilities in a ``security.capability`` value, or None when it is not one."""
    if len(blob) < 4:
        return None
    (magic,) = struct.unpack_from("<I", blob)
    revision = magic & _REVISION_MASK
    halves = {_REV1: 1, _REV2: 2, _REV3: 2}.get(revision)
    if halves is None or len(blob) < 4 + 8 * halves:
        return None
    permitted = inheritable = 0
    for half in range(halves):
        p, i = struct.unpack_from("<II", blob, 4 + 8 * half)
        permitted |= p << (32 * half)
        inheritable |= i << (32 * half)
    rootid = None
    if revision == _REV3:
        if len(blob) < 24:
            return None
        (rootid,) = struct.unpack_from("<I", blob, 20)
    return FileCapabilities(_names(permitted), _names(inheritable), bool(magic & _EFFECTIVE), rootid)


def encode(permitted: tuple[str, ...], effective: bool = True) -> bytes:
    """A revision-2 value granting ``permitted`` (short names): how ``setcap cap_x+ep`` stores it."""
    mask = 0
    for name in permitted:
        mask |= 1 << CAPABILITY_NUMBERS[normalize(name)]
    return struct.pack("<IIIII", _REV2 | (_EFFECTIVE if effective else 0), mask & 0xFFFFFFFF, 0, mask >> 32, 0)
