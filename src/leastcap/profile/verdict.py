"""Judging a profile's runs: did a verification run behave as the recording did, and what did it lose.

A verification run passes when it behaves as in the recording: same exit code (or still running
after the duration), probe and healthcheck fine, and no audited denial of a capability that was
granted and used in the recording (with a probe as the judge, such denials are reported, not
failed, except for the privilege drops). The recording itself is judged too: a failed one is no
baseline to verify against, and its warm-up (how long it took to do everything it did) is how
long a verification run is watched before a passing probe may end it early.
``runner`` runs the recording and the verification runs; this module only reads their results.
"""

from __future__ import annotations

from collections import Counter

from leastcap.capabilities import CAPABILITY_BY_NUMBER, CAPABILITY_NUMBERS, short
from leastcap.profile.classify import caller_frames, is_probe, syscall_of
from leastcap.profile.events import CapCheck
from leastcap.profile.format import Exercised
from leastcap.profile.recorder import RunResult


def capability_order(short_name: str) -> int:
    """The kernel's number of a capability without its ``CAP_`` prefix (99 when unknown): the
    order in which a profile lists capabilities."""
    return CAPABILITY_NUMBERS.get("CAP_" + short_name, 99)


def _site(check: CapCheck) -> tuple[int, str, tuple[str, ...]]:
    """Where a check was made: the capability, the program and the first caller frames."""
    return check.cap, check.comm, tuple(caller_frames(check.stack)[:4])


def new_denials(rec: RunResult, run: RunResult) -> tuple[Exercised, ...]:
    """Audited denials of the run beyond the recording's, at sites where the recording was granted.

    Denials the service also met (and tolerated) in the recording, e.g. after it dropped to a
    non-root user, are not new."""
    granted_sites = {_site(c) for c in rec.checks if c.granted and not is_probe(c)[0]}
    before = Counter(_site(c) for c in rec.checks if not c.granted and not is_probe(c)[0])
    now: Counter[tuple[int, str, tuple[str, ...]]] = Counter()
    first: dict[tuple[int, str, tuple[str, ...]], CapCheck] = {}
    for c in run.checks:
        if c.granted or is_probe(c)[0]:
            continue
        site = _site(c)
        now[site] += c.count
        first.setdefault(site, c)
    out: list[Exercised] = []
    for site, count in now.items():
        if site in granted_sites and count > before[site]:
            check = first[site]
            name = short(CAPABILITY_BY_NUMBER.get(site[0], str(site[0])))
            frames = tuple(caller_frames(check.stack)[:3])
            out.append(Exercised(name, check.comm, syscall_of(check.stack), frames, count - before[site]))
    return tuple(sorted(out, key=lambda x: (capability_order(x.capability), x.comm, x.frames)))


def denial_text(d: Exercised) -> str:
    what = f"{d.comm}'s {d.syscall}" if d.syscall else d.comm
    return f"{d.capability}: {what} x{d.count}"


# Capabilities whose denial means a process could not give up root: apache2's workers and squid
# keep serving as root (or group root) when setuid/setgid/setgroups fail, so a probe passes while
# privilege separation is gone. Their denials fail a run even when a probe is the judge.
PRIVILEGE_DROPS = frozenset({"SETUID", "SETGID"})


def verdict(rec: RunResult, run: RunResult, duration: float, functional: bool = False) -> tuple[bool, str]:
    """Does the verification run behave as the recording did? (pass, why)

    ``functional``: a probe judges the run; new audited denials do not fail it (they are what the
    service lives without, reported by ``new_denials``)."""
    if not run.rooted:
        return False, "could not find the container's processes in the trace"
    if rec.exit_code is None and run.exit_code is not None:
        return False, (f"exited with code {run.exit_code} (the recording was still running after {duration:g}s)")
    if rec.exit_code is not None and run.exit_code != rec.exit_code:
        got = "still running" if run.exit_code is None else f"exit code {run.exit_code}"
        return False, f"{got} (the recording exited with code {rec.exit_code})"
    if run.probe_ok is False:
        return False, f"probe failed (exit code {run.probe_results[-1]})"
    if run.health == "unhealthy":
        return False, "healthcheck reports unhealthy"
    denied: Counter[str] = Counter()
    for d in new_denials(rec, run):
        denied[d.capability] += d.count
    if denied and not functional:
        what = ", ".join(f"{n} x{c}" for n, c in sorted(denied.items(), key=lambda kv: capability_order(kv[0])))
        return False, f"audited denials where the recording was granted: {what}"
    drops = {cap: n for cap, n in denied.items() if cap in PRIVILEGE_DROPS}
    if drops:
        what = ", ".join(f"{n} x{c}" for n, c in sorted(drops.items(), key=lambda kv: capability_order(kv[0])))
        return False, f"denied privilege drops (the service may keep running as root, which no probe sees): {what}"
    if run.ended_early is not None:
        return True, run.ended_early
    if run.exit_code is None:
        return True, f"still running after {duration:g}s"
    return True, f"exited with code {run.exit_code}, as in the recording"


def recording_failure(rec: RunResult, expect_exit: int | None) -> str | None:
    """Why the recorded workload failed (so it is no baseline to verify against), or None."""
    if expect_exit is not None and rec.exit_code != expect_exit:
        got = "still running" if rec.exit_code is None else f"exit {rec.exit_code}"
        return f"{got}; --expect-exit {expect_exit}"
    if expect_exit is None and rec.exit_code not in (None, 0):
        return f"exit {rec.exit_code}"
    if rec.health == "unhealthy":
        return "healthcheck unhealthy"
    if rec.probe_ok is False:
        return f"probe exit {rec.probe_results[-1]}"
    return None


def warmup(rec: RunResult, duration: float) -> float:
    """Seconds the recording needed to do everything it did: the last time a new audited call site
    showed up, or the first passing probe, whichever is later (bounded by the duration)."""
    seen: dict[tuple[int, str, tuple[str, ...]], float] = {}
    for c in rec.checks:
        if not is_probe(c)[0]:
            seen.setdefault(_site(c), c.ts)
    last = max(seen.values(), default=rec.started) - rec.started
    return min(max(last, rec.first_probe_ok or 0.0, 0.0), duration)
