"""Read an instance's binary ring buffer (``per_cpu/cpu*/trace_pipe_raw``) instead of ``trace_pipe``.

Why: with a kernel stack on every capability check (most of them the SYS_ADMIN no-audit probe of
every mmap/brk/exec), reading ``trace_pipe`` text made the kernel format ~20 lines per check (one
kallsyms lookup per frame) and Python split and match each of them, on a core the traced workload
needs. The raw pages are copied out unformatted; a check is two records (the event and its stack),
decoded with ``struct`` at the offsets of the events' ``format`` files, and each distinct stack is
symbolised once (``/proc/kallsyms``, cached by its raw bytes).

Pages are copied out of the ring buffer as they fill (so it does not overrun), but decoded only once
16 MiB are waiting or the recording ends: decoding is most of the reader's CPU, and on a small
machine it competed with the traced service for a core (bench/profile.py). Overruns are still
read from ``per_cpu/cpu*/stats``; a page flagged "events missed" is counted too.

The decoded events are the same ``events`` objects the text parser makes (tests compare both on the
same workload). Per-CPU buffers are merged by timestamp: the instance uses the ``mono`` trace clock,
so an event is handed on once every CPU has been read past it (a watermark a little behind
``time.monotonic_ns()`` taken before the reads), which keeps fork/exec/exit order across CPUs.

Ring-buffer page layout (``events/header_page``, ``events/header_event``): a u64 timestamp, a u64
``commit`` (data size; bit 31: events were lost before this page), then records with a u32 header
``type_len:5 | time_delta:27``: 1..28 = data of type_len*4 bytes; 0 = length in the next u32;
29 padding; 30 time extend; 31 absolute time stamp.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leastcap.profile.events import CapCheck, CgroupAttach, Event, Exec, Exit, Fork, Rename
from leastcap.profile.tracefs import CAP_EVENT, OPTIONAL_EVENTS, SCHED_EVENTS, Instance, _write

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_PAGE_HEADER = 16
_COMMIT_MASK = (1 << 27) - 1
_MISSED_EVENTS = 1 << 31
_MISSED_STORED = 1 << 30
_PADDING, _TIME_EXTEND, _TIME_STAMP = 29, 30, 31
_TS_MSB = ~((1 << 59) - 1) & ((1 << 64) - 1)
STACK_EVENT = "ftrace/kernel_stack"
# How far behind "now" the merge stays: a record reserved just before a read may still be in flight
# on another CPU (writers run with preemption off, so microseconds; this is ample).
MERGE_MARGIN_NS = 50_000_000
# Raw pages kept before they are decoded (bounded memory; see RawReader._run), and the poll period.
DECODE_BACKLOG_BYTES = 16 << 20
POLL_SECONDS = 0.05


class RawUnavailableError(RuntimeError):
    """The raw reader cannot be used here (the caller falls back to trace_pipe text)."""


@dataclass(frozen=True, slots=True)
class FieldFormat:
    offset: int
    size: int
    signed: bool
    data_loc: bool


def read_format(path: Path) -> tuple[int, dict[str, FieldFormat]]:
    """The event id and its fields from a tracefs ``format`` file."""
    event_id = -1
    fields: dict[str, FieldFormat] = {}
    for raw_line in path.read_text().splitlines():
        line = raw_line.strip()
        if line.startswith("ID:"):
            event_id = int(line[3:])
        elif line.startswith("field:"):
            parts = dict(p.strip().split(":", 1) for p in line.split(";") if ":" in p)
            decl = parts["field"].strip()
            name = decl.split()[-1].split("[")[0]
            fields[name] = FieldFormat(
                int(parts["offset"]),
                int(parts["size"]),
                parts.get("signed", "0").strip() == "1",
                decl.startswith("__data_loc"),
            )
    if event_id < 0:
        raise RawUnavailableError(f"no ID in {path}")
    return event_id, fields


class Symbols:
    """Kernel addresses to names, as ``%ps`` prints them (``name`` or ``name [module]``)."""

    def __init__(self, kallsyms: str) -> None:
        entries: list[tuple[int, str]] = []
        for line in kallsyms.splitlines():
            parts = line.split()
            if len(parts) < 3 or parts[1] not in "tTwW":
                continue
            name = parts[2] if len(parts) == 3 else f"{parts[2]} {parts[3]}"
            entries.append((int(parts[0], 16), name))
        entries.sort()
        self._addrs = [a for a, _ in entries]
        self._names = [n for _, n in entries]
        if not self._addrs or self._addrs[-1] == 0:
            raise RawUnavailableError("/proc/kallsyms shows no addresses (kptr_restrict, or not root)")

    def name(self, addr: int) -> str:
        i = bisect.bisect_right(self._addrs, addr) - 1
        return self._names[i] if i >= 0 else f"0x{addr:x}"

    def span(self, name: str) -> tuple[int, int] | None:
        """[start, end) of a text symbol: from its address to the next symbol's."""
        try:
            i = self._names.index(name)
        except ValueError:
            return None
        end = next((a for a in self._addrs[i + 1 :] if a > self._addrs[i]), None)
        return None if end is None else (self._addrs[i], end)


@functools.cache
def kernel_symbols() -> Symbols:
    """Loaded once per process (~0.2 s): symbols do not move while the kernel runs."""
    return Symbols(Path("/proc/kallsyms").read_text())


def _str_at(data: bytes, start: int, loc: int) -> str:
    """A ``__data_loc char[]`` field: u32 offset | length << 16, relative to the record."""
    off, length = loc & 0xFFFF, loc >> 16
    raw = data[start + off : start + off + length]
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def _fixed_str(data: bytes, start: int, f: FieldFormat) -> str:
    raw = data[start + f.offset : start + f.offset + f.size]
    return raw.split(b"\0", 1)[0].decode(errors="replace")


class Decoder:
    """Decodes pages of one instance into events, per CPU, with each stack attached to its check."""

    def __init__(self, events_dir: Path, symbols: Symbols) -> None:
        self._symbols = symbols
        self._stacks: dict[bytes, tuple[str, ...]] = {}
        self._comm: dict[int, str] = {}
        self._awaiting: dict[tuple[int, int], CapCheck] = {}
        self.records = 0
        self.missed_pages = 0
        ids: dict[str, tuple[int, dict[str, FieldFormat]]] = {}
        for name in (CAP_EVENT, STACK_EVENT, *SCHED_EVENTS, *OPTIONAL_EVENTS):
            fmt = events_dir / name / "format"
            if fmt.exists():
                ids[name] = read_format(fmt)
            elif name in (CAP_EVENT, STACK_EVENT, *SCHED_EVENTS):
                raise RawUnavailableError(f"{fmt} is missing")
        try:
            cap = ids[CAP_EVENT][1]
            self._cap_id, self._cap_off, self._ret_off = ids[CAP_EVENT][0], cap["cap"].offset, cap["ret"].offset
            stack = ids[STACK_EVENT][1]
            self._stack_id, self._size_off, self._caller_off = (
                ids[STACK_EVENT][0],
                stack["size"].offset,
                stack["caller"].offset,
            )
            fork = ids["sched/sched_process_fork"]
            self._fork_id, self._fork = fork
            exe = ids["sched/sched_process_exec"]
            self._exec_id, self._exec = exe
            ex = ids["sched/sched_process_exit"]
            self._exit_id, self._exit = ex
            ren = ids.get("task/task_rename")
            self._rename_id, self._rename = ren if ren else (-2, {})
            att = ids.get("cgroup/cgroup_attach_task")
            self._attach_id, self._attach = att if att else (-3, {})
        except KeyError as exc:
            raise RawUnavailableError(f"unexpected event format (no field {exc})") from exc
        if self._caller_off % 8 or stack["caller"].size % 8:
            raise RawUnavailableError("unexpected kernel_stack format")

    def _int(self, data: bytes, start: int, f: FieldFormat) -> int:
        value: int = (_I32 if f.signed else _U32).unpack_from(data, start + f.offset)[0]
        return value

    def _name_of(self, pid: int) -> str:
        # Tasks that existed before the recording are named by the process tree (from /proc, when
        # the collector's roots are set); this is tracefs' own placeholder for a name it lacks.
        return self._comm.get(pid, "<...>")

    def _frames(self, blob: bytes) -> tuple[str, ...]:
        frames = self._stacks.get(blob)
        if frames is None:
            names: list[str] = []
            for (addr,) in struct.iter_unpack("<Q", blob):
                if addr == 0xFFFFFFFFFFFFFFFF:
                    break
                names.append(self._symbols.name(addr))
            frames = tuple(names)
            self._stacks[blob] = frames
        return frames

    def page(self, data: bytes, cpu: int, out: list[tuple[int, Event]]) -> None:
        """Append ``(timestamp ns, event)`` for every record of one page, in order."""
        ts = _U64.unpack_from(data, 0)[0]
        commit = _U64.unpack_from(data, 8)[0]
        if commit & _MISSED_EVENTS:
            self.missed_pages += 1
        end = _PAGE_HEADER + (commit & _COMMIT_MASK)
        end = min(end, len(data))
        pos = _PAGE_HEADER
        unpack_u32 = _U32.unpack_from
        while pos + 4 <= end:
            header = unpack_u32(data, pos)[0]
            type_len = header & 0x1F
            delta = header >> 5
            if type_len == _PADDING:
                if delta == 0:
                    break
                pos += 4 + unpack_u32(data, pos + 4)[0]
                continue
            if type_len == _TIME_EXTEND:
                ts += (unpack_u32(data, pos + 4)[0] << 27) | delta
                pos += 8
                continue
            if type_len == _TIME_STAMP:
                stamp = (unpack_u32(data, pos + 4)[0] << 27) | delta
                ts = stamp | (ts & _TS_MSB)
                pos += 8
                continue
            ts += delta
            if type_len:
                start, length = pos + 4, type_len * 4
            else:
                start, length = pos + 8, unpack_u32(data, pos + 4)[0] - 4
            pos = start + length
            self.records += 1
            self._record(data, start, length, ts, cpu, out)

    def _record(self, data: bytes, start: int, length: int, ts: int, cpu: int, out: list[tuple[int, Event]]) -> None:
        etype = data[start] | (data[start + 1] << 8)
        pid = _I32.unpack_from(data, start + 4)[0]
        if etype == self._cap_id:
            cap = _I32.unpack_from(data, start + self._cap_off)[0]
            ret = _I32.unpack_from(data, start + self._ret_off)[0]
            check = CapCheck(ts / 1e9, pid, self._name_of(pid), cap, ret)
            # The stacktrace trigger writes the stack right after its event, on the same CPU.
            self._awaiting[(cpu, pid)] = check
            out.append((ts, check))
        elif etype == self._stack_id:
            waiting = self._awaiting.pop((cpu, pid), None)
            if waiting is not None:
                n = _I32.unpack_from(data, start + self._size_off)[0]
                first = start + self._caller_off
                last = min(first + 8 * n, start + length)
                waiting.stack.extend(self._frames(data[first:last]))
        elif etype == self._fork_id:
            f = self._fork
            parent = self._int(data, start, f["parent_pid"])
            child = self._int(data, start, f["child_pid"])
            c = f["child_comm"]
            comm = _str_at(data, start, self._int(data, start, c)) if c.data_loc else _fixed_str(data, start, c)
            self._comm[child] = comm
            out.append((ts, Fork(ts / 1e9, parent, child, comm)))
        elif etype == self._exec_id:
            f = self._exec
            filename = _str_at(data, start, self._int(data, start, f["filename"]))
            new = self._int(data, start, f["pid"])
            comm = filename.rsplit("/", 1)[-1][:15]
            self._comm[new] = comm
            out.append((ts, Exec(ts / 1e9, new, self._int(data, start, f["old_pid"]), filename, comm)))
        elif etype == self._exit_id:
            gone = self._int(data, start, self._exit["pid"])
            self._comm.pop(gone, None)
            out.append((ts, Exit(ts / 1e9, gone)))
        elif etype == self._rename_id:
            f = self._rename
            renamed = self._int(data, start, f["pid"])
            comm = _fixed_str(data, start, f["newcomm"])
            self._comm[renamed] = comm
            out.append((ts, Rename(ts / 1e9, renamed, comm)))
        elif etype == self._attach_id:
            f = self._attach
            path = _str_at(data, start, self._int(data, start, f["dst_path"]))
            out.append((ts, CgroupAttach(ts / 1e9, self._int(data, start, f["pid"]), path)))


def _ts(item: tuple[int, Event]) -> int:
    return item[0]


def raw_supported(instance: Instance) -> bool:
    """Whether this instance can be read raw (per-CPU raw pipes, kallsyms, the mono clock)."""
    try:
        kernel_symbols()
    except (OSError, RawUnavailableError, ValueError):
        return False
    clock = instance.path / "trace_clock"
    return (
        clock.exists()
        and "mono" in clock.read_text().replace("[", " ").replace("]", " ").split()
        and any((instance.path / "per_cpu").glob("cpu*/trace_pipe_raw"))
    )


class RawReader:
    """Reads every CPU's ``trace_pipe_raw`` on a thread; hands ``sink`` events in timestamp order.

    Construct before ``instance.start()``: it switches the instance's clock to ``mono``.
    """

    def __init__(
        self,
        instance: Instance,
        sink: Callable[[list[Event]], None],
        backlog_limit: int = DECODE_BACKLOG_BYTES,
    ) -> None:
        _write(instance.path / "trace_clock", "mono")
        self._decoder = Decoder(instance.path / "events", kernel_symbols())
        subbuf = instance.path / "buffer_subbuf_size_kb"
        self._page = int(subbuf.read_text()) * 1024 if subbuf.exists() else 4096
        self._sink = sink
        self._fds: list[tuple[int, int]] = []
        for cpu_dir in sorted((instance.path / "per_cpu").glob("cpu*"), key=lambda p: int(p.name[3:])):
            fd = os.open(cpu_dir / "trace_pipe_raw", os.O_RDONLY | os.O_NONBLOCK)
            self._fds.append((int(cpu_dir.name[3:]), fd))
        self._pending: dict[int, list[tuple[int, Event]]] = {cpu: [] for cpu, _ in self._fds}
        self._backlog: list[tuple[int, bytes]] = []
        self._backlog_bytes = 0
        self._backlog_limit = backlog_limit
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="leastcap-trace-raw", daemon=True)
        self._thread.start()

    @property
    def records(self) -> int:
        return self._decoder.records

    @property
    def missed_pages(self) -> int:
        return self._decoder.missed_pages

    def _drain(self) -> bool:
        """Copy every CPU's pages out of the ring buffer until it is empty; True when any were."""
        got = False
        for cpu, fd in self._fds:
            while True:
                try:
                    data = os.read(fd, self._page)
                except BlockingIOError:
                    break
                if not data:
                    break
                got = True
                self._backlog.append((cpu, data))
                self._backlog_bytes += len(data)
        return got

    def _decode(self) -> None:
        for cpu, data in self._backlog:
            self._decoder.page(data, cpu, self._pending[cpu])
        self._backlog = []
        self._backlog_bytes = 0

    def _emit(self, watermark: int | None) -> None:
        ready: list[tuple[int, Event]] = []
        for cpu, queue in self._pending.items():
            cut = len(queue) if watermark is None else bisect.bisect_right(queue, watermark, key=_ts)
            if cut:
                ready.extend(queue[:cut])
                self._pending[cpu] = queue[cut:]
        if ready:
            ready.sort(key=_ts)  # stable: same-timestamp records keep CPU order
            self._sink([event for _, event in ready])

    def _run(self) -> None:
        try:
            read_at = time.monotonic_ns()
            while not self._stop.is_set():
                now = time.monotonic_ns()
                if self._drain():
                    read_at = now
                # Copying pages out keeps the ring buffer from overrunning and costs little; decoding
                # them is most of the reader's CPU, so it waits for a large backlog or the end of the
                # recording instead of competing with the traced service for a core.
                if self._backlog_bytes >= self._backlog_limit:
                    self._decode()
                    self._emit(read_at - MERGE_MARGIN_NS)
                time.sleep(POLL_SECONDS)
            self._drain()
            self._decode()
            self._emit(None)
        except BaseException as exc:  # reported by stop(); a dead reader must not go unnoticed
            self.error = exc

    def stop(self) -> None:
        """Drain what is buffered, then stop. Call after tracing was stopped."""
        self._stop.set()
        self._thread.join(timeout=30)
        for _, fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.error is not None:
            raise RuntimeError(f"reading the raw trace failed: {self.error}") from self.error
