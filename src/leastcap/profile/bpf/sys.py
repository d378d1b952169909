"""The bpf(2) and perf_event_open(2) system calls, through ctypes (Python has no binding for them).

Only what leastcap needs: hash/array maps, loading a tracepoint program (with the verifier's log on
failure), attaching it to a tracepoint through a perf event, and reading maps out in batches.
Every object is a file descriptor: closing it (or the recorder dying) detaches and frees it, so a
crash cannot leave a program attached.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import struct
from collections.abc import Iterator

# (bpf, perf_event_open) numbers per architecture (arch/*/include/asm/unistd*.h).
_SYSCALLS = {"x86_64": (321, 298), "aarch64": (280, 241)}

# bpf commands (enum bpf_cmd)
MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY, PROG_LOAD = 0, 1, 2, 3, 4, 5
MAP_LOOKUP_AND_DELETE_BATCH = 25
# map types
MAP_HASH, MAP_ARRAY, MAP_PERCPU_ARRAY = 1, 2, 6
MAP_F_NO_PREALLOC = 1
# update flags
ANY, NOEXIST = 0, 1
PROG_TYPE_TRACEPOINT, PROG_TYPE_TRACING = 5, 26
TRACE_FENTRY, TRACE_FEXIT = 24, 25
RAW_TRACEPOINT_OPEN = 17
# perf
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 8
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408
_PERF_ATTR_SIZE = 128

_libc = ctypes.CDLL(None, use_errno=True)


class BpfError(OSError):
    """A bpf(2)/perf_event_open(2) failure; ``log`` is the verifier's output for a program load."""

    def __init__(self, err: int, what: str, log: str = "") -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}")
        self.log = log


def _numbers() -> tuple[int, int]:
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise BpfError(errno.ENOSYS, f"bpf on {platform.machine()} (supported: {', '.join(_SYSCALLS)})")
    return numbers


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    result: int = _libc.syscall(ctypes.c_long(_numbers()[0]), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if result < 0:
        raise BpfError(ctypes.get_errno(), what)
    return result


def _attr(data: bytes, size: int = 144) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(data.ljust(size, b"\0"), size)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0) -> int:
    return _bpf(
        MAP_CREATE, _attr(struct.pack("<IIIII", map_type, key_size, value_size, max_entries, flags)), "map create"
    )


def map_update(fd: int, key: bytes, value: bytes, flags: int = ANY) -> None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value, len(value))
    attr = struct.pack("<I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), flags)
    _bpf(MAP_UPDATE_ELEM, _attr(attr), "map update")


def _unless_absent(cmd: int, attr: bytes, what: str, out: ctypes.Array[ctypes.c_char]) -> bytes | None:
    """Run a command that fills ``out``; None when it answers ENOENT (no such key, no next key)."""
    try:
        _bpf(cmd, _attr(attr), what)
    except BpfError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return out.raw


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    k, v = ctypes.create_string_buffer(key, len(key)), ctypes.create_string_buffer(value_size)
    attr = struct.pack("<I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), 0)
    return _unless_absent(MAP_LOOKUP_ELEM, attr, "map lookup", v)


def map_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """The key after ``key`` (the first with None), or None at the end (BPF_MAP_GET_NEXT_KEY)."""
    k = ctypes.create_string_buffer(key or b"\0" * key_size, key_size)
    nxt = ctypes.create_string_buffer(key_size)
    attr = struct.pack("<I4xQQ", fd, 0 if key is None else ctypes.addressof(k), ctypes.addressof(nxt))
    return _unless_absent(MAP_GET_NEXT_KEY, attr, "map next key", nxt)


def map_lookup_and_delete_all(
    fd: int, key_size: int, value_size: int, batch: int = 256
) -> Iterator[tuple[bytes, bytes]]:
    """Every element of a hash map, each removed as it is read (BPF_MAP_LOOKUP_AND_DELETE_BATCH).

    Elements added while this runs are either returned or left for the next call: none is lost.
    """
    keys = ctypes.create_string_buffer(key_size * batch)
    values = ctypes.create_string_buffer(value_size * batch)
    in_batch, out_batch = ctypes.create_string_buffer(8), ctypes.create_string_buffer(8)
    first = True
    while True:
        attr = struct.pack(
            "<QQQQIIQQ",
            0 if first else ctypes.addressof(in_batch),
            ctypes.addressof(out_batch),
            ctypes.addressof(keys),
            ctypes.addressof(values),
            batch,
            fd,
            0,
            0,
        )
        buf = _attr(attr)
        done = False
        try:
            _bpf(MAP_LOOKUP_AND_DELETE_BATCH, buf, "map batch read")
        except BpfError as exc:
            if exc.errno != errno.ENOENT:
                raise
            done = True
        count = struct.unpack_from("<I", buf.raw, 32)[0]
        raw_keys, raw_values = keys.raw, values.raw
        for i in range(count):
            yield raw_keys[i * key_size : (i + 1) * key_size], raw_values[i * value_size : (i + 1) * value_size]
        if done or count == 0:
            return
        ctypes.memmove(in_batch, out_batch, 8)
        first = False


def prog_load(
    code: bytes,
    license_name: str = "Dual MIT/GPL",
    log_size: int = 1 << 20,
    *,
    prog_type: int = PROG_TYPE_TRACEPOINT,
    attach_type: int = 0,
    attach_btf_id: int = 0,
) -> int:
    """Load a program: a tracepoint program, or (PROG_TYPE_TRACING with an attach type and the BTF id
    of a kernel function) an fentry/fexit one. The license must be GPL-compatible for the helpers."""
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license_name.encode())
    log = ctypes.create_string_buffer(log_size)
    # union bpf_attr, BPF_PROG_LOAD: ... prog_name[16], prog_ifindex, expected_attach_type, prog_btf_fd,
    # func_info_rec_size, func_info, func_info_cnt, line_info_rec_size, line_info, line_info_cnt,
    # attach_btf_id, attach_btf_obj_fd (0: vmlinux).
    attr = struct.pack(
        "<IIQQIIQII16sIIIIQIIQIII",
        prog_type,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(lic),
        1,  # log level: the verifier explains a rejection
        log_size,
        ctypes.addressof(log),
        0,
        0,
        b"leastcap",
        0,
        attach_type,
        0, 0, 0, 0, 0, 0, 0,
        attach_btf_id,
        0,
    )  # fmt: skip
    try:
        return _bpf(PROG_LOAD, _attr(attr), "program load")
    except BpfError as exc:
        raise BpfError(exc.errno or errno.EINVAL, "program load", log.value.decode(errors="replace")) from None


def attach_tracepoint(tracepoint_id: int, prog_fd: int) -> int:
    """Attach ``prog_fd`` to a tracepoint (by its tracefs ``id``); returns the perf event's fd.

    A tracepoint program runs for the event on every CPU, whichever CPU its perf event was opened on.
    """
    attr = struct.pack("<IIQQQQQII", PERF_TYPE_TRACEPOINT, _PERF_ATTR_SIZE, tracepoint_id, 1, 0, 0, 0, 1, 0)
    buf = ctypes.create_string_buffer(attr.ljust(_PERF_ATTR_SIZE, b"\0"), _PERF_ATTR_SIZE)
    fd: int = _libc.syscall(
        ctypes.c_long(_numbers()[1]), buf, ctypes.c_int(-1), ctypes.c_int(0), ctypes.c_int(-1),
        ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC),
    )  # fmt: skip
    if fd < 0:
        raise BpfError(ctypes.get_errno(), f"perf_event_open of tracepoint {tracepoint_id}")
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError:
        os.close(fd)
        raise
    return fd


def attach_tracing(prog_fd: int) -> int:
    """Attach a loaded fentry/fexit program to its function; returns the link's fd."""
    attr = _attr(struct.pack("<QI", 0, prog_fd))
    return _bpf(RAW_TRACEPOINT_OPEN, attr, "fentry/fexit attach")
