"""Watching a started container for a recording's duration: its state, its healthcheck, and the
probes that prove the service works (``--probe``, ``--probe-exec``), with the early end of a
verification run once the probes have judged it (``EarlyEnd``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import docker
from docker.errors import NotFound


@dataclass(frozen=True, slots=True)
class Probe:
    """A command that proves the service works. ``--probe`` runs it on the host (``sh -c``);
    ``--probe-exec`` (``inside``) runs it in the service's container with ``docker exec``, for a
    service no network path from the host reaches (``network_mode: none``, internal networks). An
    in-container probe is a process of the container like a healthcheck: its own capability checks
    are the service's, recorded and verified with it."""

    command: str
    inside: bool = False

    def argv(self, container_id: str) -> list[str]:
        if self.inside:
            return ["docker", "exec", container_id, "sh", "-c", self.command]
        return ["sh", "-c", self.command]

    def describe(self) -> str:
        return f"--probe-exec {self.command!r}" if self.inside else f"--probe {self.command!r}"


def run_probe(probe: Probe, container_id: str, timeout: float = 10) -> int:
    try:
        proc = subprocess.run(probe.argv(container_id), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124
    return proc.returncode


def run_probes(probes: Sequence[Probe], container_id: str) -> int:
    """One round: every probe in turn; the first failure's exit code, else 0."""
    for probe in probes:
        code = run_probe(probe, container_id)
        if code != 0:
            return code
    return 0


@dataclass(frozen=True, slots=True)
class EarlyEnd:
    """When a verification run may stop before its duration (the probe is the judge of "works").

    ``warmup``: seconds the recording took to do everything it did (its last new call site, its
    first passing probe): a run passes early once it has been up that long and a probe round after
    that passed (and the healthcheck says healthy, when the recording's did). It fails early once
    ``FAILED_ROUNDS`` probe rounds in a row failed after twice the warm-up: a slow start cannot be
    mistaken for a failure sooner, and a wrong "fail" only keeps a capability (a wider set).
    """

    warmup: float
    need_healthy: bool = False

    FAILED_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Watched:
    exit_code: int | None  # None: still running at the end
    health: str | None
    probe_results: list[int]
    elapsed: float
    first_probe_ok: float | None = None  # seconds from the start to the first passing probe round
    ended_early: str | None = None  # why the run stopped before its duration
    started: float = 0.0  # time.monotonic() when watching began


def watch(
    client: docker.DockerClient,
    container_id: str,
    duration: float,
    probes: Sequence[Probe],
    probe_interval: float,
    *,
    on_tick: Callable[[], None] | None = None,
    early: EarlyEnd | None = None,
) -> Watched:
    started = time.monotonic()
    next_probe = started + min(0.5, duration / 2)
    results: list[int] = []
    times: list[float] = []
    exit_code: int | None = None
    health: str | None = None
    ended_early: str | None = None
    while True:
        now = time.monotonic()
        try:
            attrs = client.api.inspect_container(container_id)
        except NotFound:
            break
        state = attrs.get("State", {})
        health = (state.get("Health") or {}).get("Status")
        if not state.get("Running", False) and state.get("Status") in ("exited", "dead"):
            exit_code = int(state.get("ExitCode", 0))
            break
        if now - started >= duration:
            break
        if early is not None and probes:
            ended_early = _early_verdict(early, results, times, health)
            if ended_early is not None:
                break
        if probes and now >= next_probe:
            at = now - started
            results.append(run_probes(probes, container_id))
            times.append(at)
            # Past the warm-up, probe again at once: a pass then ends the run.
            pending = early is not None and at < early.warmup
            wait = min(probe_interval, max(early.warmup - at, 0.0)) if pending and early else probe_interval
            next_probe = time.monotonic() + wait
        if on_tick is not None:
            on_tick()
        time.sleep(0.1)
    if probes and exit_code is None and ended_early is None:
        results.append(run_probes(probes, container_id))
        times.append(time.monotonic() - started)
    first_ok = next((t for t, r in zip(times, results, strict=True) if r == 0), None)
    return Watched(exit_code, health, results, time.monotonic() - started, first_ok, ended_early, started)


def _early_verdict(early: EarlyEnd, results: list[int], times: list[float], health: str | None) -> str | None:
    if health == "unhealthy":
        return "the healthcheck reports unhealthy"
    if not results:
        return None
    if results[-1] == 0 and times[-1] >= early.warmup and (health == "healthy" or not early.need_healthy):
        return f"the probe passed after the recording's {early.warmup:.1f}s warm-up"
    tail = times[-EarlyEnd.FAILED_ROUNDS :]
    if (
        len(tail) == EarlyEnd.FAILED_ROUNDS
        and tail[0] >= 2 * early.warmup
        and all(r != 0 for r in results[-EarlyEnd.FAILED_ROUNDS :])
    ):
        return f"the probe failed {EarlyEnd.FAILED_ROUNDS} times in a row after twice the {early.warmup:.1f}s warm-up"
    return None
