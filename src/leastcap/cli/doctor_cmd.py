"""``leastcap doctor``: whether ``leastcap profile`` can run here, each check with how to fix it."""

from __future__ import annotations

import sys

import click

from leastcap.contract import ExitCode

EXIT_OK, EXIT_ERROR = ExitCode.OK, ExitCode.ERROR


@click.command("doctor")
def doctor() -> None:
    """Check what leastcap profile needs (privileges, tracefs, BPF, fanotify, dockerd, Compose v2).

    Exit 0 when profile can run, 2 when something it needs is missing."""
    from leastcap.profile.doctor import can_profile, render, run_checks

    checks = run_checks(lambda message: click.echo(message, err=True))
    click.echo(render(checks))
    sys.exit(EXIT_OK if can_profile(checks) else EXIT_ERROR)


__all__ = ["doctor"]
