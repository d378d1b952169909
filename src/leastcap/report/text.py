"""``--format text``: findings grouped by file, each with its source line and a caret under the column.

Everything that came from the scanned files (source lines, messages quoting values) goes through
``defuse`` and is printed as rich ``Text``, never as markup, so neither escape sequences nor
``[bold]``-like text in a Compose file can change what the terminal shows.
"""

from __future__ import annotations

import io
from collections import defaultdict

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from leastcap.model import Confidence, Finding, Location, Problem, Report, Severity
from leastcap.report.common import (
    RenderContext,
    defuse,
    sorted_findings,
    sorted_problems,
    summary_line,
    via,
)

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "blue",
}
# Source lines longer than this are shown as a window around the column.
MAX_SNIPPET = 160
_INDENT = "    "


def _caret_pad(prefix: str) -> str:
    # Tabs stay tabs and wide characters take their cell width, so the caret lands under the column.
    return "".join(c if c == "\t" else " " * cell_len(c) for c in prefix)


def _window(source: str, column: int) -> tuple[str, int]:
    """The part of a long line around ``column`` (1-based), and the column within that part."""
    if len(source) <= MAX_SNIPPET:
        return source, column
    start = max(0, min(column - 1 - MAX_SNIPPET // 2, len(source) - MAX_SNIPPET))
    part = source[start : start + MAX_SNIPPET]
    head = "…" if start > 0 else ""
    tail = "…" if start + MAX_SNIPPET < len(source) else ""
    return head + part + tail, column - start + len(head)


def _snippet(loc: Location, ctx: RenderContext, dim: bool) -> list[Text]:
    if loc.line < 1:
        return []
    source = ctx.source_line(loc.path, loc.line)
    if source is None:
        return []
    shown, column = _window(source.rstrip("\r\n"), loc.column)
    gutter = str(loc.line)
    out = [Text.assemble((f"{_INDENT}{gutter} | ", "blue"), defuse(shown))]
    if 1 <= column <= len(shown) + 1:
        pad = _caret_pad(defuse(shown[: column - 1]))
        out.append(Text.assemble((f"{_INDENT}{' ' * len(gutter)} | ", "blue"), pad, ("^", "bold magenta")))
    if dim:
        for t in out:
            t.stylize("dim")
    return out


def _finding(f: Finding, ctx: RenderContext) -> list[Text]:
    loc = f.location
    dim = f.suppressed is not None
    pos = f"{loc.line}:{loc.column}" if loc.line else "-"
    who = "/".join(part for part in (f.project, f.service) if part)
    head = Text.assemble(
        "  ",
        (pos, "bold"),
        "  ",
        (f.severity.label, SEVERITY_STYLE[f.severity]),
        "  ",
        (f.rule, "bold"),
    )
    if who:
        head.append(f"  {defuse(who)}")
    if f.confidence < Confidence.HIGH:
        head.append(f"  ({f.confidence.label} confidence)", style="italic")
    if dim:
        head.append("  [suppressed]", style="italic")
    lines = [head]
    lines += [Text(f"{_INDENT}{part}") for part in defuse(f.message, keep_newlines=True).splitlines() or [""]]
    if loc.line == 0 and loc.note:
        lines.append(Text(f"{_INDENT}at {defuse(loc.note)}"))
    lines += _snippet(loc, ctx, dim)
    for r in f.related:
        lines.append(Text(f"{_INDENT}{defuse(via(r))}", "cyan"))
    if f.suppressed is not None:
        s = f.suppressed
        extra = [
            f"{label} {value}"
            for label, value in (("approved by", s.approved_by), ("expires", s.expires), ("ticket", s.ticket))
            if value
        ]
        note = f"{_INDENT}suppressed ({s.by}): {defuse(s.justification)}"
        if extra:
            note += f" [{defuse(', '.join(extra))}]"
        lines.append(Text(note, "italic"))
    if dim:
        for t in lines:
            t.stylize("dim")
    return lines


def _problems(title: str, style: str, problems: list[Problem]) -> list[Text]:
    out = [Text(title, f"bold {style}")]
    for p in problems:
        where = f"{p.path}:{p.line}" if p.line else p.path
        if p.line and p.column:
            where += f":{p.column}"
        out.append(Text.assemble("  ", (defuse(where), "bold"), "  ", defuse(p.message)))
    return out


def render(report: Report, ctx: RenderContext) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=ctx.color,
        color_system="standard" if ctx.color else None,
        no_color=not ctx.color,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
        width=200,
    )
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted_findings(report):
        by_file[f.location.path].append(f)
    for path in sorted(by_file):
        console.print(Text(defuse(path), "bold underline"))
        for f in by_file[path]:
            for line in _finding(f, ctx):
                console.print(line)
        console.print()
    if report.errors:
        for line in _problems("errors", "red", sorted_problems(report.errors)):
            console.print(line)
        console.print()
    if report.warnings:
        for line in _problems("warnings", "yellow", sorted_problems(report.warnings)):
            console.print(line)
        console.print()
    worst = max((f.severity for f in report.active_findings), default=None)
    style = "bold red" if report.errors or (worst is not None and worst >= report.fail_on) else "bold green"
    console.print(Text(summary_line(report), style))
    return buffer.getvalue()
