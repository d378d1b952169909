"""Findings are data. Reporters, suppression and exit codes work on these and nothing else."""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from dataclasses import dataclass, field

from leastcap.model.fix import Fix
from leastcap.model.location import Location


class Severity(enum.IntEnum):
    """Ordered so that ``severity >= Severity.HIGH`` reads naturally."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r} (expected one of: {', '.join(s.label for s in cls)})"
            ) from None


class Confidence(enum.IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a finding is not counted: an inline ignore comment or a config exception."""

    by: str  # "inline" or "exception"
    justification: str
    approved_by: str = ""
    expires: str = ""
    ticket: str = ""
    location: Location | None = None

    @property
    def accepts_privilege(self) -> bool:
        """An inline ignore or an exception accepts what was found (fix leaves it); a baseline only
        defers it: the finding is known debt, still to be fixed, so it keeps its fix."""
        return self.by != "baseline"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    confidence: Confidence
    message: str
    location: Location
    project: str = ""
    service: str = ""
    related: tuple[Location, ...] = ()
    suppressed: Suppression | None = None
    # Free-form, rule-specific facts reporters may show (the capability, the mount source, ...).
    # Kept as sorted pairs so the dataclass stays hashable.
    facts: tuple[tuple[str, str], ...] = field(default=())
    # What would answer the finding (leastcap.model.fix), when the command asked the planner for it.
    fix: Fix | None = None

    @property
    def open_to_fix(self) -> bool:
        """Not suppressed, or only deferred by a baseline (``Suppression.accepts_privilege``)."""
        return self.suppressed is None or not self.suppressed.accepts_privilege

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule, self.message)

    @property
    def subject(self) -> str:
        """What was found, without where on the page: the located value (``service 'web' adds
        SYS_ADMIN``, ``source=/var/run/docker.sock``), never a line number."""
        return line_free_subject(self.message, self.facts)

    @property
    def fingerprint(self) -> str:
        """The finding's identity: rule, project, service and the located value (the file it is
        written in and ``subject``), never the line. Moved lines, a changed explanation or a renamed
        variable keep it. SARIF, Code Quality, scan's dedupe and history timelines use it."""
        return fingerprint_of(self.rule, (self.project, self.location.path), self.service, self.subject)


def fingerprint_of(rule: str, where: tuple[str, ...], service: str, subject: str) -> str:
    """The one fingerprint function. ``where`` is (project, file); history scopes a timeline by the
    Compose file's lineage instead, because a file moved to another directory (which renames its
    project) or renamed still holds the same findings."""
    key = "\x1f".join((rule, *where, service, subject))
    # surrogatepass: a file name that is not UTF-8 still has a fingerprint (it was a crash).
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# Digits after a colon look like positions ("base.yml:12:3"); an identity must survive line moves.
_POSITION = re.compile(r":\d+(?::\d+)?\b")
# The tail rules add when a value depends on the environment or on profiles (rules._common.context):
# " (depends on ${X})", " (privileged is true unless ${X} is set to false; only with profile debug)".
_CONTEXT_TAIL = re.compile(r" \((?:depends on \$\{|[\w.-]+ is true unless \$\{|only with profiles? )[^()]*\)$")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=1 << 16)
def line_free_subject(message: str, facts: tuple[tuple[str, str], ...] = ()) -> str:
    """A rule's facts when it gives any; else the head of its message (up to the first ": "), which
    names what was found without the explanation that follows, less positions and context tail."""
    if facts:
        return ";".join(f"{k}={v}" for k, v in sorted(facts))
    head = _CONTEXT_TAIL.sub("", message.split(": ", 1)[0])
    return _SPACES.sub(" ", _POSITION.sub("", head)).strip()
