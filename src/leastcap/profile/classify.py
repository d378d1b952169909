"""Turn the service's capability checks into decisions with evidence (docs/profile.md, "Classify").

The tracepoint has no audit flag, so no-audit probes are recognised by their kernel stack
(capabilities.md §2.2-2.3); either-of pairs are collapsed to the narrower capability (§1.1).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leastcap.capabilities import CAPABILITY_BY_NUMBER, CAPABILITY_NUMBERS, short
from leastcap.profile.events import CapCheck
from leastcap.profile.format import (
    COLLAPSED,
    OPTIONAL_PROBE,
    REQUIRED,
    TOLERATED_DENIAL,
    UNAVAILABLE,
    CapabilityEvidence,
    ProcessCount,
)

# Frames whose presence makes a check a no-audit probe. The *_noaudit wrappers are exported
# functions, so they show up as frames; cap_vm_enough_memory calls cap_capable directly and its
# caller security_vm_enough_memory_mm is what appears; /proc/PID/stat uses a NOAUDIT ptrace mode.
NOAUDIT_FRAMES: frozenset[str] = frozenset(
    {
        "ns_capable_noaudit",
        "has_ns_capability_noaudit",
        "has_capability_noaudit",
        "security_vm_enough_memory_mm",
        "cap_vm_enough_memory",
        "__vm_enough_memory",
        "net_ctl_permissions",
        "do_task_stat",
        "simple_xattr_list",
        "seccomp_prepare_filter",
        "io_uring_create",
        "kallsyms_show_value",
        "restricted_pointer",
        "set_permissions",
    }
)

# Audited checks that are not needs: frames whose checks only decide whether the kernel tries
# something optional on the caller's behalf, which the caller never asked for and does without.
NOT_NEEDED_FRAMES: dict[str, str] = {
    # net/core/dev_ioctl.c dev_load(): an ioctl naming a network interface that does not exist yet
    # (`ip link show dev X`, SIOCGIFINDEX) asks for a module "netdev-X" if NET_ADMIN, then "X" if
    # SYS_MODULE. The lookup fails the same either way; granting SYS_MODULE for it would let the
    # container load kernel modules. dev_ioctl() inlines it (see _inlined_not_needed).
    "dev_load": (
        "dev_load, the kernel's legacy network-module autoload: a lookup of a network interface that"
        " does not exist (e.g. `ip link show dev X`) asks to load a module named after it; denied,"
        " the lookup fails the same way, and granting SYS_MODULE would let the container load kernel"
        " modules"
    ),
}
# Every frame that makes a check "not a need" (is_probe): never cached by the BPF recorder either.
PROBE_FRAMES: frozenset[str] = NOAUDIT_FRAMES | frozenset(NOT_NEEDED_FRAMES)

# Plumbing between the caller and the tracepoint; skipped when showing "first frames".
PLUMBING: frozenset[str] = frozenset(
    {
        "trace_event_raw_event_cap_capable",
        "__traceiter_cap_capable",
        "perf_trace_cap_capable",
        "cap_capable",
        "security_capable",
        "ns_capable",
        "ns_capable_common",
        "ns_capable_noaudit",
        "ns_capable_setid",
        "capable",
        "has_ns_capability",
        "has_capability",
        "has_ns_capability_noaudit",
        "has_capability_noaudit",
        "file_ns_capable",
        "capable_wrt_inode_uidgid",
    }
)

_SYSCALL = re.compile(r"^(?:__(?:x64|ia32|x32|arm64|riscv|s390x)_sys_|__do_sys_|__se_sys_|ksys_|__sys_|do_sys_)(\w+)$")

# A frame that is the SYS_ADMIN-first half of an either-of check: SYS_ADMIN there is accepted in
# place of the narrower capability (block/ioprio.c checks SYS_ADMIN before SYS_NICE).
SYS_ADMIN_FIRST: dict[str, str] = {"ioprio_check_cap": "CAP_SYS_NICE"}
# Checks made "narrower first, SYS_ADMIN as fallback" by inline helpers (bpf_capable(),
# perfmon_capable(), checkpoint_restore_ns_capable(), check_syslog_permissions, RLIMIT_NPROC...):
# a SYS_ADMIN check right after a check of one of these in the same task, from the same caller,
# is the fallback and counts for the narrower capability.
FALLBACK_TO_SYS_ADMIN: frozenset[str] = frozenset(
    {"CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_CHECKPOINT_RESTORE", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"}
)


def caller_frames(stack: Sequence[str]) -> list[str]:
    return [f for f in stack if f not in PLUMBING]


def syscall_of(stack: Sequence[str]) -> str | None:
    for frame in stack:
        m = _SYSCALL.match(frame)
        if m is not None:
            return m.group(1)
    return None


# Not-a-need sites that an inlined function leaves without a frame of its own: (wrapper, caller,
# capabilities) -> the inlined function. dev_load() is inlined into dev_ioctl(), whose only calls of
# capable() (the init namespace's, not ns_capable(net->user_ns)) are dev_load's; devinet_ioctl()
# calls dev_load() out of line, so its frame shows.
_INLINED_NOT_NEEDED: dict[tuple[str, str], tuple[frozenset[int], str]] = {
    ("capable", "dev_ioctl"): (
        frozenset({CAPABILITY_NUMBERS["CAP_NET_ADMIN"], CAPABILITY_NUMBERS["CAP_SYS_MODULE"]}),
        "dev_load",
    ),
}


def _inlined_not_needed(check: CapCheck) -> str | None:
    for wrapper, caller in zip(check.stack, check.stack[1:], strict=False):
        found = _INLINED_NOT_NEEDED.get((wrapper, caller))
        if found is not None and check.cap in found[0]:
            return found[1]
    return None


def is_probe(check: CapCheck) -> tuple[bool, str | None]:
    """Whether the check is no-audit or not a need, and the frame that says so (None when the
    kprobe's no-audit flag did; that flag, when known, decides no-audit, not the frames)."""
    if check.noaudit:
        return True, None
    for frame in check.stack:
        if frame in NOT_NEEDED_FRAMES or (check.noaudit is None and frame in NOAUDIT_FRAMES):
            return True, frame
    inlined = _inlined_not_needed(check)
    return (True, inlined) if inlined is not None else (False, None)


@dataclass
class _Tally:
    granted: int = 0
    denied: int = 0
    probes: int = 0
    probe_frames: Counter[str] = field(default_factory=Counter)
    processes: Counter[str] = field(default_factory=Counter)  # audited checks only
    probe_processes: Counter[str] = field(default_factory=Counter)
    frames: tuple[str, ...] = ()
    probe_only_frames: tuple[str, ...] = ()
    syscalls: Counter[str] = field(default_factory=Counter)
    collapsed_into: Counter[str] = field(default_factory=Counter)
    collapsed_frames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Classification:
    required: tuple[str, ...]  # CAP_ names, sorted by number
    evidence: tuple[CapabilityEvidence, ...]
    # CAP_ name -> granted audited checks in the recording (for verification's denial test)
    used: frozenset[str]
    notes: tuple[str, ...] = ()  # checks that are not needs, and why they are not proposed


def _attribution(checks: Sequence[CapCheck], missing: frozenset[str]) -> list[tuple[CapCheck, str, str | None]]:
    """Each check with the capability it counts for, and the capability it was collapsed from.

    A narrower capability the host cannot grant (``missing``) is not preferred: the wider one that
    actually worked in the recording is what this host can give the service.
    """
    out: list[tuple[CapCheck, str, str | None]] = []
    last: dict[int, CapCheck] = {}
    for check in checks:
        name = CAPABILITY_BY_NUMBER.get(check.cap, f"CAP_{check.cap}")
        target, source = name, None
        if name == "CAP_SYS_ADMIN":
            for frame in check.stack:
                if frame in SYS_ADMIN_FIRST and SYS_ADMIN_FIRST[frame] not in missing:
                    target, source = SYS_ADMIN_FIRST[frame], name
                    break
            prev = last.get(check.pid)
            if (
                source is None
                and prev is not None
                and CAPABILITY_BY_NUMBER.get(prev.cap) in FALLBACK_TO_SYS_ADMIN
                and CAPABILITY_BY_NUMBER.get(prev.cap) not in missing
                and not prev.granted
                and caller_frames(prev.stack)[:3] == caller_frames(check.stack)[:3]
            ):
                target, source = CAPABILITY_BY_NUMBER[prev.cap], name
        last[check.pid] = check
        out.append((check, target, source))
    return out


def _tally(checks: Sequence[CapCheck], missing: frozenset[str]) -> dict[str, _Tally]:
    """Count each check for the capability it is attributed to (probes for the one checked)."""
    tallies: dict[str, _Tally] = {}
    for check, target, source in _attribution(checks, missing):
        probe, probe_frame = is_probe(check)
        if probe:
            _count_probe(tallies, check, probe_frame)
        else:
            _count_audited(tallies, check, target, source)
    return tallies


def _count_probe(tallies: dict[str, _Tally], check: CapCheck, probe_frame: str | None) -> None:
    name = CAPABILITY_BY_NUMBER.get(check.cap, f"CAP_{check.cap}")
    n = check.count  # repeats the BPF backend counted in the kernel
    tally = tallies.setdefault(name, _Tally())
    tally.probes += n
    tally.probe_frames[probe_frame or "CAP_OPT_NOAUDIT"] += n
    if not tally.probe_only_frames:
        tally.probe_only_frames = tuple(caller_frames(check.stack)[:3])
    tally.probe_processes[check.comm] += n


def _count_audited(tallies: dict[str, _Tally], check: CapCheck, target: str, source: str | None) -> None:
    """Count an audited check for ``target``; one collapsed from ``source`` is noted there too."""
    n = check.count  # repeats the BPF backend counted in the kernel
    callers = caller_frames(check.stack)
    tally = tallies.setdefault(target, _Tally())
    if source is not None:
        wide = tallies.setdefault(source, _Tally())
        wide.collapsed_into[target] += n
        wide.processes[check.comm] += n
        if not wide.collapsed_frames:
            wide.collapsed_frames = tuple(callers[:3])
    if check.granted:
        tally.granted += n
    else:
        tally.denied += n
    tally.processes[check.comm] += n
    if not tally.frames:
        tally.frames = tuple(callers[:3])
    syscall = syscall_of(check.stack)
    if syscall is not None:
        tally.syscalls[syscall] += n


@dataclass(frozen=True, slots=True)
class _Decision:
    decision: str
    reason: str
    narrower: str | None = None  # the capability kept in place of a collapsed one
    notes: tuple[str, ...] = ()


def _decide(name: str, t: _Tally, missing: frozenset[str], dac_collapse: bool) -> _Decision:
    frames = t.frames or t.collapsed_frames or t.probe_only_frames
    if name in missing and (t.granted or t.denied):
        return _Decision(
            UNAVAILABLE,
            f"{t.denied} audited check(s) denied: this host cannot grant {short(name)}, "
            "so the recording could not show whether the service needs it",
        )
    if t.collapsed_into and not t.granted:
        kept = t.collapsed_into.most_common(1)[0][0]
        reason = f"either-of check at {frames[0] if frames else '?'}: {short(kept)} is enough"
        return _Decision(COLLAPSED, reason, short(kept))
    if name == "CAP_DAC_READ_SEARCH" and dac_collapse:
        return _Decision(COLLAPSED, "DAC_OVERRIDE (also needed) covers these reads and lookups", "DAC_OVERRIDE")
    if t.granted:
        return _Decision(REQUIRED, f"{t.granted} audited check(s) granted")
    if t.denied:
        return _Decision(TOLERATED_DENIAL, f"{t.denied} audited check(s) denied and the service carried on")
    return _probe_only(name, t)


def _probe_only(name: str, t: _Tally) -> _Decision:
    """A capability checked only by no-audit probes or by checks that are not needs."""
    via = ", ".join(f for f, _ in t.probe_frames.most_common() if f not in NOT_NEEDED_FRAMES)
    reason = f"only no-audit probes ({via})" if via else ""
    notes: list[str] = []
    for frame in sorted(f for f in t.probe_frames if f in NOT_NEEDED_FRAMES):
        why = f"only checked by {frame}, which is not a need"
        reason = f"{reason}; {why}" if reason else why
        notes.append(f"{short(name)} not proposed: checked only by {NOT_NEEDED_FRAMES[frame]}")
    return _Decision(OPTIONAL_PROBE, reason, notes=tuple(notes))


def _evidence(name: str, t: _Tally, decided: _Decision) -> CapabilityEvidence:
    # Who made the audited checks; for a probe-only capability, who probed.
    by_count = sorted((t.processes or t.probe_processes).items(), key=lambda kv: (-kv[1], kv[0]))
    return CapabilityEvidence(
        capability=short(name),
        decision=decided.decision,
        reason=decided.reason,
        granted=t.granted,
        denied=t.denied,
        probes=t.probes,
        processes=tuple(ProcessCount(c, n) for c, n in by_count),
        frames=tuple(t.frames or t.collapsed_frames or t.probe_only_frames),
        syscalls=tuple(sorted(t.syscalls)),
        narrower=decided.narrower,
    )


def classify(checks: Iterable[CapCheck], unavailable: Iterable[str] = ()) -> Classification:
    """Classify the service's checks. ``unavailable``: CAP_ names the recording could not grant."""
    missing = frozenset(unavailable)
    tallies = _tally(list(checks), missing)

    # DAC_OVERRIDE covers every DAC_READ_SEARCH use made from generic_permission (reads, lookups).
    dac_rs, dac_ov = tallies.get("CAP_DAC_READ_SEARCH"), tallies.get("CAP_DAC_OVERRIDE")
    dac_collapse = dac_rs is not None and dac_ov is not None and dac_rs.granted > 0 and dac_ov.granted > 0

    required: list[str] = []
    evidence: list[CapabilityEvidence] = []
    notes: list[str] = []
    for name in sorted(tallies, key=lambda n: CAPABILITY_NUMBERS.get(n, 99)):
        decided = _decide(name, tallies[name], missing, dac_collapse)
        if decided.decision == REQUIRED:
            required.append(name)
        notes.extend(decided.notes)
        evidence.append(_evidence(name, tallies[name], decided))
    used = frozenset(n for n, t in tallies.items() if t.granted)
    return Classification(tuple(required), tuple(evidence), used, tuple(notes))
