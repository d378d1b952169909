"""``leastcap history``: when each privilege finding came and went in git history."""

from __future__ import annotations

import sys

import click

from leastcap.contract import ExitCode
from leastcap.history.render import FORMATS
from leastcap.model import Severity

EXIT_ERROR = ExitCode.ERROR


def _fail(message: str) -> None:
    click.echo(f"leastcap history: {message}", err=True)
    sys.exit(EXIT_ERROR)


@click.command()
@click.argument("path", default=".", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--all-branches", is_flag=True, help="Walk every branch, remote branch and tag, not just HEAD.")
@click.option("--since", metavar="DATE", help="Only commits after DATE (anything `git log --since` takes).")
@click.option("--rule", "rules", multiple=True, metavar="SLUG", help="Only these rules (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--fail-on",
    default="high",
    show_default=True,
    metavar="SEVERITY",
    help="Exit 1 when an unsuppressed finding at or above this severity is present at the tip.",
)
@click.option(
    "--min-severity",
    default="info",
    show_default=True,
    metavar="SEVERITY",
    help="Only list timelines at or above this (display only: --fail-on still judges all).",
)
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="A variable for interpolation (history ignores the shell's environment).",
)
def history(
    *,
    path: str,
    all_branches: bool,
    since: str | None,
    rules: tuple[str, ...],
    fmt: str,
    fail_on: str,
    min_severity: str,
    env: tuple[str, ...],
) -> None:
    """Every version of every Compose file in git history, scanned in the context of its commit:
    a timeline per (file, service, rule) of the commits that introduced, removed and re-introduced
    each finding."""
    from leastcap.history import GitError, HistoryOptions, run_history
    from leastcap.history.evaluate import LoaderEvaluator
    from leastcap.history.render import exit_code, render
    from leastcap.progress import progress
    from leastcap.rules.registry import slugs

    try:
        threshold = Severity.parse(fail_on)
        shown_from = Severity.parse(min_severity)
    except ValueError as exc:
        _fail(str(exc))
    unknown = [r for r in rules if r not in slugs()]
    if unknown:
        _fail(f"unknown rule(s): {', '.join(unknown)} (see `leastcap rules`)")
    environ: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--env expects KEY=VALUE, got {item!r}")
        environ[key] = value
    options = HistoryOptions(path=path, all_branches=all_branches, since=since, rules=frozenset(rules))
    try:
        with progress() as shown:
            report = run_history(options, LoaderEvaluator(environ), shown.tick)
    except GitError as exc:
        _fail(str(exc))
    click.echo(render(report, fmt, threshold, shown_from), nl=False)
    sys.exit(exit_code(report, threshold))
