"""The loader's types, shared by its modules: what a load takes (``LoadOptions``), gives
(``LoadResult``) and refuses with (``LoadError``), the state of one load (``LoadContext``) and the
resolved inputs (``Inputs``). Depends on no other loader module but the parser and the nodes, so
the loader has no import cycle."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping as AbstractMapping
from dataclasses import dataclass, field
from typing import Any

from leastcap.loader.nodes import Mapping
from leastcap.loader.yamlload import Document, YamlError, parse_documents
from leastcap.model import Location, Problem, Project
from leastcap.tree import Tree, TreeError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

# Alias-created nodes over every file of one project (each file alone is bounded by the parser):
# many includes or -f files each just under the per-file limit are still one bomb.
MAX_PROJECT_ALIAS_NODES = 1_000_000


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
    environ: AbstractMapping[str, str] = field(default_factory=dict)
    project_name: str | None = None


@dataclass(frozen=True)
class LoadResult:
    # With errors, None unless the caller asked for a partial load (see load_project).
    project: Project | None
    # The effective model in `docker compose config --format json` shape (for `leastcap config`).
    effective: dict[str, Any] | None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


@dataclass
class LoadContext:
    tree: Tree
    cache: dict[bytes, Any] | None
    warnings: list[Problem] = field(default_factory=list)
    # Values compose refuses for a reason local to them (a long-syntax volume without `type:`, a
    # bad cast on one service): errors, but the rest of the project is still loaded and judged.
    refusals: list[Problem] = field(default_factory=list)
    alias_nodes: int = 0
    # Included models already loaded: (files, project directory, environment) -> model.
    # (A digest of the environment, not the environment: a thousand includes must not keep a
    # thousand copies of it alive.)
    included: dict[tuple[tuple[str, ...], str, bytes], Mapping] = field(default_factory=dict)
    env_chars: int = 0
    _seen_warnings: set[Problem] = field(default_factory=set)
    _seen_refusals: set[Problem] = field(default_factory=set)

    def warn(self, message: str, loc: Location | None = None, path: str = "") -> None:
        problem = Problem(loc.path if loc else path, message, loc.line if loc else 0, loc.column if loc else 0)
        # A set beside the list: a project with tens of thousands of warnings stays linear.
        if problem not in self._seen_warnings:
            self._seen_warnings.add(problem)
            self.warnings.append(problem)

    def refuse(self, message: str, loc: Location) -> None:
        problem = Problem(loc.path, message, loc.line, loc.column)
        if problem not in self._seen_refusals:  # a set beside the list, as for warnings
            self._seen_refusals.add(problem)
            self.refusals.append(problem)

    def read_documents(self, path: str) -> list[Document]:
        docs = self._read_documents(path)
        self.alias_nodes += sum(doc.alias_nodes for doc in docs)
        if self.alias_nodes > MAX_PROJECT_ALIAS_NODES:
            raise LoadError(
                f"aliases in the project's files expand to more than {MAX_PROJECT_ALIAS_NODES} nodes "
                "(a YAML alias bomb?); refusing to expand",
                self.tree.display(path),
            )
        return docs

    def _read_documents(self, path: str) -> list[Document]:
        display = self.tree.display(path)
        try:
            data = self.tree.read_bytes(path)
        except TreeError as exc:
            raise LoadError(str(exc), display) from None
        if b"\0" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise LoadError("binary file (NUL bytes), not YAML", display)
        key = b""
        if self.cache is not None:
            key = hashlib.blake2b(data, digest_size=20).digest() + display.encode("utf-8", "surrogatepass")
            if key in self.cache:
                cached: list[Document] = self.cache[key]
                return [_clone_document(doc) for doc in cached]
        try:
            docs = parse_documents(data, display)
        except YamlError as exc:
            raise LoadError(exc.message, display, exc.line, exc.column) from None
        if self.cache is not None:
            self.cache[key] = docs
            return [_clone_document(doc) for doc in docs]
        return docs


def _clone_document(doc: Document) -> Document:
    return Document(
        doc.root.clone() if doc.root is not None else None,
        list(doc.reset_paths),
        list(doc.override_paths),
        doc.has_dollar,
        doc.alias_nodes,
    )


@dataclass(frozen=True)
class Inputs:
    env: dict[str, str]
    files: tuple[str, ...]
    project_dir: str
    profiles: tuple[str, ...]
    env_files: tuple[str, ...]
