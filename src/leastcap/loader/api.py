"""The loader's contract. (Implementation lands in the sibling modules.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leastcap.model import Location, Problem, Project
from leastcap.tree import DiskTree, Tree


class LoadError(Exception):
    """The project cannot be understood (YAML syntax, duplicate keys, bad cast, cycles, limits)."""

    def __init__(self, message: str, path: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    @classmethod
    def at(cls, message: str, loc: Location) -> LoadError:
        return cls(message, loc.path, loc.line, loc.column)

    def problem(self) -> Problem:
        return Problem(self.path, self.message, self.line, self.column)


@dataclass(frozen=True)
class LoadOptions:
    """Everything `docker compose` takes from its command line and environment.

    ``files`` are -f files (absolute paths); empty means COMPOSE_FILE or discovery from
    ``working_dir``. ``environ`` is the OS environment (plus ``--env KEY=VALUE``), which always
    beats .env files.
    """

    working_dir: str
    files: tuple[str, ...] = ()
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)
    project_name: str | None = None


@dataclass(frozen=True)
class LoadResult:
    # With errors, None unless the caller asked for a partial load (see load_project).
    project: Project | None
    # The effective model in `docker compose config --format json` shape (for `leastcap config`).
    effective: dict[str, Any] | None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


def load_project(
    options: LoadOptions,
    tree: Tree | None = None,
    cache: dict[bytes, Any] | None = None,
    *,
    effective: bool = True,
    partial: bool = False,
) -> LoadResult:
    """Load one project. ``cache`` (content digest -> parsed documents) lets a caller that loads
    many versions of the same files (``leastcap history``) parse each distinct file content once.
    ``effective=False`` skips building the `docker compose config` JSON (a scan does not need it).

    When compose refuses the project for a reason local to some values (a volume entry without
    `type:`, a bad cast on one service), ``errors`` says so and ``project`` is None, unless
    ``partial``: then ``project`` holds everything else, so a scan still judges it. A project with
    errors never has an ``effective`` config (compose prints none)."""
    from leastcap.loader.project import load

    return load(options, tree or DiskTree(), cache, effective=effective, partial=partial)


def discover_projects(
    paths: Sequence[str], tree: Tree | None = None, ignore: Sequence[str] = ()
) -> tuple[list[LoadOptions], list[Problem]]:
    from leastcap.loader.discovery import discover

    return discover(paths, tree or DiskTree(), ignore)
