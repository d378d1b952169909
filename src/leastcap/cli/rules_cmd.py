"""``leastcap rules`` (the rule list) and ``leastcap explain SLUG`` (one rule's documentation).

Both read the registry through ``leastcap.report.rulemeta``, the same metadata SARIF carries, so
what a user reads here is what code scanning shows.
"""

from __future__ import annotations

import difflib
import io
import json
import sys

import click
from rich.console import Console
from rich.text import Text

from leastcap.contract import ExitCode
from leastcap.report import use_color
from leastcap.report.rulemeta import RuleInfo, registry_rules

EXIT_USAGE = ExitCode.ERROR


def _meta_slugs() -> frozenset[str]:
    from leastcap.rules.registry import META_RULES

    return frozenset(rule.slug for rule in META_RULES)


def _console(color: bool) -> tuple[io.StringIO, Console]:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    return buffer, console


def _rules_json(infos: tuple[RuleInfo, ...], meta: frozenset[str]) -> str:
    doc = {
        "version": 1,
        "rules": [
            {
                "slug": i.slug,
                "severity": i.severity.label,
                "confidence": i.confidence.label,
                "summary": i.summary,
                "cis": list(i.cis),
                "cis_version": i.cis_version,
                "meta": i.slug in meta,
                "fix": i.fix,
                "help_uri": i.uri,
            }
            for i in infos
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _rules_text(infos: tuple[RuleInfo, ...], meta: frozenset[str], color: bool) -> str:
    from leastcap.report.text import SEVERITY_STYLE

    slug_w = max(len("RULE"), *(len(i.slug) for i in infos))
    sev_w = max(len("SEVERITY"), *(len(i.severity.label) for i in infos))
    buffer, console = _console(color)
    print_ = console.print
    print_(Text(f"{'RULE':<{slug_w}}  {'SEVERITY':<{sev_w}}  SUMMARY", "bold"))
    for i in infos:
        line = Text.assemble(
            (f"{i.slug:<{slug_w}}", "bold"),
            "  ",
            (f"{i.severity.label:<{sev_w}}", SEVERITY_STYLE[i.severity]),
            "  ",
            i.summary + (" (about suppressions)" if i.slug in meta else ""),
        )
        print_(line)
    print_(Text(f"\n{len(infos)} rules. `leastcap explain RULE` shows a rule's documentation."))
    return buffer.getvalue()


@click.command("rules")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def rules(fmt: str) -> None:
    """List every rule: slug, default severity and summary."""
    infos = registry_rules()
    meta = _meta_slugs()
    if fmt == "json":
        click.echo(_rules_json(infos, meta), nl=False)
    else:
        click.echo(_rules_text(infos, meta, use_color()), nl=False)


def _normalise(slug: str) -> str:
    return slug.strip().lower().replace("_", "-")


def _explain_text(info: RuleInfo) -> str:
    cis = f"  CIS Docker Benchmark {', '.join(info.cis_items())}" if info.cis else ""
    head = f"{info.slug} ({info.severity.label}, {info.confidence.label} confidence){cis}"
    return f"{head}\n{info.summary}\n\n{info.doc}\n\nMore: {info.uri}\n"


@click.command("explain")
@click.argument("slug")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="text: the rule's docs as written; markdown: with headings, for a wiki or a PR comment.",
)
def explain(slug: str, fmt: str) -> None:
    """Show the documentation of rule SLUG (what it does, why it is bad, an example, the fix)."""
    infos = {i.slug: i for i in registry_rules()}
    info = infos.get(_normalise(slug))
    if info is None:
        close = difflib.get_close_matches(_normalise(slug), list(infos), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        click.echo(
            f"leastcap explain: unknown rule {slug!r}.{hint} Run `leastcap rules` to list the rules.",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    if fmt == "markdown":
        click.echo(f"# {info.slug}\n\n{info.markdown()}", nl=False)
        return
    click.echo(_explain_text(info), nl=False)
