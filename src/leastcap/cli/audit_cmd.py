"""``leastcap audit``: judge what runs on Docker hosts with the rules ``scan`` applies to files."""

from __future__ import annotations

import dataclasses
import sys

import click

from leastcap.contract import ExitCode
from leastcap.model import Severity
from leastcap.report import FORMATS

FAIL_ON = tuple(s.label for s in Severity)


@click.command("audit")
@click.option(
    "-H",
    "--host",
    "hosts",
    multiple=True,
    metavar="URL",
    help="Docker engine to audit (unix://, tcp://, ssh://); repeatable. Default: DOCKER_HOST, "
    "the current docker context, or the local socket.",
)
@click.option(
    "-c", "--context", "contexts", multiple=True, metavar="NAME", help="docker CLI context to audit; repeatable."
)
@click.option(
    "-a", "--all", "include_stopped", is_flag=True, help="Also audit stopped and created (never started) containers."
)
@click.option(
    "--drift", is_flag=True, help="Compare each container with the Compose files it came from (rule 'drift')."
)
@click.option("--format", "fmt", default="text", show_default=True, type=click.Choice(FORMATS))
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default=None,
    help="Lowest severity that makes the exit code 1 (default: config, else high).",
)
@click.option(
    "--min-severity",
    type=click.Choice(FAIL_ON),
    default="info",
    show_default=True,
    help="Only list findings at or above this (display only: --fail-on still judges all).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: the nearest .leastcap.yml above the current directory).",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Hosts inspected at the same time."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each engine API call.",
)
def audit(
    *,
    hosts: tuple[str, ...],
    contexts: tuple[str, ...],
    include_stopped: bool,
    drift: bool,
    fmt: str,
    fail_on: str | None,
    min_severity: str,
    config_path: str | None,
    jobs: int,
    timeout: float,
) -> None:
    """Audit the containers that run on Docker hosts.

    Each container's docker inspect becomes the same service model a Compose file becomes, and the
    same rules judge it. Findings point at HOST/CONTAINER with the inspect field
    (HostConfig.Privileged, ...). A host that does not answer is an error (exit 2); the other hosts
    are still audited and reported.
    """
    from leastcap.audit.report import build_report
    from leastcap.audit.targets import TargetError
    from leastcap.config import ConfigError, resolve_config
    from leastcap.progress import progress
    from leastcap.report import render

    try:
        config = resolve_config([], explicit=config_path)
    except ConfigError as exc:
        click.echo(f"leastcap: {exc.message}", err=True)
        sys.exit(ExitCode.ERROR)
    threshold = Severity.parse(fail_on) if fail_on else (config.fail_on or Severity.HIGH)
    try:
        with progress() as shown:
            report, catalogue = build_report(
                hosts=hosts,
                contexts=contexts,
                include_stopped=include_stopped,
                drift=drift,
                jobs=jobs,
                timeout=timeout,
                config=config,
                fail_on=threshold,
                tick=shown.tick,
            )
    except TargetError as exc:
        click.echo(f"leastcap: {exc}", err=True)
        sys.exit(ExitCode.ERROR)
    report = dataclasses.replace(report, min_severity=Severity.parse(min_severity))
    text = render(report, fmt, rules=catalogue, source_line=lambda path, line: None)
    click.echo(text, nl=False)
    sys.exit(report.exit_code())
