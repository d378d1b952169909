"""The fanotify event parser, on records built byte for byte as include/uapi/linux/fanotify.h lays
them out, and the mapping of paths rendered from another mount namespace into the container's."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from leastcap.profile import fanotify as fan
from leastcap.profile.openwatch import _Prefix


def record(mask: int, fd: int, tid: int, info: bytes = b"", version: int = 3) -> bytes:
    return struct.pack("=IBBHQii", 24 + len(info), version, 0, 24, mask, fd, tid) + info


def dir_fid_name(handle_type: int, f_handle: bytes, name: bytes) -> bytes:
    body = b"\x07" * 8 + struct.pack("=Ii", len(f_handle), handle_type) + f_handle + name + b"\0"
    body += b"\0" * (-(4 + len(body)) % 4)  # the kernel pads each record to 4 bytes
    return struct.pack("=BBH", fan.INFO_DFID_NAME, 0, 4 + len(body)) + body


def test_a_directory_handle_and_name_then_a_file_descriptor() -> None:
    handle = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    buf = record(fan.FAN_OPEN | fan.FAN_CLOSE_WRITE, -1, 41, dir_fid_name(1, handle, b"tun"))
    buf += record(fan.FAN_CLOSE_WRITE, 9, 42)
    assert list(fan.parse_events(buf)) == [
        fan.RawEvent(0x28, 41, -1, struct.pack("=Ii", 8, 1) + handle, "tun"),
        fan.RawEvent(0x8, 42, 9),
    ]


def test_a_truncated_or_unknown_record_ends_the_batch() -> None:
    first = record(fan.FAN_CLOSE_WRITE, 5, 1)
    assert list(fan.parse_events(first + record(fan.FAN_OPEN, 6, 2)[:-1])) == [fan.RawEvent(8, 1, 5)]
    assert list(fan.parse_events(record(fan.FAN_OPEN, 6, 2, version=4) + first)) == []
    # An information record longer than its event keeps the event, without a name.
    info = dir_fid_name(1, b"\x01" * 8, b"null")
    broken = info[:2] + struct.pack("=H", 200) + info[4:]
    assert list(fan.parse_events(record(fan.FAN_OPEN, -1, 3, broken))) == [fan.RawEvent(0x20, 3, -1)]


@given(st.binary(max_size=512))
def test_any_bytes_parse_without_error(buf: bytes) -> None:
    for event in fan.parse_events(buf):
        assert isinstance(event.mask, int)


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1), st.binary(max_size=40))))
def test_built_records_parse_back(events: list[tuple[int, int, bytes]]) -> None:
    buf = b"".join(record(mask, fd, 7, dir_fid_name(1, handle, b"n")) for mask, fd, handle in events)
    parsed = list(fan.parse_events(buf))
    assert [(e.mask, e.fd, e.dir_handle, e.name) for e in parsed] == [
        (mask, fd, struct.pack("=Ii", len(handle), 1) + handle, "n") for mask, fd, handle in events
    ]


def test_paths_rendered_from_another_mount_namespace_map_into_the_container() -> None:
    dev = _Prefix("/dev", "/dev")
    assert (dev.canonical("/dev"), dev.canonical("/dev/net"), dev.canonical("/devices")) == ("/dev", "/dev/net", None)
    # A mount rendered as its namespace's root, or under another name, still maps below /dev.
    assert _Prefix("/", "/dev").canonical("/net") == "/dev/net"
    assert _Prefix("/x/dev/", "/dev").canonical("/x/dev/net/tun") == "/dev/net/tun"
    assert _Prefix("/proc/sys", "/proc/sys").canonical("/proc/self/oom_score_adj") is None


def test_an_open_below_dev_counts_in_the_mode_its_close_tells() -> None:
    from leastcap.profile.openwatch import Tally

    tally = Tally(comm_of=lambda tid: f"task{tid}")
    tally.device(1.0, 7, "/dev/net/tun", fan.FAN_OPEN)
    tally.device(1.5, 7, "/dev/net/tun", fan.FAN_CLOSE_WRITE)  # read later: the open's time counts
    tally.device(2.0, 7, "/dev/fuse", fan.FAN_OPEN | fan.FAN_CLOSE_NOWRITE)  # folded into one record
    tally.device(3.0, 8, "/dev/fuse", fan.FAN_CLOSE_WRITE)  # its open was folded into an earlier one
    tally.device(4.0, 9, "/dev/kvm", fan.FAN_OPEN)  # still open
    assert [(o.ts, o.pid, o.comm, o.path, o.flags, o.count) for o in tally.drain()] == [
        (1.0, 7, "task7", "/dev/net/tun", 1, 1),
        (2.0, 7, "task7", "/dev/fuse", 0, 1),
        (3.0, 8, "task8", "/dev/fuse", 1, 1),
    ]
    tally.device(5.0, 7, "/dev/net/tun", fan.FAN_OPEN | fan.FAN_CLOSE_WRITE)
    tally.settle(lambda tid, path: 2 if (tid, path) == (9, "/dev/kvm") else 0)
    assert [(o.ts, o.pid, o.path, o.flags, o.count) for o in tally.drain()] == [
        (5.0, 7, "/dev/net/tun", 1, 1),
        (4.0, 9, "/dev/kvm", 2, 1),
    ]
    assert tally.drain() == []
