"""Measure a real program: ``leastcap profile --verify --minimize`` with an in-container probe, as knowledge data.

The harness writes a Compose file for the program's image, runs the real ``leastcap profile`` CLI
(a subprocess, as a user would), and turns the profile it writes into a measured knowledge entry
(``knowledge/measured.schema.json``): the capability set, the rule that decided "works", the
single-removal check (what failed without each kept capability), and the recording's evidence.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leastcap.measure.debian import DEFAULT_SUITE, BuiltImage
from leastcap.measure.programs import Program
from leastcap.profile.format import profile_from_dict

PROGRAM_LABEL = "org.leastcap.measure.program"
HEADER = (
    "# Measured by bench/measure_images.py (leastcap profile --verify --minimize, probe inside the\n"
    "# container); pinned by tests/profile/test_measured_programs.py. Regenerate, do not edit.\n"
)

Log = Callable[[str], None]


class MeasureError(RuntimeError):
    """leastcap profile failed for the program; the message has its output."""


@dataclass(frozen=True, slots=True)
class Measured:
    entry: dict[str, Any]  # the knowledge entry (measured.schema.json)
    profile: dict[str, Any]  # the profile JSON leastcap wrote
    seconds: float  # wall time of the profile runs
    runs: int  # service runs (recordings and verifications)


def compose_text(program: Program, image: str) -> str:
    service = {
        "image": image,
        "command": list(program.command),
        # Lets the host-side probe find the temporary container (its project name is random).
        "labels": {PROGRAM_LABEL: program.name},
    }
    return yaml.safe_dump({"services": {program.name: service}}, sort_keys=False, width=1000)


def _env() -> dict[str, str]:
    # The CLI run is this very leastcap (a worktree's src/ too), not whichever one is installed.
    here = str(Path(__file__).resolve().parents[2])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p))


def _cli_help(leastcap: Sequence[str]) -> str:
    proc = subprocess.run([*leastcap, "profile", "--help"], capture_output=True, text=True, check=False, env=_env())
    return proc.stdout


def probe_options(program: Program, help_text: str) -> list[str]:
    """``--probe-exec`` where leastcap has it; else ``docker exec`` into the container from the host."""
    if "--probe-exec" in help_text:
        return ["--probe-exec", program.probe]
    find = f"$(docker ps -q --filter label={PROGRAM_LABEL}={program.name} --filter status=running | head -n1)"
    return ["--probe", f"docker exec {find} sh -c {shlex.quote(program.probe)}"]


def rule_of(help_text: str) -> str:
    """Which rule decides "works" by default: with a probe, functional where leastcap has it, else the strict one."""
    return "functional" if "--keep-exercised" in help_text else "exercised"


def rule_options(rule: str | None, help_text: str) -> tuple[str, list[str]]:
    """The rule to measure with (None: leastcap's default) and the options that select it."""
    default = rule_of(help_text)
    if rule is None or rule == default:
        return default, []
    if rule == "exercised":  # leastcap's default is functional: keep the strict rule
        return rule, ["--keep-exercised"]
    raise MeasureError(f"this leastcap cannot measure with the {rule} rule (its rule is {default})")


def _profile(
    leastcap: Sequence[str], compose: Path, program: Program, options: Sequence[str], log: Log
) -> tuple[int, dict[str, Any], str]:
    out = compose.with_name(f"profile-{time.monotonic_ns()}.json")
    argv = [*leastcap, "profile", program.name, "-f", str(compose), "--duration", program.duration, *options]
    argv += ["-o", str(out)]
    log("$ " + shlex.join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=_env())
    if not out.is_file():
        why = f"leastcap profile {program.name} wrote no profile (exit {proc.returncode})"
        raise MeasureError(f"{why}:\n{proc.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    return proc.returncode, data, proc.stdout + proc.stderr


def removal_from_runs(cap: str, final: set[str], runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """A failed run without ``cap`` but with every other kept capability (minimisation made it)."""
    for run in runs:
        caps = set(run["cap_add"])
        if not run["passed"] and cap not in caps and final - {cap} <= caps:
            return {"capability": cap, "cap_add": sorted(caps), "failed": run["reason"]}
    return None


def measure(
    program: Program,
    image: BuiltImage,
    *,
    leastcap: Sequence[str] = (sys.executable, "-m", "leastcap"),
    exact_removals: bool = False,
    rule: str | None = None,
    log: Log = lambda _: None,
) -> Measured:
    """Profile ``program`` in ``image`` and return its measured knowledge entry.

    The single-removal check comes from the minimisation's own failed runs (a run with every kept
    capability but one); ``exact_removals`` (or a kept capability no such run covers) verifies
    the final set minus each capability once more (``--verify-caps``). ``rule`` chooses what
    decides "works" (``exercised`` or ``functional``; None: leastcap's default), so a stored entry
    is measured again with its own rule.
    """
    help_text = _cli_help(leastcap)
    rule, rule_args = rule_options(rule or program.rule, help_text)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"leastcap-measure-{program.name}-") as tmp:
        compose = Path(tmp) / "compose.yaml"
        compose.write_text(compose_text(program, image.tag))
        probe = [*probe_options(program, help_text), *rule_args]
        start = ["--minimize-from", ",".join(program.minimize_from)] if program.minimize_from else []
        code, profile, output = _profile(leastcap, compose, program, [*probe, "--verify", "--minimize", *start], log)
        if code != 0 or not profile["verified"]:
            raise MeasureError(f"leastcap profile {program.name} did not verify (exit {code}):\n{output[-4000:]}")
        runs = 1 + len(profile["verification"])
        final = set(profile["cap_add"])
        removals = []
        for cap in sorted(final):
            found = None if exact_removals else removal_from_runs(cap, final, profile["verification"])
            if found is None:
                without = sorted(final - {cap})
                _, check, _ = _profile(leastcap, compose, program, [*probe, "--verify-caps", ",".join(without)], log)
                runs += 1 + len(check["verification"])
                last = check["verification"][-1]
                if last["passed"]:
                    raise MeasureError(f"{program.name} verified without {cap}: the minimised set is not minimal")
                found = {"capability": cap, "cap_add": without, "failed": last["reason"]}
            removals.append(found)
    seconds = time.monotonic() - started
    entry = knowledge_entry(program, image, profile, removals, rule)
    return Measured(entry, profile, seconds, runs)


def _recording_text(recording: dict[str, Any]) -> str:
    if recording["privileged"]:
        return "privileged"
    missing = ", ".join(recording["unavailable"]) or "nothing"
    return f"the stand-in for privileged ({len(recording['granted'])} capabilities; not grantable here: {missing})"


def knowledge_entry(
    program: Program, image: BuiltImage, profile: dict[str, Any], removals: list[dict[str, Any]], rule: str
) -> dict[str, Any]:
    recording = profile["recording"]
    entry: dict[str, Any] = {
        "program": program.name,
        "title": program.title,
        "source": "measured",
    }
    if program.family:
        entry["family"] = program.family
    entry |= {
        "package": program.package,
        "version": image.versions[program.package],
        "suite": DEFAULT_SUITE,
        "packages": list(program.packages),
        "service": {"command": list(program.command), **({"note": program.note} if program.note else {})},
        "probe": {"command": program.probe, "where": "container", "proves": program.proves},
        "result": {
            "cap_add": sorted(profile["cap_add"]),
            "devices": list(profile["devices"]),
            "sysctls": dict(profile["sysctls"]),
            "no_new_privileges": "no-new-privileges:true" in profile["security_opt"],
            "verified": True,
            "rule": rule,
            "minimize_runs": profile["minimize_runs"],
            "removals": removals,
            "exercised": [
                {"capability": x.capability, "without": x.describe()} for x in profile_from_dict(profile).exercised
            ],
            "helpers": [
                {"path": h["path"], "kind": h["kind"], "chosen": h["chosen"]} for h in profile.get("helpers", ())
            ],
        },
        "evidence": [
            {
                "capability": e["capability"],
                "decision": e["decision"],
                "granted": e["granted"],
                "denied": e["denied"],
                "processes": [p["comm"] for p in e["processes"]],
                "frames": list(e["frames"][:4]),
                "syscalls": list(e["syscalls"]),
            }
            for e in profile["evidence"]
            if e["granted"] or e["denied"] or e["probes"]
        ],
    }
    if program.differs:
        entry["differs"] = [{"text": text, "url": url} for text, url in program.differs]
    entry["measured_with"] = {
        "leastcap": profile["tool"],
        "kernel": recording["kernel"] or platform.release(),
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "recorder": recording["source"],
        "duration_seconds": float(recording["duration_seconds"]),
        "recording": _recording_text(recording),
    }
    return entry


def dump_entry(entry: dict[str, Any]) -> str:
    return HEADER + yaml.safe_dump(entry, sort_keys=False, width=110, allow_unicode=True)
