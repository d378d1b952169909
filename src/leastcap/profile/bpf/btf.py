"""Find a kernel function's BTF type id in ``/sys/kernel/btf/vmlinux`` (for fentry/fexit programs).

The BTF blob is a header, a type section and a string section (Documentation/bpf/btf.rst). Types are
numbered from 1 in order; each is a 12-byte ``btf_type`` followed by kind-specific data whose size
depends on the kind and ``vlen``. Only FUNC names are collected.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

VMLINUX = Path("/sys/kernel/btf/vmlinux")
_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")
KIND_FUNC = 12
# Bytes after btf_type, per kind: a constant, or (per-member bytes) times vlen.
_EXTRA_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}  # INT, ARRAY, VAR, DECL_TAG
_EXTRA_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}  # STRUCT, UNION, ENUM, FUNC_PROTO, DATASEC, ENUM64


class BtfError(ValueError):
    pass


def parse_functions(blob: bytes) -> dict[str, int]:
    """Every FUNC's name -> type id."""
    if len(blob) < _HEADER.size:
        raise BtfError("BTF blob too short")
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(blob, 0)
    if magic != _MAGIC:
        raise BtfError("not a little-endian BTF blob")
    types = hdr_len + type_off
    strings = blob[hdr_len + str_off : hdr_len + str_off + str_len]
    funcs: dict[str, int] = {}
    pos, end, type_id = types, types + type_len, 1
    while pos + _TYPE.size <= end:
        name_off, info, _size = _TYPE.unpack_from(blob, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        pos += _TYPE.size
        if kind in _EXTRA_FIXED:
            pos += _EXTRA_FIXED[kind]
        elif kind in _EXTRA_PER_VLEN:
            pos += _EXTRA_PER_VLEN[kind] * vlen
        elif kind == KIND_FUNC:
            stop = strings.find(b"\0", name_off)
            funcs[strings[name_off:stop].decode(errors="replace")] = type_id
        type_id += 1
    return funcs


@functools.cache
def kernel_functions() -> dict[str, int]:
    try:
        return parse_functions(VMLINUX.read_bytes())
    except OSError as exc:
        raise BtfError(f"cannot read {VMLINUX} (a kernel built with CONFIG_DEBUG_INFO_BTF): {exc}") from None


def function_id(name: str) -> int:
    funcs = kernel_functions()
    if name not in funcs:
        raise BtfError(f"the kernel's BTF has no function {name}")
    return funcs[name]
