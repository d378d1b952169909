"""The loader's contract: ``load_project`` and ``discover_projects``, with the types they take
and give (``leastcap.loader.types``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leastcap.loader.discovery import discover
from leastcap.loader.project import load
from leastcap.loader.types import LoadError, LoadOptions, LoadResult
from leastcap.model import Problem
from leastcap.tree import DiskTree, Tree


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
    return load(options, tree or DiskTree(), cache, effective=effective, partial=partial)


def discover_projects(
    paths: Sequence[str], tree: Tree | None = None, ignore: Sequence[str] = ()
) -> tuple[list[LoadOptions], list[Problem]]:
    return discover(paths, tree or DiskTree(), ignore)


__all__ = ["LoadError", "LoadOptions", "LoadResult", "discover_projects", "load_project"]
