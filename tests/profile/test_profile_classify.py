"""Classification rules: probes by stack, either-of pairs, tolerated denials, unavailable caps."""

from __future__ import annotations

from leastcap.profile.classify import classify
from leastcap.profile.events import CapCheck
from leastcap.profile.format import CapabilityEvidence, ProcessCount

TP = ["trace_event_raw_event_cap_capable", "cap_capable", "security_capable"]


def check(cap: int, ret: int, frames: list[str], comm: str = "app", pid: int = 10) -> CapCheck:
    return CapCheck(1.0, pid, comm, cap, ret, stack=[*TP, *frames])


def decisions(checks: list[CapCheck], unavailable: frozenset[str] = frozenset()) -> dict[str, str]:
    return {e.capability: e.decision for e in classify(checks, unavailable).evidence}


def test_noaudit_sites_are_probes() -> None:
    checks = [
        check(21, 0, ["security_vm_enough_memory_mm", "mmap_region"]),
        check(12, 0, ["ns_capable_noaudit", "net_ctl_permissions", "proc_sys_permission"]),
        check(19, 0, ["ptrace_has_cap", "__ptrace_may_access", "do_task_stat"]),
        check(34, 0, ["has_capability_noaudit", "kallsyms_show_value"]),
    ]
    result = classify(checks)
    assert result.required == ()
    assert {e.capability: (e.decision, e.reason) for e in result.evidence} == {
        "NET_ADMIN": ("optional_probe", "only no-audit probes (ns_capable_noaudit)"),
        "SYS_PTRACE": ("optional_probe", "only no-audit probes (do_task_stat)"),
        "SYS_ADMIN": ("optional_probe", "only no-audit probes (security_vm_enough_memory_mm)"),
        "SYSLOG": ("optional_probe", "only no-audit probes (has_capability_noaudit)"),
    }


def test_dac_read_search_collapses_into_dac_override_when_both_are_needed() -> None:
    checks = [
        check(2, 0, ["capable_wrt_inode_uidgid", "generic_permission", "inode_permission"]),
        check(1, 0, ["capable_wrt_inode_uidgid", "generic_permission", "inode_permission"]),
    ]
    result = classify(checks)
    assert result.required == ("CAP_DAC_OVERRIDE",)
    rs = next(e for e in result.evidence if e.capability == "DAC_READ_SEARCH")
    assert (rs.decision, rs.narrower, rs.reason) == (
        "collapsed",
        "DAC_OVERRIDE",
        "DAC_OVERRIDE (also needed) covers these reads and lookups",
    )


def test_dac_read_search_alone_is_required() -> None:
    checks = [check(2, 0, ["capable_wrt_inode_uidgid", "generic_permission", "inode_permission"])]
    assert classify(checks).required == ("CAP_DAC_READ_SEARCH",)


def test_ioprio_sys_admin_first_becomes_sys_nice() -> None:
    checks = [check(21, 0, ["ioprio_check_cap", "__x64_sys_ioprio_set"], comm="ionice")]
    result = classify(checks)
    assert result.required == ("CAP_SYS_NICE",)
    # Sorted by capability number: SYS_ADMIN (21) before SYS_NICE (23).
    assert result.evidence == (
        CapabilityEvidence(
            "SYS_ADMIN",
            "collapsed",
            "either-of check at ioprio_check_cap: SYS_NICE is enough",
            processes=(ProcessCount("ionice", 1),),
            frames=("ioprio_check_cap", "__x64_sys_ioprio_set"),
            narrower="SYS_NICE",
        ),
        CapabilityEvidence(
            "SYS_NICE",
            "required",
            "1 audited check(s) granted",
            granted=1,
            processes=(ProcessCount("ionice", 1),),
            frames=("ioprio_check_cap", "__x64_sys_ioprio_set"),
            syscalls=("ioprio_set",),
        ),
    )


def test_sys_admin_fallback_after_denied_bpf_counts_for_bpf() -> None:
    # bpf_capable(): BPF first, SYS_ADMIN second, from the same caller.
    frames = ["bpf_prog_load", "__sys_bpf", "__x64_sys_bpf"]
    checks = [check(39, -1, frames), check(21, 0, frames)]
    assert classify(checks).required == ("CAP_BPF",)
    assert decisions(checks) == {"SYS_ADMIN": "collapsed", "BPF": "required"}
    # On a host that cannot grant BPF, SYS_ADMIN is what works there.
    bpf_missing = classify(checks, frozenset({"CAP_BPF"}))
    assert bpf_missing.required == ("CAP_SYS_ADMIN",)
    assert decisions(checks, frozenset({"CAP_BPF"})) == {"SYS_ADMIN": "required", "BPF": "unavailable"}


def test_denied_only_is_tolerated_and_unavailable_is_said() -> None:
    checks = [
        check(12, -1, ["sock_setsockopt", "__sys_setsockopt"]),  # SO_RCVBUFFORCE, falls back
        check(24, -1, ["do_prlimit", "__x64_sys_prlimit64"]),
    ]
    result = classify(checks, frozenset({"CAP_SYS_RESOURCE"}))
    assert result.required == ()
    by_cap = {e.capability: e for e in result.evidence}
    assert by_cap["NET_ADMIN"].decision == "tolerated_denial"
    assert by_cap["NET_ADMIN"].reason == "1 audited check(s) denied and the service carried on"
    assert by_cap["SYS_RESOURCE"].decision == "unavailable"
    assert by_cap["SYS_RESOURCE"].reason == (
        "1 audited check(s) denied: this host cannot grant SYS_RESOURCE,"
        " so the recording could not show whether the service needs it"
    )


def test_processes_sorted_by_count_and_used_set() -> None:
    checks = [
        check(0, 0, ["setattr_prepare"], comm="chown", pid=1),
        check(0, 0, ["setattr_prepare"], comm="init", pid=2),
        check(0, 0, ["setattr_prepare"], comm="init", pid=2),
        check(21, 0, ["security_vm_enough_memory_mm"], comm="zzz", pid=3),
    ]
    result = classify(checks)
    chown = next(e for e in result.evidence if e.capability == "CHOWN")
    assert chown.processes == (ProcessCount("init", 2), ProcessCount("chown", 1))
    assert result.used == frozenset({"CAP_CHOWN"})


def test_verdict_counts_only_new_denials_at_granted_sites() -> None:
    from leastcap.profile.recorder import RunResult
    from leastcap.profile.verdict import verdict

    setgroups = ["__do_sys_setgroups", "do_syscall_64"]
    recording = RunResult(
        checks=[check(6, 0, setgroups, comm="su"), check(6, -1, setgroups, comm="sh")],
        duration=2.0,
        exit_code=0,
        health=None,
    )
    same = RunResult([check(6, 0, setgroups, comm="su"), check(6, -1, setgroups, comm="sh")], 2.0, 0, None)
    assert verdict(recording, same, 2.0) == (True, "exited with code 0, as in the recording")
    denied = RunResult([check(6, -1, setgroups, comm="su"), check(6, -1, setgroups, comm="sh")], 2.0, 0, None)
    assert verdict(recording, denied, 2.0) == (
        False,
        "audited denials where the recording was granted: SETGID x1",
    )
    crashed = RunResult([], 2.0, 1, None)
    assert verdict(recording, crashed, 2.0) == (False, "exit code 1 (the recording exited with code 0)")
    running = RunResult([], 2.0, None, None, probe_results=[0, 7])
    long_lived = RunResult([], 2.0, None, None, probe_results=[0])
    assert verdict(long_lived, running, 2.0) == (False, "probe failed (exit code 7)")
    assert verdict(long_lived, RunResult([], 2.0, None, "unhealthy"), 2.0) == (
        False,
        "healthcheck reports unhealthy",
    )
    assert verdict(long_lived, RunResult([], 2.0, None, "healthy", [0]), 2.0) == (True, "still running after 2s")
    lost = RunResult([], 2.0, None, None, rooted=False)
    assert verdict(long_lived, lost, 2.0) == (False, "could not find the container's processes in the trace")
