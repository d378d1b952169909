"""``--format text``: findings grouped by file, each with its source line and a caret under the column.

Everything that came from the scanned files (source lines, messages quoting values) goes through
``defuse`` and is printed as rich ``Text``, never as markup, so neither escape sequences nor
``[bold]``-like text in a Compose file can change what the terminal shows.

Lines are built as (text, style) pieces: plain output joins the text alone, colour output renders
each piece with its rich ``Style``; both stay fast on reports with thousands of findings.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.style import Style

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
TAB_SIZE = 8


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


@dataclass(slots=True)
class _Line:
    pieces: list[tuple[str, str]] = field(default_factory=list)
    style: str = ""  # applied to the whole line (dim for suppressed findings)

    def add(self, text: str, style: str = "") -> _Line:
        self.pieces.append((text, style))
        return self


def _line(text: str = "", style: str = "") -> _Line:
    return _Line([(text, style)])


def _snippet(loc: Location, ctx: RenderContext) -> list[_Line]:
    if loc.line < 1:
        return []
    source = ctx.source_line(loc.path, loc.line)
    if source is None:
        return []
    shown, column = _window(source.rstrip("\r\n"), loc.column)
    gutter = str(loc.line)
    out = [_line(f"{_INDENT}{gutter} | ", "blue").add(defuse(shown))]
    if 1 <= column <= len(shown) + 1:
        pad = _caret_pad(defuse(shown[: column - 1]))
        out.append(_line(f"{_INDENT}{' ' * len(gutter)} | ", "blue").add(pad).add("^", "bold magenta"))
    return out


def _finding(f: Finding, ctx: RenderContext) -> list[_Line]:
    loc = f.location
    pos = f"{loc.line}:{loc.column}" if loc.line else "-"
    who = "/".join(part for part in (f.project, f.service) if part)
    head = _line("  ").add(pos, "bold").add("  ").add(f.severity.label, SEVERITY_STYLE[f.severity])
    head.add("  ").add(f.rule, "bold")
    if who:
        head.add(f"  {defuse(who)}")
    if f.confidence < Confidence.HIGH:
        head.add(f"  ({f.confidence.label} confidence)", "italic")
    if f.suppressed is not None:
        head.add("  [suppressed]", "italic")
    lines = [head]
    lines += [_line(f"{_INDENT}{part}") for part in defuse(f.message, keep_newlines=True).splitlines() or [""]]
    if loc.line == 0 and loc.note:
        lines.append(_line(f"{_INDENT}at {defuse(loc.note)}"))
    lines += _snippet(loc, ctx)
    lines += [_line(f"{_INDENT}{defuse(via(r))}", "cyan") for r in f.related]
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
        lines.append(_line(note, "italic"))
        for line in lines:
            line.style = "dim"
    return lines


def _problems(title: str, style: str, problems: list[Problem]) -> list[_Line]:
    out = [_line(title, f"bold {style}")]
    for p in problems:
        where = f"{p.path}:{p.line}" if p.line else p.path
        if p.line and p.column:
            where += f":{p.column}"
        out.append(_line("  ").add(defuse(where), "bold").add("  ").add(defuse(p.message)))
    return out


def _lines(report: Report, ctx: RenderContext) -> list[_Line]:
    out: list[_Line] = []
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in sorted_findings(report):
        by_file[f.location.path].append(f)
    for path in sorted(by_file):
        out.append(_line(defuse(path), "bold underline"))
        for f in by_file[path]:
            out += _finding(f, ctx)
        out.append(_line())
    if report.errors:
        out += [*_problems("errors", "red", sorted_problems(report.errors)), _line()]
    if report.warnings:
        out += [*_problems("warnings", "yellow", sorted_problems(report.warnings)), _line()]
    style = "bold red" if report.exit_code() else "bold green"
    out.append(_line(summary_line(report), style))
    return out


@functools.cache
def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style.null()


def _expand_tabs(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Tab stops count from the start of the line, across pieces.
    out: list[tuple[str, str]] = []
    column = 0
    for raw, style in pieces:
        text = (" " * column + raw).expandtabs(TAB_SIZE)[column:] if "\t" in raw else raw
        column += len(text)
        out.append((text, style))
    return out


def _ansi(line: _Line) -> str:
    base = _style(line.style)
    return "".join(
        (base + _style(spec)).render(text, color_system=ColorSystem.STANDARD) if text else ""
        for text, spec in _expand_tabs(line.pieces)
    )


def render(report: Report, ctx: RenderContext) -> str:
    lines = _lines(report, ctx)
    if not ctx.color:
        return "".join("".join(text for text, _ in _expand_tabs(line.pieces)) + "\n" for line in lines)
    # rich styles render each piece to ANSI directly: a Console per report costs seconds on big ones.
    return "".join(_ansi(line) + "\n" for line in lines)
