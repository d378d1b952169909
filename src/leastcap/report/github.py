"""``--format github``: GitHub Actions workflow commands (``::error file=..,line=..::message``).

Escaping follows the runner's rules (actions/toolkit ``command.ts``): in the message ``%``, CR and
LF are percent-encoded; in property values ``:`` and ``,`` are too, since they delimit properties.
Without it a message containing a newline could end the annotation and start a new command.
Suppressed findings are not annotated.
"""

from __future__ import annotations

from leastcap.model import Finding, Problem, Report, Severity
from leastcap.report.common import RenderContext, defuse, sorted_findings, sorted_problems, summary_line, via

COMMAND = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
    Severity.INFO: "notice",
}


def escape_data(text: str) -> str:
    # Control characters first (the log viewer renders ANSI), then the runner's own escaping.
    text = defuse(text, keep_newlines=True)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, props: list[tuple[str, str]]) -> str:
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in props if value)
    return f"::{name} {rendered}::{escape_data(message)}" if rendered else f"::{name}::{escape_data(message)}"


def _position(path: str, line: int, column: int) -> list[tuple[str, str]]:
    props = [("file", path)]
    if line > 0:
        props.append(("line", str(line)))
        if column > 0:
            props.append(("col", str(column)))
    return props


def annotation(f: Finding) -> str:
    loc = f.location
    lines = [f.message]
    if loc.line == 0 and loc.note:
        lines.append(f"at {loc.note}")
    lines.extend(via(r) for r in f.related)
    title = f"leastcap {f.rule} ({f.severity.label})"
    props = [*_position(loc.path, loc.line, loc.column), ("title", title)]
    return command(COMMAND[f.severity], "\n".join(lines), props)


def _problem(p: Problem, name: str, title: str) -> str:
    return command(name, p.message, [*_position(p.path, p.line, p.column), ("title", title)])


def render(report: Report, ctx: RenderContext) -> str:
    del ctx
    out = [annotation(f) for f in sorted_findings(report) if f.suppressed is None]
    out += [_problem(p, "error", "leastcap: could not load") for p in sorted_problems(report.errors)]
    out += [_problem(p, "warning", "leastcap: warning") for p in sorted_problems(report.warnings)]
    # A plain line is shown in the log as is; it is not a command.
    out.append(f"leastcap: {summary_line(report)}")
    return "\n".join(out) + "\n"
