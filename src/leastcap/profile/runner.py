"""Record, classify, verify, minimise: the whole of ``leastcap profile`` for a Compose service.

Verification runs the service again with ``cap_drop: [ALL]``, the candidate ``cap_add``,
``no-new-privileges:true`` and the proposed devices and sysctls (privileged off), traced; whether a
run behaves as in the recording is decided in ``verdict``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from leastcap import __version__
from leastcap.capabilities import short, sort_capabilities
from leastcap.profile import docker as dk
from leastcap.profile.classify import Classification, classify
from leastcap.profile.format import (
    FILE_CAPABILITIES,
    FORMAT_VERSION,
    CapabilityEvidence,
    Exercised,
    PrivilegedHelper,
    Profile,
    Recording,
    VerificationRun,
)
from leastcap.profile.helpers import choice_note, helper_note, privileged_helpers
from leastcap.profile.minimize import mark_minimized_out, minimize_groups
from leastcap.profile.recorder import RunResult, record_compose_run
from leastcap.profile.touched import Touched, host_devices, propose
from leastcap.profile.tracefs import check_source, tracefs_root
from leastcap.profile.verdict import capability_order, denial_text, new_denials, recording_failure, verdict, warmup
from leastcap.profile.watch import EarlyEnd, Probe
from leastcap.progress import Tick, silent
from leastcap.semantics import without_option

Log = Callable[[str], None]

# Verification runs at a time when their sets are independent and the project's copies cannot
# touch each other: most of a run is waiting on dockerd and runc, so two overlap well on 2 cores.
PARALLEL_RUNS = 2


@dataclass(frozen=True, slots=True)
class Options:
    duration: float
    probes: tuple[Probe, ...] = ()  # --probe (host) and --probe-exec (in the container)
    probe_interval: float = 1.0
    expect_exit: int | None = None  # --expect-exit: the exit code of a batch job that worked
    # --keep-exercised: with a probe, still fail a run on any new audited denial (today's rule)
    keep_exercised: bool = False
    # "groups" (bisection over what is left, runs that end once the probe passed) or "linear" (one
    # full-length run per capability: the old strategy, kept for bench/minimize.py's ratio)
    strategy: Literal["groups", "linear"] = "groups"
    verify: bool = False
    minimize: bool = False
    minimize_from: frozenset[str] = frozenset()  # extra CAP_ names to start minimising from
    verify_caps: frozenset[str] | None = None  # verify exactly this set instead of the proposal
    kernel_filter: bool = True
    recorder: str = "auto"  # bpf: count checks in the kernel; ftrace: a stack per check; auto: bpf if it loads
    # Seconds of watching the open syscalls (None: the whole run; "auto": see recorder.Session).
    open_window: float | Literal["auto"] | None = "auto"

    @property
    def functional(self) -> bool:
        """The probe is the judge of "works": new denials alone do not fail a run."""
        return bool(self.probes) and not self.keep_exercised


@dataclass(frozen=True, slots=True)
class Outcome:
    profile: Profile
    recording: RunResult
    classification: Classification


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
            f"dockerd does not know {', '.join(sorted_short(unknown_to_daemon))}: the recording could not grant them"
        )
    return Grant(granted, kernel - granted, not missing_bnd, tuple(notes))


def sorted_short(names: Iterable[str]) -> list[str]:
    return [short(n) for n in sort_capabilities(names)]


def profile_compose(target: dk.ComposeTarget, opts: Options, log: Log, tick: Tick = silent) -> Outcome:
    """``tick`` hears each run's progress (``leastcap.progress``): run k, recording or verifying,
    its seconds out of --duration. The number of runs is not shown ahead: verification and
    minimisation decide it as they go."""
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
    setting = _recording_setting(grant, config)
    if not privileged:
        _note(notes, log, _stand_in_note(len(granted), len(setting.devices)))
    how = "privileged" if privileged else f"{len(granted)} capabilities, every host device and a writable /proc/sys"
    log(f"recording {target.service} for up to {opts.duration:g}s with {how}")

    run = _Runs(target, opts, binary, source, tick)
    rec = run(setting)
    if not rec.rooted:
        raise dk.ComposeError("the container's processes were not found in the trace (is dockerd using containerd?)")
    # Devices and sysctls the service touched; the verification runs get them too.
    touched = _touched(rec, config)
    failure = _recording_notes(rec, touched, opts, notes, log)
    result = classify(rec.checks, unavailable)
    for note in result.notes:
        _note(notes, log, note)
    evidence = list(result.evidence)
    helpers = privileged_helpers(rec.helper_files, rec.execs, rec.checks)
    for h in helpers:
        _note(notes, log, helper_note(h))
    warm = round(warmup(rec, opts.duration), 2) if opts.probes else None
    early = (
        EarlyEnd(warm, need_healthy=rec.health == "healthy") if warm is not None and opts.strategy == "groups" else None
    )
    verifier = _Verifier(rec, config, touched, opts, run, log, early)
    final, nnp, helpers = _verify_proposal(verifier, frozenset(result.required), helpers, failure, notes)
    minimize_runs = 0
    minimize_seconds: float | None = None
    if failure is None and opts.minimize:
        final, minimize_runs, minimize_seconds = _minimize(verifier, final, nnp, result.used, evidence)
    verified = (final, nnp) in verifier.passed
    _refused_exec_notes(helpers, final, verified, notes, log)
    if not opts.probes and verifier.runs and (opts.minimize or opts.verify_caps is not None):
        notes.append(
            "no probe: a run failed on any new audited denial; a probe that proves the service works"
            " (--probe, --probe-exec) could allow a smaller set, dropping capabilities the service"
            " only exercises"
        )
    security_opt = (
        dk.with_no_new_privileges(config.security_opt)
        if nnp
        else without_option(config.security_opt, "no-new-privileges")
    )
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
        security_opt=security_opt,
        evidence=tuple(sorted(evidence, key=lambda e: capability_order(e.capability))),
        verified=verified,
        minimized=opts.minimize and failure is None,
        minimize_runs=minimize_runs,
        verification=tuple(verifier.runs),
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
            probe=next((p.command for p in opts.probes if not p.inside), None),
            probe_exec=next((p.command for p in opts.probes if p.inside), None),
            expect_exit=opts.expect_exit,
            failure=failure,
            warmup_seconds=warm,
        ),
        notes=tuple(notes),
        access=touched.evidence,
        minimize_seconds=minimize_seconds,
        exercised=verifier.passed.get((final, nnp), ()),
        helpers=tuple(helpers),
    )
    return Outcome(profile, rec, result)


def _note(notes: list[str], log: Log, note: str) -> None:
    """A note for the profile, shown as it is made."""
    notes.append(note)
    log("note: " + note)


def _recording_setting(grant: Grant, config: dk.ServiceConfig) -> dk.CapabilitySetting:
    """Privileged when the host can start it; else its stand-in: every grantable capability, the
    host's devices and a writable /proc/sys."""
    privileged = grant.privileged_ok
    return dk.CapabilitySetting(
        privileged=privileged,
        cap_add=grant.granted,
        no_new_privileges=False,
        security_opt=config.security_opt,
        devices=() if privileged else host_devices(),
        like_privileged=not privileged,
    )


def _stand_in_note(capabilities: int, devices: int) -> str:
    return (
        f"in place of privileged, the recording had {capabilities} capabilities, the host's"
        f" {devices} device nodes with access to every device (device_cgroup_rules),"
        " and a writable /proc/sys (systempaths=unconfined), as privileged has; /sys stayed"
        " read-only, so a write to /sys was seen only while the open syscalls were watched"
        " (--open-window)"
    )


def _recording_notes(rec: RunResult, touched: Touched, opts: Options, notes: list[str], log: Log) -> str | None:
    """Note (and show) how the recording fell short and what it touched; return why it failed, if it did."""
    if rec.lost_events:
        notes.append(f"the recorder lost {rec.lost_events} events: the evidence is incomplete")
        log(
            f"warning: the recorder lost {rec.lost_events} events (buffer overrun or full map);"
            " the evidence is incomplete"
        )
    failure = recording_failure(rec, opts.expect_exit)
    if failure is not None:
        notes.append(
            f"the recording itself failed ({failure}): it is not a baseline to verify against, so"
            " nothing was verified or minimised and the proposal is what a failing run used"
            + ("" if opts.expect_exit is not None else "; --expect-exit N declares a batch job's exit code")
        )
        log(f"error: {notes[-1]}")
    for note in [*rec.notes, *touched.notes]:
        _note(notes, log, note)
    if touched.devices:
        log(f"proposing devices {list(touched.devices)}")
    if touched.sysctls:
        log(f"proposing sysctls {dict(touched.sysctls)}")
    return failure


class _Runs:
    """The numbered runs of one profile, the recording and then each verification, with their progress."""

    def __init__(self, target: dk.ComposeTarget, opts: Options, binary: str, source: str, tick: Tick) -> None:
        self.target, self.opts, self.binary, self.source, self.tick = target, opts, binary, source, tick
        self.count = 0

    def __call__(self, s: dk.CapabilitySetting, early: EarlyEnd | None = None, verifying: bool = False) -> RunResult:
        opts = self.opts
        self.count += 1
        task = f"run {self.count}: {'verifying' if verifying else 'recording'} {self.target.service}"
        seconds = max(1, round(opts.duration))

        def elapsed(t: float) -> None:
            self.tick(task, min(int(t), seconds - 1), seconds)

        try:
            return record_compose_run(
                self.target,
                s,
                self.binary,
                duration=opts.duration,
                probes=opts.probes,
                probe_interval=opts.probe_interval,
                early=early,
                source=self.source,
                kernel_filter=opts.kernel_filter,
                recorder=opts.recorder,
                # The verdict needs no opens: spare the service the slow syscall path they cost.
                open_window=0 if verifying else opts.open_window,
                watch_opens=not verifying,
                inspect_helpers=not verifying,
                # A verification copy's verdict is in once watching ends: no grace period to wait out.
                stop_timeout=0 if verifying and opts.strategy == "groups" else 1,
                on_elapsed=elapsed,
            )
        finally:
            self.tick(task, seconds, seconds)  # the run is over (it may end before --duration)


class _Verifier:
    """Verification runs against the recording ``rec``: each (set, no-new-privileges) is run once;
    the verdicts are kept in the order they were judged (``runs``)."""

    def __init__(
        self,
        rec: RunResult,
        config: dk.ServiceConfig,
        touched: Touched,
        opts: Options,
        run: _Runs,
        log: Log,
        early: EarlyEnd | None,
    ) -> None:
        self.rec, self.config, self.touched, self.opts = rec, config, touched, opts
        self.run, self.log, self.early = run, log, early
        self.runs: list[VerificationRun] = []
        self.passed: dict[tuple[frozenset[str], bool], tuple[Exercised, ...]] = {}
        self.tried: dict[tuple[frozenset[str], bool], bool] = {}
        self.denied_in: dict[tuple[frozenset[str], bool], frozenset[str]] = {}  # what each run saw denied
        # The failed run of the last group tried: which of its capabilities it saw denied.
        self.last_denied: list[frozenset[str]] = [frozenset()]

    def measure(self, caps: frozenset[str], nnp: bool) -> tuple[RunResult, float]:
        """One verification run (thread-safe: its own Compose project, instance and recorder)."""
        began = time.monotonic()
        outcome = self.run(
            dk.CapabilitySetting(
                privileged=False,
                cap_add=caps,
                no_new_privileges=nnp,
                security_opt=self.config.security_opt,
                devices=self.touched.devices,
                sysctls=tuple(self.touched.sysctls.items()),
            ),
            early=self.early,
            verifying=True,
        )
        return outcome, round(time.monotonic() - began, 2)

    def judge(self, caps: frozenset[str], nnp: bool, outcome: RunResult, seconds: float) -> bool:
        ok, why = verdict(self.rec, outcome, self.opts.duration, functional=self.opts.functional)
        denials = new_denials(self.rec, outcome)
        self.log(f"  {'pass' if ok else 'fail'} {sorted_short(caps)}: {why}")
        self.runs.append(
            VerificationRun(
                tuple(sorted_short(caps)),
                ok,
                why,
                seconds=seconds,
                no_new_privileges=nnp,
                denials=tuple(denial_text(d) for d in denials),
                ended_early=outcome.ended_early,
            )
        )
        self.tried[caps, nnp] = ok
        self.last_denied[0] = self.denied_in[caps, nnp] = frozenset("CAP_" + d.capability for d in denials)
        if ok:
            self.passed[caps, nnp] = denials
        return ok

    def announce(self, caps: frozenset[str], nnp: bool, how: str = "") -> None:
        without = "" if nnp else " without no-new-privileges"
        self.log(f"verifying with cap_add {sorted_short(caps)}{without}{how}")

    def verify(self, caps: frozenset[str], nnp: bool = True) -> bool:
        # The same set gives the same answer; a repeat would only cost another run.
        if (caps, nnp) in self.tried:
            self.last_denied[0] = self.denied_in[caps, nnp]
            return self.tried[caps, nnp]
        self.announce(caps, nnp)
        return self.judge(caps, nnp, *self.measure(caps, nnp))

    def verify_all(self, sets: list[frozenset[str]], nnp: bool = True) -> list[bool]:
        """Independent sets: side by side (PARALLEL_RUNS at a time) when copies of the project
        cannot touch each other (ServiceConfig.isolated); their results are recorded in order."""
        todo = [c for c in dict.fromkeys(sets) if (c, nnp) not in self.tried]
        if not self.config.isolated or len(todo) < 2:
            return [self.verify(c, nnp) for c in sets]
        for caps in todo:
            self.announce(caps, nnp, " (side by side)")
        with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
            results = [f.result() for f in [pool.submit(self.measure, c, nnp) for c in todo]]
        for caps, (outcome, seconds) in zip(todo, results, strict=True):
            self.judge(caps, nnp, outcome, seconds)
        return [self.tried[c, nnp] for c in sets]


def _verify_proposal(
    verifier: _Verifier,
    proposal: frozenset[str],
    helpers: list[PrivilegedHelper],
    failure: str | None,
    notes: list[str],
) -> tuple[frozenset[str], bool, list[PrivilegedHelper]]:
    """Verify the proposal (or --verify-caps) when asked, and with privileged helpers choose
    between no-new-privileges and the helper: the set, no-new-privileges or not, the helpers."""
    opts = verifier.opts
    final = proposal
    nnp = True
    if failure is None and (opts.verify_caps is not None or opts.verify or opts.minimize):
        final = opts.verify_caps if opts.verify_caps is not None else proposal
        if opts.verify_caps is not None or opts.verify or helpers:
            verifier.verify(final)
        if helpers:
            # no-new-privileges stops the helper from gaining anything: let the run without it
            # show whether the service needs the helper's capability, and report both.
            with_helper = verifier.verify(final, nnp=False)
            nnp = verifier.tried[final, True] or not with_helper
            chosen = "no-new-privileges" if nnp else "helper"
            helpers = [replace(h, chosen=chosen) for h in helpers]
            _note(notes, verifier.log, choice_note(helpers, nnp, verifier.tried[final, True], with_helper))
    return final, nnp, helpers


def _minimize(
    verifier: _Verifier,
    final: frozenset[str],
    nnp: bool,
    used: frozenset[str],
    evidence: list[CapabilityEvidence],
) -> tuple[frozenset[str], int, float]:
    """--minimize: the smallest set that still verifies, the runs it took and its seconds; the
    evidence of each capability it removed says so."""
    opts = verifier.opts
    began = time.monotonic()
    before = len(verifier.runs)
    start = final | opts.minimize_from
    candidate = start
    unused = frozenset(c for c in candidate if c not in used)
    if unused and verifier.verify(candidate - unused, nnp):
        candidate = candidate - unused
    if opts.strategy == "linear":
        for cap in sort_capabilities(candidate):
            if verifier.verify(candidate - {cap}, nnp):
                candidate = candidate - {cap}
    else:
        candidate = minimize_groups(
            candidate,
            lambda caps: verifier.verify(caps, nnp),
            verifier.last_denied,
            opts.functional,
            lambda sets: verifier.verify_all(sets, nnp),
        )
    minimize_runs = len(verifier.runs) - before
    if (candidate, nnp) not in verifier.passed:
        verifier.verify(candidate, nnp)
    minimize_seconds = round(time.monotonic() - began, 2)
    mark_minimized_out(evidence, start - candidate, verifier.passed.get((candidate, nnp), ()))
    return candidate, minimize_runs, minimize_seconds


def _refused_exec_notes(
    helpers: list[PrivilegedHelper], final: frozenset[str], verified: bool, notes: list[str], log: Log
) -> None:
    for h in helpers:
        refused = [c for c in h.file_capabilities if "CAP_" + c not in final]
        if h.kind == FILE_CAPABILITIES and refused and verified:
            # The kernel refuses to exec a file whose permitted capabilities are not all in the
            # bounding set (cap_add): no check is made, so no denial shows it.
            _note(
                notes,
                log,
                f"without {', '.join(refused)}, the kernel refuses to exec {h.path} (EPERM: its file"
                " capabilities are not all in the container's bounding set); the service kept working",
            )


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
