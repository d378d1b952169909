"""``leastcap baseline``: record today's findings so ``scan --baseline`` fails only on new ones."""

from __future__ import annotations

import sys

import click

from leastcap.cli.scan_cmd import _parse_env, compose_options
from leastcap.contract import ExitCode


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@compose_options
@click.option("--config", "config_path", type=click.Path(), help="Config file (default: nearest .leastcap.yml).")
@click.option(
    "-o",
    "--output",
    default=".leastcap-baseline.json",
    show_default=True,
    type=click.Path(),
    help="The baseline file to write.",
)
@click.option("--no-scripts", is_flag=True, help="Do not read scripts and CI configs.")
def baseline(
    paths: tuple[str, ...],
    files: tuple[str, ...],
    project_directory: str | None,
    env_files: tuple[str, ...],
    profiles: tuple[str, ...],
    env_pairs: tuple[str, ...],
    config_path: str | None,
    output: str,
    no_scripts: bool,
) -> None:
    """Record the fingerprints of today's findings (with the date and leastcap's version).

    `leastcap scan --baseline FILE` then reports those findings as suppressed "by baseline" and
    fails only on new ones; an entry whose finding is gone is reported (exception-unused), so the
    baseline only shrinks. Paths are recorded relative to the baseline file, so the scan may run
    from another directory.
    Exit codes: 0 written, 2 an input could not be loaded (the baseline is written without it) or
    the file could not be written.
    """
    import datetime as dt
    import os

    from leastcap.baseline import Anchor, recordable, render_baseline
    from leastcap.cli.output import write_output
    from leastcap.report.common import defuse, summary_line
    from leastcap.rules.registry import META_RULES
    from leastcap.scan import ScanOptions, run_scan

    options = ScanOptions(
        paths=paths,
        files=files,
        project_directory=project_directory,
        env_files=env_files,
        profiles=profiles,
        env=_parse_env(env_pairs),
        config_path=config_path,
        scripts=not no_scripts,
        fixes=False,  # a baseline records fingerprints only
    )
    report = run_scan(options)
    governance = frozenset(rule.slug for rule in META_RULES)
    findings = recordable(report.findings, governance)
    write_output(output, render_baseline(findings, dt.date.today(), Anchor.of(os.getcwd(), output)), "baseline")
    for error in report.errors:
        where = f"{error.path}:{error.line}" if error.line else error.path
        click.echo(f"error: {defuse(where)}: {defuse(error.message)}", err=True)
    count = len({f.fingerprint for f in findings})
    click.echo(f"wrote {defuse(output)}: {count} finding{'s' if count != 1 else ''} recorded ({summary_line(report)})")
    sys.exit(ExitCode.ERROR if report.errors else ExitCode.OK)
