"""Findings are data. Reporters, suppression and exit codes work on these and nothing else."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

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

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule, self.message)
