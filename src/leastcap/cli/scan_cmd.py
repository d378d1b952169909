"""``leastcap scan`` and ``leastcap config``."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from leastcap.contract import ExitCode
from leastcap.model import Severity
from leastcap.report import FORMATS as _FORMATS

_SEVERITIES = tuple(s.label for s in Severity)


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


F = TypeVar("F", bound=Callable[..., Any])


def compose_options(function: F) -> F:
    """The options leastcap shares with `docker compose` (same names, same meaning)."""
    for decorator in reversed(
        [
            click.option("-f", "--file", "files", multiple=True, help="Compose file (repeatable, order matters)."),
            click.option("--project-directory", help="Alternate working directory (default: the first file's)."),
            click.option("--env-file", "env_files", multiple=True, help="Environment file(s) instead of .env."),
            click.option("--profile", "profiles", multiple=True, help="Active profile (repeatable)."),
            click.option(
                "--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Set a variable for interpolation."
            ),
        ]
    ):
        function = decorator(function)
    return function


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@compose_options
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(_SEVERITIES), help="Exit 1 on findings at or above this (default: high).")
@click.option(
    "--min-severity",
    type=click.Choice(_SEVERITIES),
    default="info",
    show_default=True,
    help="Only list findings at or above this (display only: --fail-on still judges all).",
)
@click.option("--config", "config_path", type=click.Path(), help="Config file (default: nearest .leastcap.yml).")
@click.option("-o", "--output", type=click.Path(), help="Write the report here instead of standard output.")
@click.option("--no-scripts", is_flag=True, help="Do not read scripts and CI configs.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: one per CPU).")
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(),
    metavar="FILE",
    help="Findings recorded by `leastcap baseline` are suppressed; only new ones fail.",
)
def scan(
    paths: tuple[str, ...],
    files: tuple[str, ...],
    project_directory: str | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
    env_pairs: tuple[str, ...],
    fmt: str,
    fail_on: str | None,
    min_severity: str,
    config_path: str | None,
    output: str | None,
    no_scripts: bool,
    jobs: int | None,
    baseline_path: str | None,
) -> None:
    """Find privileged and privilege-equivalent settings in Compose projects, scripts and CI configs.

    Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it, 2 an input could not be
    loaded, a bad config or bad usage.
    """
    from leastcap.model import Severity
    from leastcap.progress import progress
    from leastcap.report import render, shows_fixes
    from leastcap.scan import ScanOptions, run_scan

    options = ScanOptions(
        paths=paths,
        files=files,
        project_directory=project_directory,
        env_files=env_files,
        profiles=profiles,
        env=_parse_env(env_pairs),
        config_path=config_path,
        fail_on=Severity.parse(fail_on) if fail_on else None,
        scripts=not no_scripts,
        jobs=jobs,
        baseline=baseline_path,
        fixes=shows_fixes(fmt),
    )
    with progress() as shown:
        report = run_scan(options, shown.tick)
    report = dataclasses.replace(report, min_severity=Severity.parse(min_severity))
    text = render(report, fmt, color=False if output else None)
    if output:
        from leastcap.cli.output import write_output

        # A missing directory, a directory, a link, a FIFO: a clean error (exit 2), never a traceback.
        write_output(output, text, "scan")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    sys.exit(report.exit_code())


@click.command()
@compose_options
@click.option("--format", "fmt", type=click.Choice(("json", "yaml")), default="json", show_default=True)
def config(
    files: tuple[str, ...],
    project_directory: str | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
    env_pairs: tuple[str, ...],
    fmt: str,
) -> None:
    """Print the effective project leastcap sees, in the shape of `docker compose config`."""
    from leastcap.loader import LoadOptions, load_project

    cwd = os.getcwd()
    options = LoadOptions(
        working_dir=cwd,
        files=tuple(os.path.abspath(f) for f in files),
        project_directory=project_directory,
        env_files=env_files,
        profiles=profiles,
        environ={**os.environ, **_parse_env(env_pairs)},
    )
    result = load_project(options)
    for warning in result.warnings:
        click.echo(f"warning: {_where(warning.path, warning.line, warning.column)}: {warning.message}", err=True)
    if result.effective is None:
        for error in result.errors:
            click.echo(f"error: {_where(error.path, error.line, error.column)}: {error.message}", err=True)
        sys.exit(ExitCode.ERROR)
    if fmt == "json":
        click.echo(json.dumps(result.effective, indent=2))
    else:
        import yaml

        click.echo(yaml.safe_dump(result.effective, sort_keys=False), nl=False)


def _where(path: str, line: int, column: int) -> str:
    return f"{path}:{line}:{column}" if line else path
