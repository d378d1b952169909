"""fanotify(7) through ctypes (Python has no binding): groups, marks, and the events they read back.

fanotify reports file-system events on marked mounts and directories from inside the VFS, after an
open or a close has succeeded. Unlike the open syscalls' tracepoints it costs nothing to syscalls
that touch nothing marked, so it can watch a whole recording (see openwatch).

Only what leastcap needs: notification groups (never permission events, so a stuck reader can never
block the service), mount and directory marks, and a tolerant parser of the event records.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# fanotify_init flags (include/uapi/linux/fanotify.h)
FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_REPORT_TID = 0x100  # the event's pid is the thread id, as in the trace events
FAN_REPORT_DIR_FID = 0x400
FAN_REPORT_NAME = 0x800
FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME
FAN_REPORT_FD_ERROR = 0x2000  # 6.13+: a failed event fd is reported in the event, not by read()
# fanotify_mark flags
FAN_MARK_ADD = 0x1
FAN_MARK_MOUNT = 0x10
# event masks
FAN_CLOSE_WRITE = 0x8
FAN_CLOSE_NOWRITE = 0x10
FAN_OPEN = 0x20
FAN_Q_OVERFLOW = 0x4000
FAN_EVENT_ON_CHILD = 0x08000000
# information records after the metadata
INFO_DFID_NAME, INFO_DFID = 2, 3

_METADATA = struct.Struct("=IBBHQii")  # event_len, vers, reserved, metadata_len, mask, fd, pid
_INFO_HEADER = struct.Struct("=BBH")  # info_type, pad, len
_FSID = 8  # __kernel_fsid_t before each file handle
_HANDLE_HEADER = struct.Struct("=Ii")  # struct file_handle: handle_bytes, handle_type
_METADATA_VERSION = 3

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
_libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
_libc.open_by_handle_at.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event record. ``fd``: an open file (groups that report fds), or negative: none (FID
    groups), or -errno (the kernel could not open it). ``dir_handle`` is the parent directory's
    ``struct file_handle`` (header included, as open_by_handle_at takes it) and ``name`` the entry in
    it, for groups that report them."""

    mask: int
    tid: int
    fd: int
    dir_handle: bytes | None = None
    name: str | None = None


def parse_events(buf: bytes) -> Iterator[RawEvent]:
    """The records in one read(2) of a group. A short, malformed or newer-version record ends the
    batch (the kernel never writes one; this is a parser of bytes, so it never trusts lengths)."""
    offset = 0
    while offset + _METADATA.size <= len(buf):
        length, version, _, meta_len, mask, fd, tid = _METADATA.unpack_from(buf, offset)
        if version != _METADATA_VERSION or length < meta_len or meta_len < _METADATA.size:
            return
        end = offset + length
        if end > len(buf):
            return
        handle, name = _dir_entry(buf[offset + meta_len : end])
        yield RawEvent(mask, tid, fd, handle, name)
        offset = end


def _dir_entry(info: bytes) -> tuple[bytes | None, str | None]:
    at = 0
    while at + _INFO_HEADER.size <= len(info):
        kind, _, length = _INFO_HEADER.unpack_from(info, at)
        if length < _INFO_HEADER.size or at + length > len(info):
            break
        body = info[at + _INFO_HEADER.size : at + length]
        if kind in (INFO_DFID_NAME, INFO_DFID) and len(body) >= _FSID + _HANDLE_HEADER.size:
            size, _ = _HANDLE_HEADER.unpack_from(body, _FSID)
            handle_end = _FSID + _HANDLE_HEADER.size + size
            if handle_end <= len(body):
                name = None
                if kind == INFO_DFID_NAME:
                    name = body[handle_end:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                return body[_FSID:handle_end], name
        at += length
    return None, None


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


class Group:
    """One fanotify group (a file descriptor): add marks, read events, close."""

    def __init__(self, flags: int, event_flags: int) -> None:
        self.fd = _check(_libc.fanotify_init(flags | FAN_CLOEXEC | FAN_NONBLOCK, event_flags), "fanotify_init")

    def mark_mount(self, path: str, mask: int) -> None:
        """Events on the whole mount that ``path`` is on."""
        self._mark(FAN_MARK_ADD | FAN_MARK_MOUNT, mask, path)

    def mark_directory(self, path: str, mask: int) -> None:
        """Events on the files directly in the directory ``path``."""
        self._mark(FAN_MARK_ADD, mask | FAN_EVENT_ON_CHILD, path)

    def _mark(self, flags: int, mask: int, path: str) -> None:
        _check(_libc.fanotify_mark(self.fd, flags, mask, -100, os.fsencode(path)), f"fanotify_mark {path}")

    def read(self, size: int = 65536) -> list[RawEvent]:
        """The events queued now ([] when none). OSError: an event's fd could not be opened (without
        FAN_REPORT_FD_ERROR, the kernel says so by failing the read; that event is gone)."""
        try:
            return list(parse_events(os.read(self.fd, size)))
        except BlockingIOError:
            return []

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_by_handle(mount_fd: int, handle: bytes) -> int:
    """An O_PATH descriptor of the object ``handle`` names on the file system of ``mount_fd``."""
    buf = ctypes.create_string_buffer(handle, len(handle))
    return _check(_libc.open_by_handle_at(mount_fd, buf, os.O_PATH | os.O_CLOEXEC), "open_by_handle_at")
