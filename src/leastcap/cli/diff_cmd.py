"""``leastcap diff BASE [HEAD]``: the privilege a change adds and removes."""

from __future__ import annotations

import sys

import click

from leastcap.contract import ExitCode
from leastcap.diff.render import FORMATS
from leastcap.model import Severity

_SEVERITIES = tuple(s.label for s in Severity)


@click.command()
@click.argument("base")
@click.argument("head", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES),
    help="Exit 1 when the change adds an unsuppressed finding at or above this (default: the base's "
    "fail-on in .leastcap.yml, else high).",
)
@click.option(
    "-C",
    "repo",
    default=".",
    type=click.Path(file_okay=False),
    metavar="PATH",
    help="The repository (any directory in its work tree; default: the current one).",
)
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A variable for interpolation, on both sides (the shell's environment is not used).",
)
@click.option("-o", "--output", type=click.Path(), help="Write the result here instead of standard output.")
def diff(
    base: str,
    head: str | None,
    fmt: str,
    fail_on: str | None,
    repo: str,
    env_pairs: tuple[str, ...],
    output: str | None,
) -> None:
    """The findings a change adds and removes, compared by fingerprint (moved lines and
    reformatting are not changes). BASE and HEAD are git revisions read from git objects, never
    checked out; HEAD defaults to the working tree.

    Exit codes: 0 nothing added at or above --fail-on, 1 something is, 2 a revision, the
    repository or a HEAD input could not be read.
    """
    from leastcap.cli.output import write_output
    from leastcap.cli.scan_cmd import _parse_env
    from leastcap.diff import DiffOptions, run_diff
    from leastcap.diff.render import render
    from leastcap.history.git import GitError
    from leastcap.report.common import defuse

    options = DiffOptions(
        base=base, head=head, path=repo, env=_parse_env(env_pairs), fail_on=Severity.parse(fail_on) if fail_on else None
    )
    try:
        changes = run_diff(options)
    except GitError as exc:
        click.echo(f"leastcap diff: {defuse(str(exc))}", err=True)
        sys.exit(ExitCode.ERROR)
    text = render(changes, fmt)
    if output:
        write_output(output, text, "diff")
    else:
        click.echo(text, nl=False)
    sys.exit(changes.exit_code())
