"""Baselines for legacy repositories: the fingerprints (``Finding.fingerprint``) of the findings a
repository has today, so the gate fails only on new ones while the old ones are worked off.

``leastcap baseline`` writes the file, one entry per line (so the entry that no longer matches
anything can be shown at its line); ``leastcap scan --baseline FILE`` reads it and the suppression
pass marks matching findings suppressed ``by baseline``. An entry that matches nothing is reported
by ``exception-unused`` at its line, so a baseline only shrinks.

The file is input like any other: it may be a FIFO, a link, huge, not JSON or of another version.
Each of those is a ``BaselineError`` (one clear message), never a hang or a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from leastcap import __version__, jsoninput
from leastcap.model import Finding, Location
from leastcap.model.finding import fingerprint_of
from leastcap.report.common import dumps

VERSION = 1
# A baseline of 100,000 findings is about 20 MB; more than this is not a baseline anyone wrote.
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 250_000
_FINGERPRINT_CHARS = frozenset("0123456789abcdef")


class BaselineError(Exception):
    """The baseline file cannot be used; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    fingerprint: str
    rule: str
    project: str
    service: str
    path: str
    location: Location  # where the entry is written in the baseline file

    @property
    def label(self) -> str:
        scope = ", ".join(f"{k} {v!r}" for k, v in (("project", self.project), ("service", self.service)) if v)
        return f"for rule {self.rule!r}" + (f" ({scope})" if scope else "")


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a baseline's paths are relative to: the directory of the baseline file. Findings show
    paths relative to the cwd; re-rooting them here lets ``baseline`` and ``scan --baseline`` run
    from different directories (a subdirectory, the repository's root in CI, an absolute path) and
    still agree. With the file in the cwd the key is exactly ``Finding.fingerprint``."""

    cwd: str  # absolute: what the findings' relative paths are relative to
    directory: str  # absolute: the baseline file's directory

    @classmethod
    def of(cls, cwd: str, baseline_file: str) -> Anchor:
        cwd = posixpath.abspath(cwd)
        return cls(cwd, posixpath.dirname(posixpath.normpath(posixpath.join(cwd, baseline_file))))

    def path(self, display: str) -> str:
        if not display:
            return display
        return posixpath.relpath(posixpath.normpath(posixpath.join(self.cwd, display)), self.directory)

    def key(self, finding: Finding) -> str:
        """``Finding.fingerprint`` with the finding's file named relative to the baseline file."""
        where = (finding.project, self.path(finding.location.path))
        return fingerprint_of(finding.rule, where, finding.service, finding.subject)


@dataclass(frozen=True, slots=True)
class Baseline:
    path: str  # as shown in findings
    created: str
    tool_version: str
    entries: tuple[BaselineEntry, ...]
    anchor: Anchor | None = None  # None: keys are the findings' own fingerprints

    def key(self, finding: Finding) -> str:
        return self.anchor.key(finding) if self.anchor is not None else finding.fingerprint

    def by_fingerprint(self) -> dict[str, BaselineEntry]:
        out: dict[str, BaselineEntry] = {}
        for entry in self.entries:
            out.setdefault(entry.fingerprint, entry)
        return out


def recordable(findings: Iterable[Finding], governance: frozenset[str]) -> list[Finding]:
    """The findings a baseline records: active ones, less the governance findings (a baseline is a
    suppression, and suppressions never hide findings about suppressions)."""
    return [f for f in findings if f.suppressed is None and f.rule not in governance]


def render_baseline(findings: Iterable[Finding], today: dt.date, anchor: Anchor) -> str:
    """The baseline file's text: one entry per distinct fingerprint, in a stable order; paths (and
    so fingerprints) relative to the baseline file's directory (``Anchor``)."""
    entries: dict[str, dict[str, str]] = {}
    keyed = sorted(
        ((anchor.path(f.location.path), anchor.key(f), f) for f in findings),
        key=lambda item: (item[0], item[2].project, item[2].service, item[2].rule, item[1]),
    )
    for path, key, f in keyed:
        entries.setdefault(
            key,
            {
                "fingerprint": key,
                "rule": f.rule,
                "project": f.project,
                "service": f.service,
                "path": path,
                "subject": f.subject,
            },
        )
    document = {
        "version": VERSION,
        "tool": "leastcap",
        "tool_version": __version__,
        "created": today.isoformat(),
        "findings": list(entries.values()),
    }
    return dumps(document, frozenset({"findings"}))


def read_baseline(path: str, display: str, cwd: str | None = None) -> Baseline:
    """Read and check a baseline file. ``display`` is how findings name it; with ``cwd`` (what the
    findings' paths are relative to), findings are matched relative to the file's directory."""
    try:
        text = jsoninput.read_text(path, display, "baseline", MAX_BYTES)
        document = jsoninput.parse(text, display, "baseline")
    except jsoninput.InputError as exc:
        raise BaselineError(str(exc)) from None
    if not isinstance(document, dict):
        raise BaselineError(f"{display}: not a leastcap baseline: the top level is not an object")
    version = document.get("version")
    if version != VERSION:
        raise BaselineError(
            f"{display}: baseline version {_shown(version)} is not supported (this leastcap reads version {VERSION};"
            " write it again with `leastcap baseline`)"
        )
    items = document.get("findings")
    if not isinstance(items, list):
        raise BaselineError(f"{display}: not a leastcap baseline: 'findings' is not a list")
    if len(items) > MAX_ENTRIES:
        raise BaselineError(f"{display}: {len(items)} entries, over the limit of {MAX_ENTRIES}")
    lines = _fingerprint_lines(text)
    entries: list[BaselineEntry] = []
    for index, item in enumerate(items):
        entries.append(_entry(item, index, display, lines))
    return Baseline(
        path=display,
        created=_text_field(document, "created"),
        tool_version=_text_field(document, "tool_version"),
        entries=tuple(entries),
        anchor=Anchor.of(cwd, path) if cwd is not None else None,
    )


def _fingerprint_lines(text: str) -> dict[str, int]:
    """The first line each fingerprint is written on (entries are one per line when leastcap
    wrote the file; an edited file still gets the line of the fingerprint's value)."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        start = line.find('"fingerprint"')
        while start >= 0:
            quote = line.find('"', line.find(":", start) + 1)
            end = line.find('"', quote + 1)
            if quote < 0 or end < 0:
                break
            out.setdefault(line[quote + 1 : end], number)
            start = line.find('"fingerprint"', end)
    return out


def _entry(item: object, index: int, display: str, lines: dict[str, int]) -> BaselineEntry:
    where = f"{display}: findings[{index}]"
    if not isinstance(item, dict):
        raise BaselineError(f"{where} is not an object")
    fingerprint = item.get("fingerprint")
    if not (isinstance(fingerprint, str) and len(fingerprint) == 32 and set(fingerprint) <= _FINGERPRINT_CHARS):
        raise BaselineError(f"{where}: 'fingerprint' must be 32 lower-case hex digits, got {_shown(fingerprint)}")
    fields = {}
    for key in ("rule", "project", "service", "path"):
        value = item.get(key, "")
        if not isinstance(value, str):
            raise BaselineError(f"{where}: {key!r} must be a string")
        fields[key] = value
    line = lines.get(fingerprint, 0)
    return BaselineEntry(
        fingerprint=fingerprint,
        rule=fields["rule"],
        project=fields["project"],
        service=fields["service"],
        path=fields["path"],
        location=Location(display, line, 1 if line else 0),
    )


def _text_field(document: dict[str, object], key: str) -> str:
    value = document.get(key, "")
    return value if isinstance(value, str) else ""


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."
