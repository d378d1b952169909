"""Where a value was written, and the chain that carried it to the service that uses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A point in an input.

    ``path`` is the display path (relative to the cwd when possible). For a file it is a file name; for
    a file version in git history the repository-relative path (the commit is the history event's,
    not part of the path); for a container ``host/container`` with the symbolic inspect path in
    ``note``, and line and column 0. ``line`` and ``column`` are 1-based; 0 means "not a text position".
    ``note`` says what this place is to the finding ("alias *caps used here", "extends: base", ...).
    """

    path: str
    line: int = 0
    column: int = 0
    note: str = ""

    def with_note(self, note: str) -> Location:
        return Location(self.path, self.line, self.column, note)

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}"
        return self.path


@dataclass(frozen=True, slots=True)
class Located(Generic[T]):
    """A value with the place it was written (``origin``) and how it travelled (``via``).

    ``via`` lists the related places in the order they were crossed from the value towards the
    service: an alias use, a ``<<`` merge, an ``extends:`` line, an ``include:`` entry.
    ``variables`` names the environment variables the value was interpolated from, so a finding can
    say "privileged is true unless AGENT_PRIVILEGED is set to false".
    """

    value: T
    origin: Location
    via: tuple[Location, ...] = ()
    variables: tuple[str, ...] = field(default=())

    def related(self) -> tuple[Location, ...]:
        return self.via
