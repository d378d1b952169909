"""The pieces of honest verification that need no container: the group search of --minimize (against
a known "needed" set, counting runs) and the evidence it leaves, the functional verdict, a failed
recording, the warm-up."""

from __future__ import annotations

from collections.abc import Callable

from leastcap.capabilities import CAPABILITY_NUMBERS
from leastcap.profile.events import CapCheck
from leastcap.profile.format import MINIMIZED_OUT, REQUIRED, TOLERATED_DENIAL, CapabilityEvidence, Exercised
from leastcap.profile.minimize import mark_minimized_out, minimize_groups
from leastcap.profile.recorder import RunResult
from leastcap.profile.verdict import new_denials, recording_failure, verdict, warmup

CAPS = frozenset({"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID", "CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"})


def oracle(
    needed: frozenset[str], exercised: frozenset[str]
) -> tuple[Callable[[frozenset[str]], bool], list[frozenset[str]], list[frozenset[str]]]:
    """A service that works when ``needed`` are granted, and whose run without any of
    ``needed | exercised`` sees them denied. Returns verify, the sets tried, and last_denied."""
    tried: list[frozenset[str]] = []
    last: list[frozenset[str]] = [frozenset()]

    def verify(caps: frozenset[str]) -> bool:
        if caps not in tried:  # the runner runs a set once and answers repeats from its cache
            tried.append(caps)
        last[0] = (needed | exercised) - caps
        return needed <= caps

    return verify, tried, last


def test_without_a_probe_denied_capabilities_stay_after_one_run() -> None:
    verify, tried, last = oracle(frozenset({"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"}), frozenset())
    assert minimize_groups(frozenset({"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"}), verify, last, functional=False) == {
        "CAP_CHOWN",
        "CAP_SETGID",
        "CAP_SETUID",
    }
    # Removing all three fails and shows all three denied: one run (the linear strategy took three).
    assert tried == [frozenset()]


def test_without_a_probe_the_undenied_rest_is_tried_as_a_group() -> None:
    verify, tried, last = oracle(frozenset({"CAP_CHOWN"}), frozenset())
    assert minimize_groups(CAPS, verify, last, functional=False) == {"CAP_CHOWN"}
    assert tried == [frozenset(), frozenset({"CAP_CHOWN"})]


def test_with_a_probe_mostly_denied_groups_are_tried_one_by_one() -> None:
    needed = frozenset({"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"})
    verify, tried, last = oracle(needed, frozenset({"CAP_MKNOD"}))
    start = needed | {"CAP_MKNOD"}
    assert minimize_groups(start, verify, last, functional=True) == needed
    assert tried == [frozenset(), *(start - {c} for c in ("CAP_CHOWN", "CAP_SETGID", "CAP_SETUID", "CAP_MKNOD"))]


def test_with_a_probe_few_denials_halve_the_group() -> None:
    # Only AUDIT_WRITE is needed (sshd) and nothing else was even denied: halves, then quarters.
    verify, tried, last = oracle(frozenset({"CAP_AUDIT_WRITE"}), frozenset())
    assert minimize_groups(CAPS, verify, last, functional=True) == {"CAP_AUDIT_WRITE"}
    # Sorted by number: CHOWN 0, SETGID 6, SETUID 7 | NET_RAW 13, MKNOD 27, AUDIT_WRITE 29. The first
    # half goes in one run; the second fails as a whole (known: the run without anything), so it
    # is halved again: NET_RAW goes, then MKNOD; AUDIT_WRITE stays. 4 runs where linear took 6.
    assert tried == [
        frozenset(),
        frozenset({"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"}),
        frozenset({"CAP_MKNOD", "CAP_AUDIT_WRITE"}),
        frozenset({"CAP_AUDIT_WRITE"}),
    ]


def test_the_evidence_of_what_minimize_removed_says_so() -> None:
    evidence = [
        CapabilityEvidence("CHOWN", REQUIRED, "granted 1x in the recording", granted=1),
        CapabilityEvidence("NET_RAW", REQUIRED, "granted 2x in the recording", granted=2),
        CapabilityEvidence("MKNOD", TOLERATED_DENIAL, "denied 1x; the service was fine", denied=1),
        CapabilityEvidence("SETUID", REQUIRED, "granted 1x in the recording", granted=1),
    ]
    # The last passing run saw CHOWN denied (a probe judged it); NET_RAW was simply not missed;
    # KILL was never checked (--minimize-from); MKNOD's decision was not "required"; SETUID stays.
    lost = Exercised("CHOWN", "svc", "fchownat", ("setattr_prepare",), 3)
    removed = frozenset({"CAP_KILL", "CAP_NET_RAW", "CAP_CHOWN", "CAP_MKNOD"})
    mark_minimized_out(evidence, removed, (lost,))
    assert [(e.capability, e.decision, e.reason) for e in evidence] == [
        (
            "CHOWN",
            MINIMIZED_OUT,
            "--minimize removed it and the probe kept passing (without CHOWN: svc's fchownat is denied"
            " (x3, at setattr_prepare); the service kept working)",
        ),
        ("NET_RAW", MINIMIZED_OUT, "--minimize removed it and verification still passed"),
        ("MKNOD", TOLERATED_DENIAL, "denied 1x; the service was fine"),
        ("SETUID", REQUIRED, "granted 1x in the recording"),
        ("KILL", MINIMIZED_OUT, "--minimize removed it and verification still passed (never checked in the recording)"),
    ]
    assert evidence[0].granted == 1  # the rest of the evidence is kept


def check(cap: str, ret: int, stack: list[str], comm: str = "svc", ts: float = 0.0) -> CapCheck:
    return CapCheck(ts=ts, pid=1, comm=comm, cap=CAPABILITY_NUMBERS[cap], ret=ret, stack=stack)


CHOWN_STACK = ["cap_capable", "security_capable", "setattr_prepare", "ext4_setattr", "__x64_sys_fchownat"]


def test_a_probe_judges_new_denials_are_reported_not_failed() -> None:
    rec = RunResult([check("CAP_CHOWN", 0, CHOWN_STACK)], 2.0, None, None, probe_results=[0])
    run = RunResult([check("CAP_CHOWN", -1, CHOWN_STACK)], 2.0, None, None, probe_results=[0])
    assert verdict(rec, run, 2.0) == (False, "audited denials where the recording was granted: CHOWN x1")
    assert verdict(rec, run, 2.0, functional=True) == (True, "still running after 2s")
    (denied,) = new_denials(rec, run)
    assert denied.describe() == (
        "without CHOWN: svc's fchownat is denied (x1, at setattr_prepare); the service kept working"
    )
    # The probe still judges: a failing probe fails the run either way.
    broken = RunResult([check("CAP_CHOWN", -1, CHOWN_STACK)], 2.0, None, None, probe_results=[0, 1])
    assert verdict(rec, broken, 2.0, functional=True) == (False, "probe failed (exit code 1)")


SETGROUPS_STACK = ["cap_capable", "security_capable", "may_setgroups", "__x64_sys_setgroups"]


def test_a_denied_privilege_drop_fails_a_run_even_when_the_probe_passes() -> None:
    # apache2's workers and squid keep serving as root when setgroups/setgid/setuid fail: the probe
    # passes, privilege separation is gone. A probe cannot see that, so such a denial is a need.
    rec = RunResult([check("CAP_SETGID", 0, SETGROUPS_STACK)], 2.0, None, None, probe_results=[0])
    run = RunResult([check("CAP_SETGID", -1, SETGROUPS_STACK)] * 2, 2.0, None, None, probe_results=[0])
    assert verdict(rec, run, 2.0, functional=True) == (
        False,
        "denied privilege drops (the service may keep running as root, which no probe sees): SETGID x2",
    )


def test_a_failed_recording_and_the_declared_exit_code() -> None:
    assert recording_failure(RunResult([], 1.0, 3, None), None) == "exit 3"
    assert recording_failure(RunResult([], 1.0, 3, None), 3) is None
    assert recording_failure(RunResult([], 1.0, 0, None), 3) == "exit 0; --expect-exit 3"
    assert recording_failure(RunResult([], 1.0, None, None), 3) == "still running; --expect-exit 3"
    assert recording_failure(RunResult([], 1.0, None, "unhealthy"), None) == "healthcheck unhealthy"
    assert recording_failure(RunResult([], 1.0, None, None, probe_results=[0, 7]), None) == "probe exit 7"
    assert recording_failure(RunResult([], 1.0, None, "healthy", probe_results=[1, 0]), None) is None


def test_warmup_is_the_last_new_site_or_the_first_passing_probe() -> None:
    checks = [
        check("CAP_CHOWN", 0, CHOWN_STACK, ts=100.5),
        check("CAP_CHOWN", 0, CHOWN_STACK, ts=108.0),  # the same site again: not new
        check("CAP_SETUID", 0, ["cap_capable", "__sys_setuid"], ts=101.25),
    ]
    rec = RunResult(checks, 10.0, None, None, started=100.0, first_probe_ok=0.75)
    assert warmup(rec, 10.0) == 1.25
    assert warmup(RunResult(checks, 10.0, None, None, started=100.0, first_probe_ok=3.0), 10.0) == 3.0
    assert warmup(RunResult(checks, 10.0, None, None, started=100.0, first_probe_ok=30.0), 10.0) == 10.0


def test_helpers_are_looked_up_once_per_file_path_and_never_in_procfs() -> None:
    from leastcap.profile.events import Exec
    from leastcap.profile.helpers import MAX_HELPER_LOOKUPS, _distinct

    names = ["/bin/sh", "/proc/self/exe", "/bin/sh", "relative/x", "/dev/fd/3", "/usr/bin/ping"]
    execs = [Exec(float(i), 1, 1, name, "x") for i, name in enumerate(names)]
    assert list(_distinct(e.filename for e in execs)) == ["/bin/sh", "/usr/bin/ping"]
    assert len(list(_distinct(f"/bin/{i}" for i in range(1000)))) == MAX_HELPER_LOOKUPS


def test_with_a_probe_the_singles_are_tried_from_one_set_and_what_passed_goes_together() -> None:
    needed = frozenset({"CAP_CHOWN", "CAP_SETUID"})
    verify, tried, last = oracle(needed, frozenset({"CAP_MKNOD", "CAP_SETGID"}))
    batches: list[list[frozenset[str]]] = []

    def verify_all(sets: list[frozenset[str]]) -> list[bool]:
        batches.append(sets)
        return [verify(s) for s in sets]

    start = needed | {"CAP_MKNOD", "CAP_SETGID"}
    assert minimize_groups(start, verify, last, True, verify_all) == needed
    # All four denied when all are out: each alone, from the same set (one batch), then the two
    # that passed alone (SETGID, MKNOD) together.
    assert batches == [[start - {c} for c in ("CAP_CHOWN", "CAP_SETGID", "CAP_SETUID", "CAP_MKNOD")]]
    assert tried == [frozenset(), *batches[0], needed]


def test_a_project_is_isolated_when_two_copies_cannot_touch_each_other() -> None:
    from leastcap.profile.docker import _project_isolated

    alone = {"image": "x", "network_mode": "none", "volumes": [{"type": "volume", "source": "data", "target": "/d"}]}
    assert _project_isolated({"services": {"app": alone}}) is True
    for shared in (
        {"ports": [{"target": 80, "published": "8080"}]},
        {"network_mode": "host"},
        {"pid": "host"},
        {"network_mode": "service:db"},
        {"container_name": "db"},
        {"volumes": [{"type": "bind", "source": "/srv", "target": "/srv"}]},
    ):
        assert _project_isolated({"services": {"app": alone, "db": {"image": "y", **shared}}}) is False, shared
    external = {"services": {"app": alone}, "volumes": {"data": {"external": True, "name": "data"}}}
    assert _project_isolated(external) is False
