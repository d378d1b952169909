"""What every reporter shares: one ordering, one summary, one fingerprint, one way to defuse text."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from leastcap.model import Finding, Location, Problem, Report, Severity
from leastcap.report.rulemeta import RuleInfo

# (display path, 1-based line) -> the text of that line without its line break, or None.
SourceLine = Callable[[str, int], str | None]


@dataclass(frozen=True, slots=True)
class RenderContext:
    rules: Mapping[str, RuleInfo]
    source_line: SourceLine
    color: bool


def finding_order(f: Finding) -> tuple[str, int, int, str, str, str, str, int]:
    # Finding.sort_key plus tie-breakers, so equal positions still sort the same way every run.
    return (*f.sort_key(), f.project, f.service, -int(f.severity))


def sorted_findings(report: Report) -> list[Finding]:
    """The findings a reporter lists (at or above ``--min-severity``), in report order."""
    return sorted(report.shown_findings, key=finding_order)


def sorted_problems(problems: Sequence[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line, p.column, p.message))


SEVERITIES_DESC = tuple(sorted(Severity, reverse=True))


def severity_counts(findings: Sequence[Finding]) -> dict[str, int]:
    """Counts per severity label, highest first, every severity present (zeros included)."""
    counts = {s.label: 0 for s in SEVERITIES_DESC}
    for f in findings:
        counts[f.severity.label] += 1
    return counts


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """``Finding.fingerprint`` per finding, made unique within one report: identical ones get an
    occurrence number (in report order), as GitLab and GitHub both deduplicate on it."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for f in findings:
        fp = f.fingerprint
        n = seen.get(fp, 0) + 1
        seen[fp] = n
        out.append(fp if n == 1 else hashlib.sha256(f"{fp}#{n}".encode()).hexdigest()[:32])
    return out


# Controls, format characters (bidi overrides, zero-width), the Unicode line/paragraph separators,
# and lone surrogates: the bytes of a file name that is not UTF-8 (Python decodes byte 0xff as
# U+DCFF), which no output may carry (they are not text: invalid JSON, XML and terminal output).
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SURROGATES = re.compile("[\ud800-\udfff]")


def _escape_char(c: str) -> str:
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a name: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_surrogates(text: str, *, inside_json: bool = False) -> str:
    """Rendered output with every lone surrogate as a visible ``\\xNN`` (the byte of a file name
    that is not UTF-8). In JSON the surrogates only occur inside strings, where the backslash
    itself must be escaped."""
    if text.isascii() or not _SURROGATES.search(text):
        return text
    slash = "\\\\" if inside_json else "\\"
    return _SURROGATES.sub(lambda m: slash + _escape_char(m.group(0))[1:], text)


# GitHub's runner reads a line whose text (after leading blanks) starts with "::" or "##[" as a
# workflow command. A file name or commit message that starts a line in text output must not forge
# one: its first character is shown escaped.
_COMMAND_LINE = re.compile(r"^([ \t]*)(::|##\[)", re.MULTILINE)


def defang_commands(text: str) -> str:
    return _COMMAND_LINE.sub(lambda m: m.group(1) + ("\\x3a" if m.group(2) == "::" else "\\x23") + m.group(2)[1:], text)


def defuse(text: str, *, keep_newlines: bool = False) -> str:
    """Make untrusted text (file contents, values written by a file's author) safe to print.

    Control characters (ESC, BEL, CR, bidi overrides...) become visible escapes, so a hostile Compose
    file cannot move the cursor, recolour the terminal or hide text from a reviewer.
    """
    if text.isprintable():  # the common case, decided in C
        return text
    out: list[str] = []
    for c in text:
        if c == "\t" or (keep_newlines and c == "\n"):
            out.append(c)
        elif unicodedata.category(c) in _HIDDEN and c != "\u200d":
            out.append(_escape_char(c))
        else:
            out.append(c)
    return "".join(out)


def via(loc: Location) -> str:
    """How a related location reads: ``via base.yml:3:5 (extends: base)``."""
    return f"via {loc}" + (f" ({loc.note})" if loc.note else "")


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def dumps(value: object, compact_items_of: frozenset[str], *, compact_root_items: bool = False) -> str:
    """JSON indented by two spaces, except that each item of a list under one of the keys
    ``compact_items_of`` (or of the root list) is written on one line.

    One finding per line reads well, greps and diffs well, and lets the C encoder do the bulk of the
    work: fully indented output goes through json's pure-Python encoder, ~20x slower on big reports.
    """
    parts: list[str] = []

    def emit(node: object, level: int, compact_items: bool) -> None:
        if not isinstance(node, dict | list) or not node:
            parts.append(_COMPACT.encode(node))
            return
        inner = "  " * (level + 1)
        if isinstance(node, dict):
            parts.append("{\n")
            for i, (key, item) in enumerate(node.items()):
                parts.append(f",\n{inner}" if i else inner)
                parts.append(f"{_COMPACT.encode(key)}: ")
                emit(item, level + 1, key in compact_items_of)
            parts.append(f"\n{'  ' * level}}}")
            return
        parts.append("[\n")
        for i, item in enumerate(node):
            parts.append(f",\n{inner}" if i else inner)
            if compact_items:
                parts.append(_COMPACT.encode(item))
            else:
                emit(item, level + 1, False)
        parts.append(f"\n{'  ' * level}]")

    emit(value, 0, compact_root_items)
    return "".join(parts) + "\n"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(report: Report) -> str:
    shown = report.shown_findings
    active = tuple(f for f in shown if f.suppressed is None)
    suppressed = len(shown) - len(active)
    counts = severity_counts(active)
    if active:
        detail = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
        head = f"{plural(len(active), 'finding')} ({detail})"
    else:
        head = "No findings"
    parts = [head]
    if suppressed:
        baselined = sum(1 for f in shown if f.suppressed is not None and f.suppressed.by == "baseline")
        parts.append(f"{suppressed} suppressed" + (f" ({baselined} by baseline)" if baselined else ""))
    if report.not_shown:
        parts.append(f"{report.not_shown} below --min-severity {report.min_severity.label} not shown")
    if report.errors:
        parts.append(plural(len(report.errors), "error"))
    if report.warnings:
        parts.append(plural(len(report.warnings), "warning"))
    return ", ".join(parts) + "."
