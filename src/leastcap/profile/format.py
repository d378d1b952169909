"""The profile file: what ``leastcap profile`` measured and proposes, read by ``leastcap fix``.

The JSON layout is documented in docs/profile.md and checked by profile.schema.json (next to this
module). ``version`` is bumped on any incompatible change; readers refuse versions they don't know
instead of guessing, because a misread profile would silently grant or drop capabilities.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]

from leastcap.capabilities import CAPABILITY_NUMBERS

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("profile.schema.json")

# Decisions a capability can get. "required" ones are in cap_add; the rest say why one is not.
REQUIRED = "required"
OPTIONAL_PROBE = "optional_probe"  # only no-audit checks (e.g. SYS_ADMIN on every mmap)
TOLERATED_DENIAL = "tolerated_denial"  # denied during recording and the service was fine
COLLAPSED = "collapsed"  # the wider half of an either-of pair; the narrower one is kept
MINIMIZED_OUT = "minimized_out"  # --minimize removed it and verification still passed
UNAVAILABLE = "unavailable"  # the host could not grant it, so the recording could not see it used
DECISIONS = (REQUIRED, OPTIONAL_PROBE, TOLERATED_DENIAL, COLLAPSED, MINIMIZED_OUT, UNAVAILABLE)


class ProfileFormatError(ValueError):
    """The file is not a profile this version of leastcap can read."""


@dataclass(frozen=True, slots=True)
class ProcessCount:
    comm: str
    count: int


@dataclass(frozen=True, slots=True)
class CapabilityEvidence:
    """Why one capability is in (or out of) the proposal.

    ``capability`` is the short name (``NET_ADMIN``). ``granted``/``denied`` count audited checks,
    ``probes`` the no-audit ones (recognised by their kernel stack). ``frames`` are the first kernel
    frames above the capability-check plumbing of the first check seen; ``syscalls`` are derived from
    the ``__x64_sys_*``/``__arm64_sys_*`` frame of each stack when there is one.
    """

    capability: str
    decision: str
    reason: str
    granted: int = 0
    denied: int = 0
    probes: int = 0
    processes: tuple[ProcessCount, ...] = ()
    frames: tuple[str, ...] = ()
    syscalls: tuple[str, ...] = ()
    narrower: str | None = None  # for "collapsed": the capability kept instead


DEVICE = "device"
SYSCTL = "sysctl"
ACCESS_KINDS = (DEVICE, SYSCTL)


@dataclass(frozen=True, slots=True)
class AccessEvidence:
    """Why a device or sysctl is in the proposal: the service's opens of it during the recording.

    ``name`` is the entry as proposed (``/dev/net/tun`` in ``devices``, ``net.ipv4.ip_forward`` in
    ``sysctls``); ``value`` is the sysctl's value (None for a device); ``path`` is what the service
    opened. ``reads``/``writes`` count opens read-only and for writing.
    """

    kind: str  # DEVICE or SYSCTL
    name: str
    path: str
    reason: str
    value: str | None = None
    reads: int = 0
    writes: int = 0
    processes: tuple[ProcessCount, ...] = ()


@dataclass(frozen=True, slots=True)
class Recording:
    """How the measurement was made, so a reader can judge it."""

    mode: str  # "compose" (started by leastcap) or "attach" (a running container)
    source: str  # "tracepoint" (capability:cap_capable) or "kprobe" (cap_capable kprobe)
    kernel: str
    duration_seconds: float
    privileged: bool  # recorded with privileged: true (False: with every capability the host grants)
    granted: tuple[str, ...]  # capabilities the recorded container had
    unavailable: tuple[str, ...]  # capabilities the host's bounding set could not grant
    events: int  # capability checks kept (the service's own)
    lost_events: int  # events tracefs reported as overrun/dropped; > 0 means the evidence is incomplete
    exit_code: int | None = None  # the service's exit code when it exited during the recording
    probe: str | None = None
    container: str | None = None
    probe_exec: str | None = None  # the probe run inside the container (--probe-exec)
    expect_exit: int | None = None  # the exit code the user declared (--expect-exit), for batch jobs
    # Why the recording is not a baseline (the workload failed: "exit 3", "healthcheck unhealthy",
    # "probe exit 1"); None when it worked. A failed recording is never verified.
    failure: str | None = None
    # With a probe: seconds the recording took to do everything it did (verdict.warmup); a
    # verification run ends once the probe passed after this long.
    warmup_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class VerificationRun:
    cap_add: tuple[str, ...]
    passed: bool
    reason: str
    seconds: float | None = None  # wall time of the run (start to clean-up)
    no_new_privileges: bool = True
    # New audited denials where the recording was granted ("CHOWN: chown's fchownat x1"): a failure
    # unless a probe judges the run (functional minimum), then what the service lives without.
    denials: tuple[str, ...] = ()
    ended_early: str | None = None  # why the run stopped before its duration (the probe passed...)


@dataclass(frozen=True, slots=True)
class Exercised:
    """A capability the final set leaves out although the service exercised it: its checks are
    denied and the probe kept passing (the functional minimum). The user can add it back."""

    capability: str
    comm: str
    syscall: str | None
    frames: tuple[str, ...]
    count: int

    def describe(self) -> str:
        what = f"{self.comm}'s {self.syscall}" if self.syscall else f"a check by {self.comm}"
        at = f", at {self.frames[0]}" if self.frames else ""
        return f"without {self.capability}: {what} is denied (x{self.count}{at}); the service kept working"


SETUID_ROOT = "setuid-root"
FILE_CAPABILITIES = "file-capabilities"


@dataclass(frozen=True, slots=True)
class PrivilegedHelper:
    """A setuid-root or file-capability binary the service exec'd: ``no-new-privileges`` stops it
    from gaining anything, so a run with it cannot reproduce the recording."""

    path: str
    kind: str  # SETUID_ROOT or FILE_CAPABILITIES
    file_capabilities: tuple[str, ...]  # the file's permitted set (FILE_CAPABILITIES)
    used: tuple[str, ...]  # capabilities its processes were granted in the recording
    # Which verification the probe (or the recording's rule) picked: "no-new-privileges" (helper
    # disabled) or "helper" (no no-new-privileges, with the helper's capability); None if not run.
    chosen: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    version: int
    compose_files: tuple[str, ...]  # absolute paths, in -f order; empty in attach mode without labels
    project: str  # the Compose project name the service belongs to
    service: str
    image: str
    cap_add: tuple[str, ...]  # short names, sorted by capability number
    devices: tuple[str, ...]
    sysctls: Mapping[str, str]
    security_opt: tuple[str, ...]
    evidence: tuple[CapabilityEvidence, ...]  # one per capability seen or considered
    verified: bool
    minimized: bool
    recording: Recording
    cap_drop: tuple[str, ...] = ("ALL",)
    privileged: bool = False
    working_dir: str | None = None  # the Compose project directory
    verification: tuple[VerificationRun, ...] = ()
    minimize_runs: int = 0
    notes: tuple[str, ...] = field(default=())
    tool: str = "leastcap"
    # One per proposed device and sysctl. Optional in the file (profiles written before it existed
    # have none), so adding it kept the format version.
    access: tuple[AccessEvidence, ...] = ()
    # Optional too: wall time of --minimize; what the final set lives without (functional minimum);
    # privileged helpers the service exec'd.
    minimize_seconds: float | None = None
    exercised: tuple[Exercised, ...] = ()
    helpers: tuple[PrivilegedHelper, ...] = ()

    def evidence_for(self, capability: str) -> CapabilityEvidence | None:
        for item in self.evidence:
            if item.capability == capability:
                return item
        return None


def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    rec = profile.recording
    return {
        "version": profile.version,
        "tool": profile.tool,
        "compose_files": list(profile.compose_files),
        "working_dir": profile.working_dir,
        "project": profile.project,
        "service": profile.service,
        "image": profile.image,
        "privileged": profile.privileged,
        "cap_drop": list(profile.cap_drop),
        "cap_add": list(profile.cap_add),
        "devices": list(profile.devices),
        "sysctls": dict(profile.sysctls),
        "security_opt": list(profile.security_opt),
        "verified": profile.verified,
        "minimized": profile.minimized,
        "minimize_runs": profile.minimize_runs,
        "verification": [
            {
                "cap_add": list(v.cap_add),
                "passed": v.passed,
                "reason": v.reason,
                "seconds": v.seconds,
                "no_new_privileges": v.no_new_privileges,
                "denials": list(v.denials),
                "ended_early": v.ended_early,
            }
            for v in profile.verification
        ],
        "minimize_seconds": profile.minimize_seconds,
        "recording": {
            "mode": rec.mode,
            "source": rec.source,
            "kernel": rec.kernel,
            "duration_seconds": rec.duration_seconds,
            "privileged": rec.privileged,
            "granted": list(rec.granted),
            "unavailable": list(rec.unavailable),
            "events": rec.events,
            "lost_events": rec.lost_events,
            "exit_code": rec.exit_code,
            "probe": rec.probe,
            "container": rec.container,
            "probe_exec": rec.probe_exec,
            "expect_exit": rec.expect_exit,
            "failure": rec.failure,
            "warmup_seconds": rec.warmup_seconds,
        },
        "evidence": [
            {
                "capability": e.capability,
                "decision": e.decision,
                "reason": e.reason,
                "granted": e.granted,
                "denied": e.denied,
                "probes": e.probes,
                "processes": [{"comm": p.comm, "count": p.count} for p in e.processes],
                "frames": list(e.frames),
                "syscalls": list(e.syscalls),
                "narrower": e.narrower,
            }
            for e in profile.evidence
        ],
        "notes": list(profile.notes),
        "access": [
            {
                "kind": a.kind,
                "name": a.name,
                "value": a.value,
                "path": a.path,
                "reason": a.reason,
                "reads": a.reads,
                "writes": a.writes,
                "processes": [{"comm": p.comm, "count": p.count} for p in a.processes],
            }
            for a in profile.access
        ],
        "exercised": [
            {
                "capability": x.capability,
                "comm": x.comm,
                "syscall": x.syscall,
                "frames": list(x.frames),
                "count": x.count,
            }
            for x in profile.exercised
        ],
        "helpers": [
            {
                "path": h.path,
                "kind": h.kind,
                "file_capabilities": list(h.file_capabilities),
                "used": list(h.used),
                "chosen": h.chosen,
            }
            for h in profile.helpers
        ],
    }


def profile_from_dict(data: Any) -> Profile:
    if not isinstance(data, dict):
        raise ProfileFormatError("a profile is a JSON object")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise ProfileFormatError(
            f"profile format version {version!r} is not supported (this leastcap reads version {FORMAT_VERSION})"
        )
    try:
        jsonschema.validate(data, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise ProfileFormatError(f"invalid profile at {where}: {exc.message}") from None
    for cap in [*data["cap_add"], *(e["capability"] for e in data["evidence"])]:
        if "CAP_" + cap not in CAPABILITY_NUMBERS:
            raise ProfileFormatError(f"unknown capability {cap!r} in profile")
    rec = data["recording"]
    return Profile(
        version=version,
        tool=data["tool"],
        compose_files=tuple(data["compose_files"]),
        working_dir=data.get("working_dir"),
        project=data["project"],
        service=data["service"],
        image=data["image"],
        privileged=data["privileged"],
        cap_drop=tuple(data["cap_drop"]),
        cap_add=tuple(data["cap_add"]),
        devices=tuple(data["devices"]),
        sysctls=dict(data["sysctls"]),
        security_opt=tuple(data["security_opt"]),
        verified=data["verified"],
        minimized=data["minimized"],
        minimize_runs=data["minimize_runs"],
        verification=tuple(
            VerificationRun(
                tuple(v["cap_add"]),
                v["passed"],
                v["reason"],
                v.get("seconds"),
                v.get("no_new_privileges", True),
                tuple(v.get("denials", ())),
                v.get("ended_early"),
            )
            for v in data["verification"]
        ),
        minimize_seconds=data.get("minimize_seconds"),
        exercised=tuple(
            Exercised(x["capability"], x["comm"], x["syscall"], tuple(x["frames"]), x["count"])
            for x in data.get("exercised", ())
        ),
        helpers=tuple(
            PrivilegedHelper(h["path"], h["kind"], tuple(h["file_capabilities"]), tuple(h["used"]), h["chosen"])
            for h in data.get("helpers", ())
        ),
        recording=Recording(
            mode=rec["mode"],
            source=rec["source"],
            kernel=rec["kernel"],
            duration_seconds=rec["duration_seconds"],
            privileged=rec["privileged"],
            granted=tuple(rec["granted"]),
            unavailable=tuple(rec["unavailable"]),
            events=rec["events"],
            lost_events=rec["lost_events"],
            exit_code=rec["exit_code"],
            probe=rec["probe"],
            container=rec["container"],
            probe_exec=rec.get("probe_exec"),
            expect_exit=rec.get("expect_exit"),
            failure=rec.get("failure"),
            warmup_seconds=rec.get("warmup_seconds"),
        ),
        evidence=tuple(
            CapabilityEvidence(
                capability=e["capability"],
                decision=e["decision"],
                reason=e["reason"],
                granted=e["granted"],
                denied=e["denied"],
                probes=e["probes"],
                processes=tuple(ProcessCount(p["comm"], p["count"]) for p in e["processes"]),
                frames=tuple(e["frames"]),
                syscalls=tuple(e["syscalls"]),
                narrower=e["narrower"],
            )
            for e in data["evidence"]
        ),
        notes=tuple(data["notes"]),
        access=tuple(
            AccessEvidence(
                kind=a["kind"],
                name=a["name"],
                value=a["value"],
                path=a["path"],
                reason=a["reason"],
                reads=a["reads"],
                writes=a["writes"],
                processes=tuple(ProcessCount(p["comm"], p["count"]) for p in a["processes"]),
            )
            for a in data.get("access", ())
        ),
    )


def dumps_profile(profile: Profile) -> str:
    data = profile_to_dict(profile)
    # Validate what we write too: a profile that its own reader refuses is a bug here, not later.
    jsonschema.validate(data, _schema())
    return json.dumps(data, indent=2) + "\n"


def write_profile(profile: Profile, path: str | Path) -> None:
    Path(path).write_text(dumps_profile(profile))


def read_profile(path: str | Path) -> Profile:
    """Read and validate a profile file. Raises ProfileFormatError (or OSError) on failure."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ProfileFormatError(f"{path}: not JSON: {exc}") from None
    return profile_from_dict(data)
