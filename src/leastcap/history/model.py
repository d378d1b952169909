"""What a history walk produces: commits, events and one timeline per finding identity."""

from __future__ import annotations

from dataclasses import dataclass, field

from leastcap.model import Finding, Problem


@dataclass(frozen=True, slots=True)
class CommitRef:
    oid: str
    author: str
    email: str
    date: str
    subject: str

    @property
    def short(self) -> str:
        return self.oid[:7]


@dataclass(frozen=True, slots=True)
class Event:
    """A change in one finding at one commit, seen from that commit's first parent.

    ``kind`` is ``introduced`` (first appearance), ``reintroduced``, ``removed``, ``suppressed``
    (still there, now covered by an exception or ignore comment) or ``unsuppressed``.
    ``merged_from`` is set when the commit is a merge whose result equals another parent's for
    this finding: the change was made on the merged branch (its own event is listed there) and the
    merge carried it over. ``boundary`` marks a finding already present where the available
    history starts (shallow clone or ``--since``): introduced at or before that commit.
    ``finding`` is the finding as it was at that commit (its location, message, suppression); for
    a removal, as it was last seen just before.
    """

    kind: str
    commit: CommitRef
    path: str  # the anchor file's path at that commit
    finding: Finding | None = None
    merged_from: str = ""
    boundary: bool = False


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything that happened to one finding identity: ``Finding.fingerprint`` scoped by the
    Compose file's lineage in place of (project, file) (``detail`` is ``Finding.subject``)."""

    rule: str
    service: str
    path: str  # the anchor file's latest path
    paths: tuple[str, ...]  # every path the file had, oldest first (renames)
    detail: str
    events: tuple[Event, ...]
    present_at_tip: bool
    latest: Finding  # the finding as last seen (at the tip when present there)

    @property
    def introduced(self) -> Event | None:
        for ev in self.events:
            if ev.kind == "introduced" and not ev.merged_from:
                return ev
        return None

    def of_kind(self, kind: str) -> tuple[Event, ...]:
        return tuple(ev for ev in self.events if ev.kind == kind and not ev.merged_from)

    @property
    def fingerprint(self) -> str:
        """The finding's fingerprint as last seen, the one ``scan`` reports for it."""
        return self.latest.fingerprint

    @property
    def suppressed_at_tip(self) -> bool:
        return self.present_at_tip and self.latest.suppressed is not None


@dataclass(frozen=True, slots=True)
class HistoryReport:
    repo: str
    revs: tuple[str, ...]
    tip: str
    timelines: tuple[Timeline, ...]
    commits_walked: int
    commits_evaluated: int
    compose_paths: tuple[str, ...]  # every path that was ever a Compose file
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    shallow: bool = False
    since: str | None = None
    stats: tuple[tuple[str, int], ...] = field(default=())
