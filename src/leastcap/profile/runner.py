"""Record, classify, verify, minimise: the whole of ``leastcap profile`` for a Compose service.

Verification runs the service again with ``cap_drop: [ALL]``, the candidate ``cap_add``,
``no-new-privileges:true`` and the proposed devices and sysctls (privileged off), traced, and passes
when it behaves as in the recording: same exit code (or still running after the duration), probe and
healthcheck fine, and no audited denial of a capability that was granted and used in the recording.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from leastcap import __version__
from leastcap.capabilities import CAPABILITY_BY_NUMBER, CAPABILITY_NUMBERS, short, sort_capabilities
from leastcap.profile import docker as dk
from leastcap.profile.classify import Classification, caller_frames, classify, is_probe
from leastcap.profile.events import CapCheck
from leastcap.profile.format import (
    FORMAT_VERSION,
    MINIMIZED_OUT,
    REQUIRED,
    CapabilityEvidence,
    Profile,
    Recording,
    VerificationRun,
)
from leastcap.profile.recorder import RunResult, record_compose_run
from leastcap.profile.touched import Touched, host_devices, propose
from leastcap.profile.tracefs import check_source, tracefs_root

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Options:
    duration: float
    probe: str | None = None
    probe_interval: float = 1.0
    verify: bool = False
    minimize: bool = False
    minimize_from: frozenset[str] = frozenset()  # extra CAP_ names to start minimising from
    verify_caps: frozenset[str] | None = None  # verify exactly this set instead of the proposal
    kernel_filter: bool = True
    recorder: str = "auto"  # bpf: count checks in the kernel; ftrace: a stack per check; auto: bpf if it loads
    # Seconds of watching the open syscalls (None: the whole run; "auto": see recorder.Session).
    open_window: float | Literal["auto"] | None = "auto"


@dataclass(frozen=True, slots=True)
class Outcome:
    profile: Profile
    recording: RunResult
    classification: Classification


def _site(check: CapCheck) -> tuple[int, str, tuple[str, ...]]:
    """Where a check was made: the capability, the program and the first caller frames."""
    return check.cap, check.comm, tuple(caller_frames(check.stack)[:4])


def verdict(rec: RunResult, run: RunResult, duration: float) -> tuple[bool, str]:
    """Does the verification run behave as the recording did? (pass, why)"""
    if not run.rooted:
        return False, "could not find the container's processes in the trace"
    if rec.exit_code is None and run.exit_code is not None:
        return False, (
            f"exited with code {run.exit_code} (the recording was still running after {duration:g}s)"
        )
    if rec.exit_code is not None and run.exit_code != rec.exit_code:
        got = "still running" if run.exit_code is None else f"exit code {run.exit_code}"
        return False, f"{got} (the recording exited with code {rec.exit_code})"
    if run.probe_ok is False:
        return False, f"probe failed (exit code {run.probe_results[-1]})"
    if run.health == "unhealthy":
        return False, "healthcheck reports unhealthy"
    granted_sites = {_site(c) for c in rec.checks if c.granted and not is_probe(c)[0]}
    # Denials the service also met (and tolerated) in the recording, e.g. after it dropped to a
    # non-root user, are not new: only denials beyond the recording's, at a site where the
    # recording was granted, count.
    before = Counter(_site(c) for c in rec.checks if not c.granted and not is_probe(c)[0])
    now = Counter(_site(c) for c in run.checks if not c.granted and not is_probe(c)[0])
    denied: Counter[str] = Counter()
    for site, count in now.items():
        if site in granted_sites and count > before[site]:
            denied[CAPABILITY_BY_NUMBER.get(site[0], str(site[0]))] += count - before[site]
    if denied:
        what = ", ".join(f"{short(n)} x{c}" for n, c in sorted(denied.items()))
        return False, f"audited denials where the recording was granted: {what}"
    if run.exit_code is None:
        return True, f"still running after {duration:g}s"
    return True, f"exited with code {run.exit_code}, as in the recording"


@dataclass(frozen=True, slots=True)
class Grant:
    granted: frozenset[str]  # what the recording gets
    unavailable: frozenset[str]  # known to the kernel but not grantable here
    privileged_ok: bool  # the bounding set is complete, so privileged: true can start
    notes: tuple[str, ...]


def available_capabilities(image: str) -> Grant:
    """What the recording can grant: bounding set, known to the kernel and to dockerd."""
    kernel = dk.kernel_capabilities()
    bounding = dk.bounding_set() & kernel
    unknown_to_daemon = dk.daemon_unknown_capabilities(image, bounding)
    granted = bounding - unknown_to_daemon
    notes: list[str] = []
    missing_bnd = sorted_short(kernel - bounding)
    if missing_bnd:
        notes.append(
            f"{', '.join(missing_bnd)} not in this host's bounding set (CapBnd): privileged containers"
            " cannot start here and the recording could not grant them"
        )
    if unknown_to_daemon:
        notes.append(
            f"dockerd does not know {', '.join(sorted_short(unknown_to_daemon))}:"
            " the recording could not grant them"
        )
    return Grant(granted, kernel - granted, not missing_bnd, tuple(notes))


def sorted_short(names: Iterable[str]) -> list[str]:
    return [short(n) for n in sort_capabilities(names)]


def profile_compose(target: dk.ComposeTarget, opts: Options, log: Log) -> Outcome:
    binary = dk.compose_executable()
    root = tracefs_root()
    source = check_source(root)
    for name in dk.cleanup_stale_projects():
        log(f"removed {name}, left behind by a leastcap profile that was killed")
    config = target.config(binary)
    grant = available_capabilities(config.image)
    granted, unavailable, notes = grant.granted, grant.unavailable, list(grant.notes)
    for note in notes:
        log("note: " + note)
    privileged = grant.privileged_ok
    setting = dk.CapabilitySetting(
        privileged=privileged,
        cap_add=granted,
        no_new_privileges=False,
        security_opt=config.security_opt,
        devices=() if privileged else host_devices(),
        like_privileged=not privileged,
    )
    if not privileged:
        notes.append(
            f"in place of privileged, the recording had {len(granted)} capabilities, the host's"
            f" {len(setting.devices)} device nodes with access to every device (device_cgroup_rules),"
            " and a writable /proc/sys (systempaths=unconfined), as privileged has; /sys stayed"
            " read-only, so a write to /sys was seen only while the open syscalls were watched"
            " (--open-window)"
        )
        log("note: " + notes[-1])
    how = "privileged" if privileged else f"{len(granted)} capabilities, every host device and a writable /proc/sys"
    log(f"recording {target.service} for up to {opts.duration:g}s with {how}")

    def run(s: dk.CapabilitySetting, verifying: bool = False) -> RunResult:
        return record_compose_run(
            target,
            s,
            binary,
            duration=opts.duration,
            probe=opts.probe,
            probe_interval=opts.probe_interval,
            source=source,
            kernel_filter=opts.kernel_filter,
            recorder=opts.recorder,
            # The verdict needs no opens: spare the service the slow syscall path they cost.
            open_window=0 if verifying else opts.open_window,
            watch_opens=not verifying,
        )

    rec = run(setting)
    if not rec.rooted:
        raise dk.ComposeError(
            "the container's processes were not found in the trace (is dockerd using containerd?)"
        )
    # Devices and sysctls the service touched; the verification runs get them too.
    touched = _touched(rec, config)
    if rec.lost_events:
        notes.append(f"the recorder lost {rec.lost_events} events: the evidence is incomplete")
        log(
            f"warning: the recorder lost {rec.lost_events} events (buffer overrun or full map);"
            " the evidence is incomplete"
        )
    if rec.probe_ok is False:
        notes.append(f"the probe failed during the recording (exit code {rec.probe_results[-1]})")
        log(f"warning: {notes[-1]}")
    if rec.health == "unhealthy":
        notes.append("the healthcheck reported unhealthy during the recording")
        log(f"warning: {notes[-1]}")
    for note in [*rec.notes, *touched.notes]:
        notes.append(note)
        log("note: " + note)
    if touched.devices:
        log(f"proposing devices {list(touched.devices)}")
    if touched.sysctls:
        log(f"proposing sysctls {dict(touched.sysctls)}")
    result = classify(rec.checks, unavailable)
    used = result.used
    proposal = frozenset(result.required)
    evidence = list(result.evidence)
    verification: list[VerificationRun] = []
    passed_sets: set[frozenset[str]] = set()

    tried: dict[frozenset[str], bool] = {}

    def verify(caps: frozenset[str]) -> bool:
        # The same set gives the same answer; a repeat would only cost another run.
        if caps in tried:
            return tried[caps]
        log(f"verifying with cap_add {sorted_short(caps)}")
        outcome = run(
            dk.CapabilitySetting(
                privileged=False,
                cap_add=caps,
                no_new_privileges=True,
                security_opt=config.security_opt,
                devices=touched.devices,
                sysctls=tuple(touched.sysctls.items()),
            ),
            verifying=True,
        )
        ok, why = verdict(rec, outcome, opts.duration)
        log(("  pass: " if ok else "  fail: ") + why)
        verification.append(VerificationRun(tuple(sorted_short(caps)), ok, why))
        tried[caps] = ok
        if ok:
            passed_sets.add(caps)
        return ok

    final = proposal
    minimize_runs = 0
    if opts.verify_caps is not None:
        final = opts.verify_caps
        verify(final)
    elif opts.verify:
        verify(final)
    if opts.minimize:
        candidate = final | opts.minimize_from
        before = len(verification)
        unused = frozenset(c for c in candidate if c not in used)
        if unused and verify(candidate - unused):
            candidate = candidate - unused
        for cap in sort_capabilities(candidate):
            if verify(candidate - {cap}):
                candidate = candidate - {cap}
        minimize_runs = len(verification) - before
        removed = (final | opts.minimize_from) - candidate
        final = candidate
        if final not in passed_sets:
            verify(final)
        for cap in sort_capabilities(removed):
            item = next((e for e in evidence if e.capability == short(cap)), None)
            why = "--minimize removed it and verification still passed"
            if item is None:
                never = why + " (never checked in the recording)"
                evidence.append(CapabilityEvidence(short(cap), MINIMIZED_OUT, never))
            elif item.decision == REQUIRED:
                evidence[evidence.index(item)] = replace(item, decision=MINIMIZED_OUT, reason=why)
    verified = final in passed_sets
    profile = Profile(
        version=FORMAT_VERSION,
        tool=f"leastcap {__version__}",
        compose_files=target.files,
        working_dir=config.working_dir,
        project=config.project,
        service=target.service,
        image=config.image,
        cap_add=tuple(sorted_short(final)),
        devices=touched.devices,
        sysctls=dict(touched.sysctls),
        security_opt=dk.with_no_new_privileges(config.security_opt),
        evidence=tuple(sorted(evidence, key=lambda e: _number(e.capability))),
        verified=verified,
        minimized=opts.minimize,
        minimize_runs=minimize_runs,
        verification=tuple(verification),
        recording=Recording(
            mode="compose",
            source=rec.source,
            kernel=platform.release(),
            duration_seconds=round(rec.duration, 3),
            privileged=privileged,
            granted=tuple(sorted_short(granted)),
            unavailable=tuple(sorted_short(unavailable)),
            events=sum(c.count for c in rec.checks),
            lost_events=rec.lost_events,
            exit_code=rec.exit_code,
            probe=opts.probe,
        ),
        notes=tuple(notes),
        access=touched.evidence,
    )
    return Outcome(profile, rec, result)




def _touched(rec: RunResult, config: dk.ServiceConfig) -> Touched:
    # Privileged or its stand-in: either way /proc/sys was writable and the sysctl values read
    # at the end are the ones the service set.
    return propose(
        rec.opens,
        rec.sysctl_values,
        privileged=True,
        host_network=config.network_mode == "host",
        host_ipc=config.ipc == "host",
        configured_sysctls=dict(config.sysctls),
    )


def _number(short_name: str) -> int:
    return CAPABILITY_NUMBERS.get("CAP_" + short_name, 99)
