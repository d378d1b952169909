"""``leastcap profile``: measure which capabilities a service uses, then minimise and verify."""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

import click

from leastcap.capabilities import DOCKER_DEFAULT_CAPABILITIES, UnknownCapabilityError, normalize
from leastcap.contract import ExitCode
from leastcap.profile.format import REQUIRED, Profile, dumps_profile
from leastcap.report.common import defuse

if TYPE_CHECKING:
    from leastcap.profile.docker import ComposeTarget
    from leastcap.profile.runner import Options

EXIT_OK, EXIT_FAILED, EXIT_ERROR = ExitCode.OK, ExitCode.FINDINGS, ExitCode.ERROR
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if m is None:
        raise click.BadParameter(f"{text!r} is not a duration like 500ms, 10s, 5m or 1h")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) * scale


def parse_caps(text: str) -> frozenset[str]:
    """Comma-separated capability names; ``DEFAULT`` expands to Docker's 14 defaults."""
    out: set[str] = set()
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item.upper() == "DEFAULT":
            out |= set(DOCKER_DEFAULT_CAPABILITIES)
            continue
        try:
            name = normalize(item)
        except UnknownCapabilityError as exc:
            raise click.BadParameter(str(exc)) from None
        if name == "ALL":
            raise click.BadParameter("ALL is not a capability set to verify; name the capabilities")
        out.add(name)
    return frozenset(out)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM/SIGHUP take the same orderly path as Ctrl-C: every finally block cleans up.
    raise KeyboardInterrupt


def summary(profile: Profile) -> str:
    head = f"{profile.project}/{profile.service}: cap_drop [ALL], cap_add {list(profile.cap_add)}"
    if profile.devices:
        head += f", devices {list(profile.devices)}"
    if profile.sysctls:
        head += f", sysctls {dict(profile.sysctls)}"
    lines = [head]
    rec = profile.recording
    how = "privileged" if rec.privileged else f"{len(rec.granted)} capabilities"
    ran = f"exited with code {rec.exit_code}" if rec.exit_code is not None else "still running"
    lines.append(f"  recorded {rec.duration_seconds:g}s with {how} ({ran}), {rec.events} checks kept")
    if rec.failure is not None:
        lines.append(f"  the recording itself failed ({rec.failure}): not a baseline; nothing verified")
    if rec.unavailable:
        lines.append(f"  not grantable here: {', '.join(rec.unavailable)}")
    for e in profile.evidence:
        procs = ", ".join(f"{p.comm} x{p.count}" for p in e.processes[:3])
        where = " <- ".join(e.frames[:3])
        sc = f" [{', '.join(e.syscalls)}]" if e.syscalls else ""
        mark = "keep" if e.decision == REQUIRED else "drop"
        lines.append(f"  {mark} {e.capability:<20} {e.decision}: {e.reason}")
        if procs:
            lines.append(f"       by {procs}; at {where}{sc}")
    for a in profile.access:
        # Devices and sysctls privileged mode provided and the service used, each with why.
        entry = a.name if a.value is None else f"{a.name}={a.value}"
        lines.append(f"  add {a.kind} {entry}: {a.reason}")
    for v in profile.verification:
        verdict = "pass" if v.passed else "FAIL"
        nnp = "" if v.no_new_privileges else " without no-new-privileges"
        took = f", {v.seconds:g}s" if v.seconds is not None else ""
        lines.append(f"  verify {list(v.cap_add)}{nnp}: {verdict} ({v.reason}{took})")
    lines.extend(f"  {x.describe()}" for x in profile.exercised)
    if profile.minimized:
        took = f" ({profile.minimize_seconds:g}s)" if profile.minimize_seconds is not None else ""
        lines.append(f"  minimised in {profile.minimize_runs} runs{took}")
    lines.append(f"  verified: {'yes' if profile.verified else 'no'}")
    lines.extend(f"  note: {n}" for n in profile.notes)
    # Process names, exec'd paths and notes come from the container: never let them drive the terminal.
    return defuse("\n".join(lines), keep_newlines=True)


def _find_files(files: tuple[str, ...]) -> tuple[str, ...]:
    if files:
        return tuple(str(Path(f).resolve()) for f in files)
    for name in DEFAULT_FILES:
        if Path(name).is_file():
            return (str(Path(name).resolve()),)
    raise click.UsageError("no Compose file: pass -f FILE or run in a directory with compose.yaml")


def _open_window(text: str) -> float | Literal["auto"] | None:
    word = text.strip().lower()
    if word == "auto":
        return "auto"
    return None if word == "all" else parse_duration(text)


@click.command("profile")
@click.argument("service", required=False)
@click.option("-f", "--file", "files", multiple=True, help="Compose file(s), as for docker compose -f.")
@click.option("--project-directory", default=None, help="Compose project directory.")
@click.option("--env-file", "env_files", multiple=True, help="Compose --env-file(s).")
@click.option("--container", default=None, help="Attach to a running container (no restart).")
@click.option("--duration", default="10s", show_default=True, help="Recording (and verify run) length.")
@click.option("--probe", default=None, help="Shell command run on the host during each run; must succeed.")
@click.option(
    "--probe-exec",
    default=None,
    help="Shell command run inside the service's container (docker exec) during each run; must succeed."
    " For services the host cannot reach (network_mode: none, internal networks).",
)
@click.option(
    "--expect-exit",
    type=int,
    default=None,
    help="The exit code of a batch job that worked (otherwise a recording that exits non-zero failed).",
)
@click.option(
    "--keep-exercised",
    is_flag=True,
    help="With a probe, still fail a run on any new audited denial (keep capabilities the service only exercises).",
)
@click.option("--probe-interval", default="1s", show_default=True)
@click.option("--verify", is_flag=True, help="Re-run with cap_drop ALL + the proposal + no-new-privileges.")
@click.option("--minimize", is_flag=True, help="Drop each capability in turn while verification passes.")
@click.option(
    "--minimize-from",
    default="",
    help="Extra capabilities to start --minimize from (comma list; DEFAULT = Docker's defaults).",
)
@click.option("--verify-caps", default=None, help="Verify exactly this cap_add (comma list) instead.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False), help="Write the profile JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the profile JSON on stdout.")
@click.option(
    "--recorder",
    type=click.Choice(["auto", "bpf", "ftrace"]),
    default="auto",
    show_default=True,
    help="How checks are counted: bpf (in the kernel, cheap; also sees device and sysctl opens),"
    " ftrace (a kernel stack per check), auto (bpf where it loads).",
)
@click.option(
    "--open-window",
    default="auto",
    show_default=True,
    metavar="DURATION|all|auto",
    help="How long from the start the BPF recorder watches the open syscalls of /dev, /proc/sys and /sys"
    " (they put every syscall on the host on the kernel's slow path): a duration, 'all', or 'auto' --"
    " until fanotify watches the container when it is privileged or stands in for it (every SERVICE"
    " recording), else 30s. fanotify watches the container's opens that succeed for the whole"
    " recording either way.",
)
@click.option("--no-kernel-filter", is_flag=True, hidden=True, help="Record all tasks (benchmark baseline).")
@click.option(
    "--minimize-strategy",
    type=click.Choice(["groups", "linear"]),
    default="groups",
    hidden=True,
    help="linear: the old one-full-run-per-capability minimisation (bench/minimize.py's baseline).",
)
def profile(
    *,
    service: str | None,
    files: tuple[str, ...],
    project_directory: str | None,
    env_files: tuple[str, ...],
    container: str | None,
    duration: str,
    probe: str | None,
    probe_exec: str | None,
    expect_exit: int | None,
    keep_exercised: bool,
    probe_interval: str,
    verify: bool,
    minimize: bool,
    minimize_from: str,
    verify_caps: str | None,
    output: str | None,
    as_json: bool,
    recorder: str,
    open_window: str,
    no_kernel_filter: bool,
    minimize_strategy: Literal["groups", "linear"],
) -> None:
    """Measure the capabilities SERVICE really uses (kernel capability checks) and propose cap_add."""
    from leastcap.profile import docker as dk
    from leastcap.profile.tracefs import TracingUnavailableError

    seconds = parse_duration(duration)
    interval = parse_duration(probe_interval)
    window = _open_window(open_window)
    extra = parse_caps(minimize_from)
    exact = parse_caps(verify_caps) if verify_caps is not None else None
    _refuse_mixed_target(
        service,
        container,
        restarts=verify or minimize or exact is not None,
        runs_service=probe_exec is not None or expect_exit is not None,
    )

    def log(message: str) -> None:
        click.echo(defuse(message), err=True)

    _require_profiling_host(log, compose=container is None)
    # SIGTERM and SIGHUP clean up like Ctrl-C, unless the parent ignores them (``nohup`` ignores
    # SIGHUP so the run survives a closed terminal; Python itself leaves an ignored SIGINT ignored).
    old = {
        s: signal.signal(s, _terminate)
        for s in (signal.SIGTERM, signal.SIGHUP)
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        if container is not None:
            from leastcap.profile.attach import profile_attach

            result: Profile = profile_attach(
                container, seconds, probe, interval, recorder=recorder, open_window=window
            ).profile
        else:
            from leastcap.profile.runner import Options
            from leastcap.profile.watch import Probe

            assert service is not None
            probes = [Probe(probe)] if probe is not None else []
            if probe_exec is not None:
                probes.append(Probe(probe_exec, inside=True))
            opts = Options(
                duration=seconds,
                probes=tuple(probes),
                probe_interval=interval,
                expect_exit=expect_exit,
                keep_exercised=keep_exercised,
                strategy=minimize_strategy,
                verify=verify,
                minimize=minimize,
                minimize_from=extra,
                verify_caps=exact,
                kernel_filter=not no_kernel_filter,
                recorder=recorder,
                open_window=window,
            )
            result = _profile_service(_compose_target(service, files, project_directory, env_files), opts)
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        sys.exit(ExitCode.INTERRUPTED)
    except (TracingUnavailableError, dk.ComposeError, OSError) as exc:
        log(f"error: {exc}")
        sys.exit(EXIT_ERROR)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    _emit(result, output, as_json=as_json)
    sys.exit(_exit_status(result))


def _refuse_mixed_target(service: str | None, container: str | None, *, restarts: bool, runs_service: bool) -> None:
    """Exactly one of SERVICE and --container; the options that start the service need SERVICE."""
    if (service is None) == (container is None):
        raise click.UsageError("name a SERVICE, or --container NAME to attach to a running container")
    if container is not None and restarts:
        raise click.UsageError("--verify/--minimize restart the service; they need SERVICE, not --container")
    if container is not None and runs_service:
        raise click.UsageError("--probe-exec and --expect-exit need SERVICE, not --container")


def _require_profiling_host(log: Callable[[str], None], *, compose: bool) -> None:
    """The doctor's checks first: a host that cannot profile gets its lines, not a traceback halfway."""
    from leastcap.profile.doctor import can_profile, render, run_checks

    checks = run_checks(log, compose=compose)
    if not can_profile(checks):
        # Line by line: log() defuses what it prints, and a newline inside one message is escaped.
        for line in render(checks, only_failed=True).splitlines():
            log(line)
        sys.exit(EXIT_ERROR)


def _compose_target(
    service: str, files: tuple[str, ...], project_directory: str | None, env_files: tuple[str, ...]
) -> ComposeTarget:
    from leastcap.profile import docker as dk

    return dk.ComposeTarget(
        files=_find_files(files),
        service=service,
        project_directory=str(Path(project_directory).resolve()) if project_directory else None,
        env_files=tuple(str(Path(e).resolve()) for e in env_files),
    )


def _profile_service(target: ComposeTarget, opts: Options) -> Profile:
    from leastcap.profile.runner import profile_compose
    from leastcap.progress import progress

    # On a terminal each run shows its progress; messages print above it.
    with progress() as shown:
        return profile_compose(target, opts, shown.echo, shown.tick).profile


def _emit(result: Profile, output: str | None, *, as_json: bool) -> None:
    """Write the profile to ``output`` if asked, and print it (JSON) or its summary."""
    text = dumps_profile(result)
    if output:
        Path(output).write_text(text)
    if as_json:
        click.echo(text, nl=False)
    else:
        click.echo(summary(result))


def _exit_status(result: Profile) -> ExitCode:
    """EXIT_FAILED when events were lost, the run failed, or verification did not pass."""
    failed = (
        result.recording.lost_events > 0
        or result.recording.failure is not None
        or (bool(result.verification) and not result.verified)
    )
    return EXIT_FAILED if failed else EXIT_OK


__all__ = ["parse_caps", "parse_duration", "profile", "summary"]
