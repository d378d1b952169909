"""The BPF recorder: its assembler and BTF reader on fixed inputs, and the recorder on the real kernel
(tracking a child of this test process, which makes known capability checks and opens)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from leastcap.profile.bpf import asm, btf
from leastcap.profile.bpf.recorder import BpfRecorder
from leastcap.profile.classify import classify
from leastcap.profile.events import CapCheck
from support.components import require, require_tracefs

pytestmark = pytest.mark.tracefs


def test_assembler_encodes_instructions_and_resolves_labels() -> None:
    p = asm.Program()
    p.mov_imm(asm.R0, 7)  # b7 00 0000 07000000
    p.jmp_imm(asm.JEQ, asm.R1, 0, "out")  # 15 01 0100 00000000: skip one instruction
    p.ld_map(asm.R1, 5)  # 18 11 0000 05000000 / 00 00 0000 00000000 (two slots)
    p.label("out")
    p.atomic_add(8, asm.R0, 8, asm.R1)  # db 10 0800 00000000
    p.exit()  # 95 00 0000 00000000
    code = p.code()
    assert [code[i : i + 8].hex() for i in range(0, len(code), 8)] == [
        "b700000007000000",
        "1501020000000000",
        "1811000005000000",
        "0000000000000000",
        "db10080000000000",
        "9500000000000000",
    ]


def test_assembler_refuses_unknown_and_duplicate_labels() -> None:
    p = asm.Program()
    p.jmp("nowhere")
    with pytest.raises(ValueError, match="undefined label nowhere"):
        p.code()
    p.label("x")
    with pytest.raises(ValueError, match="defined twice"):
        p.label("x")


def _btf_blob(types: list[bytes], strings: bytes) -> bytes:
    body = b"".join(types)
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


def test_btf_functions_are_numbered_across_kinds_with_their_extra_data() -> None:
    strings = b"\0int\0point\0open_it\0close_it\0"
    int_t = struct.pack("<III", 1, 1 << 24, 4) + struct.pack("<I", 32)  # INT: 4 extra bytes
    struct_t = struct.pack("<III", 5, (4 << 24) | 2, 8) + b"\0" * 24  # STRUCT, 2 members of 12 bytes
    proto = struct.pack("<III", 0, (13 << 24) | 1, 1) + b"\0" * 8  # FUNC_PROTO, 1 param of 8 bytes
    func1 = struct.pack("<III", 11, 12 << 24, 3)  # FUNC open_it -> proto (id 3)
    func2 = struct.pack("<III", 19, 12 << 24, 3)  # FUNC close_it
    blob = _btf_blob([int_t, struct_t, proto, func1, func2], strings)
    assert btf.parse_functions(blob) == {"open_it": 4, "close_it": 5}
    with pytest.raises(btf.BtfError, match="not a little-endian BTF blob"):
        btf.parse_functions(b"\0" * 32)


def test_btf_of_this_kernel_names_the_functions_leastcap_hooks() -> None:
    if not btf.VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    funcs = btf.kernel_functions()
    assert {"security_vm_enough_memory_mm", "do_sys_openat2", "cap_capable"} <= set(funcs)
    assert len(set(funcs.values())) == len(funcs)  # one type id per function


CHILD = r"""
import os, sys
sys.stdin.read(1)                                     # wait until the recorder tracks us
path = sys.argv[1]
for _ in range(3):
    os.chown(path, 1000, 1000)                        # CAP_CHOWN, granted, 3 times from one call site
fd = os.open("/dev/null", os.O_WRONLY); os.close(fd)  # an open below /dev, for writing
fd = os.open("/proc/sys/kernel/ostype", os.O_RDONLY); os.close(fd)
import mmap
for _ in range(2):                                    # the SYS_ADMIN no-audit vm probe, twice
    with mmap.mmap(-1, 1 << 16, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as area:
        area[0] = 1
"""


def _children(tmp_path: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` CHILD processes chowning one file in tmp_path, each waiting for its go-ahead."""
    target = tmp_path / "x"
    target.write_text("")
    return [subprocess.Popen([sys.executable, "-c", CHILD, str(target)], stdin=subprocess.PIPE) for _ in range(count)]


def test_recorder_counts_a_tracked_tasks_checks_and_opens(tmp_path: Path) -> None:
    root = require_tracefs()
    child, bystander = _children(tmp_path, 2)
    try:
        with BpfRecorder(root) as recorder:
            recorder.track([child.pid])  # not the bystander, which does the same
            assert child.stdin is not None and bystander.stdin is not None
            bystander.stdin.write(b"g")
            bystander.stdin.close()
            assert bystander.wait(30) == 0
            child.stdin.write(b"g")
            child.stdin.close()
            assert child.wait(30) == 0
            drained = recorder.drain()
            assert recorder.lost == 0
    finally:
        for proc in (child, bystander):
            proc.kill()
            proc.wait()
    assert {c.pid for c in drained.checks} == {child.pid}
    chown = [c for c in drained.checks if c.cap == 0]
    # chown(uid, gid) checks CAP_CHOWN twice (the owner, then the group), at two call sites: two
    # records, each counting the three calls.
    comm = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert sorted((c.comm, c.ret, c.count) for c in chown) == [(comm, 0, 3), (comm, 0, 3)]
    assert all("setattr_prepare" in c.stack and c.stack[0] == "cap_capable" for c in chown)
    # The vm probe (every private writable mmap/brk) is recognised from its caller's return address,
    # calibrated at start-up: all of the task's probes are one record, and that address is its stack.
    assert recorder.vm_probe is not None
    probes = [c for c in drained.checks if c.cap == 21]
    assert [(p.stack, p.count >= 2) for p in probes] == [(["security_vm_enough_memory_mm"], True)]
    result = classify(drained.checks)
    assert "CAP_CHOWN" in result.required
    assert "CAP_SYS_ADMIN" not in result.required
    assert next(e for e in result.evidence if e.capability == "SYS_ADMIN").decision == "optional_probe"
    opens = {(o.path, o.writes, o.count) for o in drained.opens if o.pid == child.pid}
    assert ("/dev/null", True, 1) in opens
    assert ("/proc/sys/kernel/ostype", False, 1) in opens
    assert {o.pid for o in drained.opens} == {child.pid}


def test_two_recorders_see_only_their_own_tasks(tmp_path: Path) -> None:
    root = require_tracefs()
    a, b = _children(tmp_path, 2)
    try:
        with BpfRecorder(root) as first, BpfRecorder(root) as second:
            first.track([a.pid])
            second.track([b.pid])
            for proc in (a, b):
                assert proc.stdin is not None
                proc.stdin.write(b"g")
                proc.stdin.close()
                assert proc.wait(30) == 0
            seen_first, seen_second = first.drain(), second.drain()
            # A drain empties the maps: the next one has nothing new.
            assert first.drain().checks == [] and second.drain().checks == []
    finally:
        for proc in (a, b):
            proc.kill()
            proc.wait()
    assert {c.pid for c in seen_first.checks} == {a.pid}
    assert {c.pid for c in seen_second.checks} == {b.pid}
    assert seen_first.checks and seen_second.checks


def test_a_full_map_is_counted_as_lost_events_not_dropped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = require_tracefs()
    from leastcap.profile.bpf import recorder as bpf_recorder

    monkeypatch.setattr(bpf_recorder, "CAPS_MAX", 1)  # room for one kind of check only
    (child,) = _children(tmp_path, 1)
    try:
        with BpfRecorder(root) as recorder:
            recorder.track([child.pid])
            assert child.stdin is not None
            child.stdin.write(b"g")
            child.stdin.close()
            assert child.wait(30) == 0
            drained = recorder.drain()
    finally:
        child.kill()
        child.wait()
    assert len(drained.checks) == 1
    # Every other kind of check (the second CHOWN site, the vm probes...) did not fit: each is counted.
    assert recorder.lost >= 1


def test_session_uses_the_bpf_recorder_by_default_and_ftrace_on_request() -> None:
    from leastcap.profile.recorder import Collector, Session

    require_tracefs()
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()]) as auto:
        assert (auto.source, auto.bpf_error, auto.notes) == ("bpf", None, [])
        assert auto.bpf is not None and auto.bpf.opens_via in ("fentry", "syscalls")
        # The instance records only process events: the checks are the BPF recorder's.
        enabled = (auto.instance.path / "events/capability/cap_capable/enable").read_text().strip()
        assert enabled == "0"
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()], recorder="ftrace") as ftrace:
        assert (ftrace.source, ftrace.bpf, ftrace.notes) == ("tracepoint", None, [])
        # "1*": enabled, with the stacktrace trigger attached.
        assert (ftrace.instance.path / "events/capability/cap_capable/enable").read_text().strip() == "1*"


STEPS = r"""
import os, sys
path = sys.argv[1]
def step():
    sys.stdin.readline()                              # the test's go-ahead
step()
os.chown(path, 1000, 1000)                            # CAP_CHOWN through chown(2)...
fd = os.open(path, os.O_RDONLY)
os.chown(fd, 1000, 1000)                              # ... and through fchown(2): another stack
os.close(fd)
os.close(os.open("/dev/null", os.O_RDONLY))
print("opened", flush=True)
step()
os.close(os.open("/dev/zero", os.O_RDONLY))           # after the recorder stopped watching opens
os.chown(path, 1000, 1000)                            # still counted
"""


def _step(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def test_each_stack_is_its_own_record_and_opens_stop_when_asked(tmp_path: Path) -> None:
    root = require_tracefs()
    target = tmp_path / "x"
    target.write_text("")
    child = subprocess.Popen(
        [sys.executable, "-c", STEPS, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        with BpfRecorder(root) as recorder:
            recorder.track([child.pid])
            _step(child)
            assert child.stdout is not None and child.stdout.readline() == "opened\n"
            recorder.stop_opens()
            _step(child)
            assert child.wait(30) == 0
            drained = recorder.drain()
    finally:
        child.kill()
        child.wait()
    assert recorder.opens_via is not None
    assert {o.path for o in drained.opens} == {"/dev/null"}  # not /dev/zero, opened after stop_opens()

    def syscall_of(stack: list[str]) -> str:
        return next(f for f in stack if f.startswith("__x64_sys_") or f.startswith("__arm64_sys_"))

    chown = sorted((syscall_of(c.stack).split("_sys_")[1], c.count) for c in drained.checks if c.cap == 0)
    # chown(2) ran twice (before and after stop_opens) and fchown(2) once; each checks the owner and
    # the group at two call sites. Same call sites, other syscall: other stacks, other records.
    assert chown == [("chown", 2), ("chown", 2), ("fchown", 1), ("fchown", 1)]


def test_session_watches_the_open_syscalls_for_its_window_only() -> None:
    import time

    from leastcap.profile.recorder import Collector, Session

    require_tracefs()
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()], open_window=0.2) as session:
        session.start()
        assert session.bpf is not None and session.bpf.opens_via is not None
        session.tick()
        assert session.opens_closed_at is None
        time.sleep(0.3)
        session.tick()
        assert session.opens_closed_at is not None and session.opens_closed_at >= 0.2
        session.stop()
        # No container was watched with fanotify, so nothing saw the opens after the window.
        assert session.notes == [
            "the open syscalls were watched for the first 0.2 s only (--open-window): devices or sysctls"
            " first used later are not proposed"
        ]
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()], open_window=0) as never:
        assert never.bpf is not None and never.bpf.opens_via is None
        never.start()
        never.stop()
        assert never.notes == [
            "the open syscalls were not watched (--open-window 0): no devices or sysctls are proposed"
        ]
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()], open_window=None) as always:
        always.start()
        time.sleep(0.1)
        always.tick()
        assert always.opens_closed_at is None and always.bpf is not None and always.bpf.opens_via is not None
        always.stop()
        assert always.notes == []
    # "auto" without privileged: the default window.
    with Session(Collector(deferred=True), "tracepoint", [os.getpid()]) as default:
        assert default.open_window == 30.0


FORKS = r"""
import os, sys
paths = sys.argv[1:]
for _ in range(int(sys.stdin.readline())):           # rounds, each after the test's go-ahead
    for _ in range(20):
        pid = os.fork()
        if pid == 0:                                  # a new task: its checks are new records
            for path in paths:
                os.chown(path, 1000, 1000)
            os._exit(0)
        os.waitpid(pid, 0)
    print("round", flush=True)
    sys.stdin.readline()
"""


def _forking_child(*paths: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", FORKS, *map(str, paths)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _rounds(child: subprocess.Popen[str], recorder: BpfRecorder, rounds: int) -> list[CapCheck]:
    """Run the child's rounds, reviewing the recorder's sites after each (as Session.tick does)."""
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(f"{rounds}\n")
    child.stdin.flush()
    checks: list[CapCheck] = []
    for _ in range(rounds):
        assert child.stdout.readline() == "round\n"
        checks += recorder.drain().checks
        child.stdin.write("\n")
        child.stdin.flush()
    assert child.wait(30) == 0
    return checks + recorder.drain().checks


def _chowns(checks: list[CapCheck], parent: int) -> list[CapCheck]:
    return [c for c in checks if c.cap == 0 and c.pid != parent]


def test_calibration_finds_where_a_checks_fingerprint_is_read() -> None:
    root = require_tracefs()
    if os.uname().machine != "x86_64":
        pytest.skip("fingerprints are read on x86-64 only (elsewhere every check is walked)")
    with BpfRecorder(root) as recorder:
        fp = recorder.fingerprint
    assert fp is not None and recorder.vm_probe is not None
    assert fp.thread_size in (1 << 14, 1 << 15) and fp.orig_ax_from_top in (48, 64)
    # The wrapper's return address lies above cap_capable's return address into security_capable.
    assert fp.caller_offset > recorder.vm_probe.offset
    assert fp.end > fp.start


def test_new_tasks_take_a_reviewed_sites_stack_from_the_cache(tmp_path: Path) -> None:
    root = require_tracefs()
    target = tmp_path / "x"
    target.write_text("")
    child = _forking_child(target)
    try:
        with BpfRecorder(root) as recorder:
            if os.uname().machine != "x86_64":
                pytest.skip("fingerprints are read on x86-64 only (elsewhere every check is walked)")
            require(recorder.fingerprint is not None, "a calibrated call-site fingerprint (x86-64, root, kallsyms)")
            recorder.track([child.pid])
            checks = _rounds(child, recorder, 3)
            cached, ambiguous = recorder.cached, recorder.ambiguous_sites()
    finally:
        child.kill()
        child.wait()
    chown = _chowns(checks, child.pid)
    # 60 tasks, each checking the owner and the group once: two records per task, all counted.
    assert len({c.pid for c in chown}) == 60
    assert sorted({(c.count, len([d for d in chown if d.pid == c.pid])) for c in chown}) == [(1, 2)]
    # One stack by name, whether walked or taken from the cache (the owner's and the group's check
    # differ only in the return address inside setattr_prepare, hence two records per task).
    assert len({tuple(c.stack) for c in chown}) == 1
    assert all(c.stack[-3:-1] == ["__x64_sys_chown", "do_syscall_64"] for c in chown)
    # The first round walks and confirms them; after its review, the 40 later tasks' records are all
    # cached (a site is resampled on its SITE_RESAMPLE-th check: each has had fewer here).
    assert ambiguous == 0
    assert cached == 2 * 40


def test_two_stacks_behind_one_fingerprint_make_it_ambiguous_and_walked(tmp_path: Path) -> None:
    root = require_tracefs()
    shm = Path("/dev/shm")
    disk = Path(__file__).resolve()
    require(
        shm.is_dir() and os.stat(shm).st_dev != os.stat(disk).st_dev,
        "/dev/shm on another file system than the tests",
    )
    # chown(2) on a disk file and on a tmpfs file: the same syscall, wrapper and caller of the
    # wrapper (setattr_prepare), but ext4_setattr vs shmem_setattr deeper down.
    on_disk = tmp_path / "x"
    on_disk.write_text("")
    on_tmpfs = shm / f"leastcap-test-{os.getpid()}"
    on_tmpfs.write_text("")
    child = _forking_child(on_disk, on_tmpfs)
    try:
        with BpfRecorder(root) as recorder:
            recorder.track([child.pid])
            checks = _rounds(child, recorder, 3)
            ambiguous = recorder.ambiguous_sites()
    finally:
        child.kill()
        child.wait()
        on_tmpfs.unlink()
    chown = _chowns(checks, child.pid)
    setattrs = [next(f for f in c.stack if f.endswith("_setattr") and f != "notify_change") for c in chown]
    # Each task's four checks are four records, each with its own file system's stack, never the
    # other's: the collision was found while confirming the site, so every check was walked.
    assert len(chown) == 4 * 60 and all(c.count == 1 for c in chown)
    assert sorted(set(setattrs)) == ["ext4_setattr", "shmem_setattr"]
    assert setattrs.count("ext4_setattr") == setattrs.count("shmem_setattr") == 2 * 60
    assert ambiguous >= 1


KILLER = r"""
import os, sys
sys.stdin.read(1)              # wait until both recorders follow us
os.kill(int(sys.argv[1]), 0)   # another uid's process: check_kill_permission asks for CAP_KILL
"""


def _kernel_stacks_of_kill_checks(trace: str) -> list[list[str]]:
    """The stacktrace trigger's stacks that follow a ``cap 5`` event, as function names (no offsets)."""
    stacks: list[list[str]] = []
    lines = trace.splitlines()
    for i, line in enumerate(lines):
        if "cap_capable:" in line and " cap 5," in line:
            j = next(k for k in range(i + 1, len(lines)) if "<stack trace>" in lines[k])
            frames = []
            for frame in lines[j + 1 :]:
                if not frame.startswith(" => "):
                    break
                frames.append(frame[4:].split("+")[0].strip())
            stacks.append(frames)
    return stacks


def test_the_bpf_recorders_stack_is_the_kernels_own(tmp_path: Path) -> None:
    """The frames leastcap reports are the kernel unwinder's, none added or counted twice: the BPF
    recorder's stack of a CAP_KILL check equals the one tracefs' own stacktrace trigger takes of the
    same check (from cap_capable on; the trigger also shows its own trace_event_raw_event_cap_capable).

    Issue 13's check_kill_permission seen twice in a row is in both: the kernel's unwinder reports it."""
    from leastcap.profile.tracefs import Instance

    root = require_tracefs()
    require(os.geteuid() == 0, "root, to start a process of another uid")
    victim = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"])
    killer = subprocess.Popen([sys.executable, "-c", KILLER, str(victim.pid)], stdin=subprocess.PIPE)
    try:
        with Instance(root) as instance, BpfRecorder(root, opens=False) as recorder:
            instance.enable_capability_events("tracepoint")
            instance.filter_pids([killer.pid])
            instance.start()
            recorder.track([killer.pid])
            assert killer.stdin is not None
            killer.stdin.write(b"g")
            killer.stdin.close()
            assert killer.wait(30) == 0
            instance.stop()
            drained = recorder.drain()
            trace = (instance.path / "trace").read_text()
    finally:
        for proc in (killer, victim):
            proc.kill()
            proc.wait()
    bpf_stacks = [c.stack for c in drained.checks if c.cap == 5 and c.pid == killer.pid]
    kernel_stacks = _kernel_stacks_of_kill_checks(trace)
    assert len(bpf_stacks) == 1 and len(kernel_stacks) == 1, (bpf_stacks, trace)
    # From cap_capable on: above it are the tracepoint's own dispatch frames, which differ between the
    # trigger (trace_event_raw_event_cap_capable) and a BPF program (__traceiter_cap_capable).
    kernel = kernel_stacks[0][kernel_stacks[0].index("cap_capable") :]
    ours = bpf_stacks[0][bpf_stacks[0].index("cap_capable") :]
    assert ours == kernel, (bpf_stacks[0], kernel_stacks[0])
    assert "check_kill_permission" in kernel and kernel[-1] == "entry_SYSCALL_64_after_hwframe"
