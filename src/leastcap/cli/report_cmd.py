"""``leastcap report``: the security document of a set of Compose projects."""

from __future__ import annotations

import sys

import click

from leastcap.contract import ExitCode
from leastcap.secreport import FORMATS


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="markdown", show_default=True)
@click.option("-o", "--output", type=click.Path(), help="Write the report here instead of standard output.")
@click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(),
    metavar="DIR",
    help="Profiles from `leastcap profile` (*.json): their evidence is a capability's rationale.",
)
@click.option(
    "--audit",
    "audit_file",
    type=click.Path(),
    metavar="FILE",
    help="JSON of `leastcap audit --drift --format json`: the Drift section.",
)
@click.option(
    "--previous",
    "previous_file",
    type=click.Path(),
    metavar="FILE",
    help="An earlier `leastcap report --format json`: what changed since, by fingerprint.",
)
@click.option("--config", "config_path", type=click.Path(), help="Config file (default: nearest .leastcap.yml).")
@click.option("--no-history", is_flag=True, help="Leave out the git history (the walk of `leastcap history`).")
def report(
    paths: tuple[str, ...],
    fmt: str,
    output: str | None,
    profiles_dir: str | None,
    audit_file: str | None,
    previous_file: str | None,
    config_path: str | None,
    no_history: bool,
) -> None:
    """The security report: summary, services, capabilities and their rationale, exceptions
    register, threat model (host system compromise, container escape), history, drift and changes
    since a previous report. The date is today's, or SOURCE_DATE_EPOCH's when set.

    Exit codes: 0 written, 2 an input could not be read (the report is still written and lists it
    under Problems).
    """
    from leastcap.cli.output import write_output
    from leastcap.report import safe_output
    from leastcap.secreport import ReportOptions, build, render

    options = ReportOptions(
        paths=paths,
        config_path=config_path,
        profiles_dir=profiles_dir,
        audit_file=audit_file,
        previous_file=previous_file,
        history=not no_history,
    )
    document = build(options)
    # Names that are not UTF-8 keep the JSON valid; no name starts a workflow command in markdown.
    text = safe_output(render(document, fmt), fmt)
    if output:
        write_output(output, text, "report")
    else:
        click.echo(text, nl=False)
    sys.exit(ExitCode.ERROR if document.errors else ExitCode.OK)
