"""The binary ring-buffer reader (``rawtrace``): page decoding, symbols, and equality with the text.

The decisive test records one workload in two private instances at once, one read as
``trace_pipe`` text (parsed by ``TraceParser``) and one read raw, and requires the same events in
the same order with the same stacks.
"""

from __future__ import annotations

import os
import struct
import subprocess

import pytest

from leastcap.profile.events import CapCheck, Event, Exec, Exit, Fork, Rename, TraceParser
from leastcap.profile.rawtrace import Decoder, RawReader, Symbols, raw_supported, read_format
from leastcap.profile.recorder import Collector, lost_events, open_reader
from leastcap.profile.tracefs import Instance, PipeReader
from support.components import require_tracefs

KALLSYMS = (
    "ffffffff81000000 T _stext\n"
    "ffffffff81001000 t cap_capable\n"
    "ffffffff81002000 T security_vm_enough_memory_mm\n"
    "ffffffff81003000 D some_data\n"
    "ffffffff81004000 T do_syscall_64\n"
    "ffffffffc0001000 t veth_xmit\t[veth]\n"
)


def test_symbols_resolve_like_percent_ps() -> None:
    symbols = Symbols(KALLSYMS)
    assert symbols.name(0xFFFFFFFF81001234) == "cap_capable"
    assert symbols.name(0xFFFFFFFF81002000) == "security_vm_enough_memory_mm"
    # Data symbols are not candidates: a text address after them belongs to the last function.
    assert symbols.name(0xFFFFFFFF81003800) == "security_vm_enough_memory_mm"
    assert symbols.name(0xFFFFFFFFC0001010) == "veth_xmit [veth]"
    assert symbols.name(0x1000) == "0x1000"


def _record(type_len_data: bytes, delta: int) -> bytes:
    """One ring-buffer record: a short one (type_len = size/4) or a long one (type_len 0)."""
    size = len(type_len_data)
    if size <= 112 and size % 4 == 0:
        return struct.pack("<I", (size // 4) | (delta << 5)) + type_len_data
    return struct.pack("<II", delta << 5, size + 4) + type_len_data


def test_page_decoding() -> None:
    root = require_tracefs()
    events = root / "events"
    cap_id, _ = read_format(events / "capability/cap_capable/format")
    stack_id, _ = read_format(events / "ftrace/kernel_stack/format")
    fork_id, _ = read_format(events / "sched/sched_process_fork/format")
    exit_id, _ = read_format(events / "sched/sched_process_exit/format")
    decoder = Decoder(events, Symbols(KALLSYMS))

    cap = struct.pack("<HBBiQQQii", cap_id, 0, 0, 77, 1, 2, 3, 21, 0)
    frames = [0xFFFFFFFF81001010, 0xFFFFFFFF81002020, 0xFFFFFFFF81004040] * 5  # 15 frames: a long record
    stack = struct.pack("<HBBii4x", stack_id, 0, 0, 77, len(frames)) + struct.pack(f"<{len(frames)}Q", *frames)
    # sched_process_fork: __data_loc strings after the fixed part (offset | length << 16).
    fork = struct.pack("<HBBiIiIi", fork_id, 0, 0, 77, 24 | (3 << 16), 77, 27 | (6 << 16), 78) + b"sh\0chown\0\0\0\0"
    exit_ = struct.pack("<HBBi16sii?3x", exit_id, 0, 0, 78, b"chown", 78, 120, True)
    body = (
        _record(cap, 5)
        + _record(stack, 1)
        + struct.pack("<II", 30 | ((1000 & ((1 << 27) - 1)) << 5), 1000 >> 27)  # time extend +1000
        + _record(fork, 10)
        + struct.pack("<II", 29 | (3 << 5), 8)
        + b"\0" * 4  # padding: a discarded 12-byte record
        + _record(exit_, 2)
    )
    page = struct.pack("<QQ", 1_000_000_000, len(body) | (1 << 31)) + body
    page += b"\0" * (4096 - len(page))
    out: list[tuple[int, Event]] = []
    decoder.page(page, 0, out)
    assert [ts for ts, _ in out] == [1_000_000_005, 1_000_001_016, 1_000_001_018]
    check, fork_event, exit_event = (e for _, e in out)
    assert isinstance(check, CapCheck)
    assert (check.pid, check.cap, check.ret) == (77, 21, 0)
    assert check.stack == ["cap_capable", "security_vm_enough_memory_mm", "do_syscall_64"] * 5
    assert fork_event == Fork(1.000001016, 77, 78, "chown")
    assert exit_event == Exit(1.000001018, 78)
    assert decoder.records == 4
    assert decoder.missed_pages == 1  # bit 31 of commit: the kernel lost events before this page


@pytest.mark.tracefs
def test_raw_reader_sees_exactly_what_trace_pipe_shows() -> None:
    require_tracefs()
    lines: list[str] = []
    raw: list[Event] = []
    with Instance() as text_instance, Instance() as raw_instance:
        for instance in (text_instance, raw_instance):
            instance.enable_capability_events("tracepoint")
            instance.filter_pids([os.getpid()])
        assert raw_supported(raw_instance)
        pipe = PipeReader(text_instance, lines.extend)
        reader = RawReader(raw_instance, raw.extend, backlog_limit=1)  # decode as it reads
        text_instance.start()
        raw_instance.start()
        subprocess.run(
            [
                "sh",
                "-c",
                "touch /tmp/lc-raw; for i in 1 2 3 4 5; do chown 1000 /tmp/lc-raw; done;"
                " cat /proc/self/stat > /dev/null; rm /tmp/lc-raw",
            ],
            check=True,
        )
        raw_instance.stop()
        text_instance.stop()
        pipe.stop()
        reader.stop()
        assert (lost_events(text_instance, pipe), lost_events(raw_instance, reader)) == (0, 0)
    parser = TraceParser()
    text = list(parser.feed(lines))
    assert parser.unparsed == 0

    def key(event: Event) -> tuple[object, ...]:
        # Names differ by design: tracefs prints a pid->name cache that lags behind exec.
        if isinstance(event, CapCheck):
            return ("check", event.pid, event.cap, event.ret, tuple(event.stack))
        if isinstance(event, Exec):
            return ("exec", event.pid, event.old_pid, event.filename)
        if isinstance(event, Fork | Exit | Rename):
            return (type(event).__name__, *(getattr(event, f) for f in event.__slots__ if f != "ts"))
        return (type(event).__name__, event.pid, event.path)

    assert [key(e) for e in raw] == [key(e) for e in text]
    checks = [e for e in raw if isinstance(e, CapCheck)]
    assert sum(1 for c in checks if c.cap == 0) == 5  # CHOWN, once per chown
    assert all(c.stack for c in checks)
    # Same intervals (the raw instance uses the mono clock, the text one the local clock; text
    # prints microseconds).
    assert max(abs((r.ts - raw[0].ts) - (t.ts - text[0].ts)) for r, t in zip(raw, text, strict=True)) < 1e-4


@pytest.mark.tracefs
def test_open_reader_picks_raw_for_the_tracepoint_and_text_for_kprobes() -> None:
    require_tracefs()
    with Instance() as instance:
        instance.enable_capability_events("tracepoint")
        collector = Collector()
        reader = open_reader(instance, collector, "tracepoint")
        assert isinstance(reader, RawReader)
        assert (instance.path / "trace_clock").read_text().split().count("[mono]") == 1
        reader.stop()
        text = open_reader(instance, collector, "kprobe")
        assert isinstance(text, PipeReader)
        text.stop()
