"""The real evaluation of one directory at one commit: discovery, loader, then the pipeline.

Everything is read from the commit's ``GitTree`` (Compose files, ``.env``, ``extends``/``include``
targets, ``.leastcap.yml``), never from the work tree. Parsed file contents are shared across the
whole run through the loader's ``cache`` (content digest -> parsed documents), so a blob that
appears in thousands of commits is parsed once. The configuration is parsed once per distinct
content as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from leastcap.config import CONFIG_NAMES, Config, ConfigError, parse_config
from leastcap.history.gittree import GitTree
from leastcap.history.model import CommitRef
from leastcap.history.walk import ProjectEval, is_compose_name
from leastcap.loader import LoadOptions, discover_projects, load_project
from leastcap.loader.discovery import SKIP_DIRS, IgnoreRules
from leastcap.model import Problem
from leastcap.pipeline import Context, evaluate
from leastcap.rules.registry import META_RULES
from leastcap.tree import TreeError

_META = frozenset(rule.slug for rule in META_RULES)


class _DirOnly:
    """A view of a tree in which ``directory`` lists its files but no subdirectories, so that
    discovery finds the projects of that one directory (the walk evaluates directories one by one,
    each when something it depends on changes)."""

    def __init__(self, tree: GitTree, directory: str) -> None:
        self._tree = tree
        self._dir = directory

    def read_bytes(self, path: str) -> bytes:
        return self._tree.read_bytes(path)

    def is_file(self, path: str) -> bool:
        return self._tree.is_file(path)

    def is_dir(self, path: str) -> bool:
        return self._tree.is_dir(path)

    def list_dir(self, path: str) -> list[str]:
        names = self._tree.list_dir(path)
        if posixpath.normpath(path) != self._dir:
            return names
        return [n for n in names if not self._tree.is_dir(posixpath.join(path, n))]

    def display(self, path: str) -> str:
        return self._tree.display(path)


class LoaderEvaluator:
    """The ``Evaluator`` of a history walk: the real discovery, loader, rules and suppression.

    ``environ`` stands in for the shell environment (empty by default, so a history does not depend
    on who runs it); ``--env KEY=VALUE`` adds to it.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, cache: dict[bytes, Any] | None = None) -> None:
        self.environ = dict(environ or {})
        self.cache: dict[bytes, Any] = {} if cache is None else cache
        self._configs: dict[bytes, Config | Problem] = {}
        self._lines: dict[bytes, list[str] | None] = {}

    def evaluate_dir(self, tree: GitTree, directory: str, commit: CommitRef) -> tuple[list[ProjectEval], list[Problem]]:
        ignore = _ignore_rules(tree, directory)
        if ignore is None:
            return [], []
        options_list, problems = discover_projects([directory], _DirOnly(tree, directory))
        options_list = [o for o in options_list if not any(ignore.ignored(f, False) for f in o.files)]
        config, config_problem = self._config(tree, directory)
        errors: list[Problem] = list(problems)
        if config_problem is not None:
            errors.append(config_problem)
        today = _date(commit.date)
        evals: list[ProjectEval] = []
        for options in options_list:
            opts = replace(options, environ={**self.environ, **options.environ})
            result = load_project(opts, tree, self.cache, partial=True)
            anchor = _anchor(tree, opts, result.project.files if result.project else ())
            if result.project is None:
                evals.append(ProjectEval(anchor or "", (), tuple(result.errors), tuple(result.warnings), loaded=False))
                continue
            context = Context(command="history", source_lines=lambda p: self._source_lines(tree, p), today=today)
            findings = evaluate([result.project], config, context).findings
            evals.append(
                ProjectEval(
                    anchor or "",
                    tuple(f for f in findings if f.rule not in _META),
                    tuple(result.errors),
                    tuple(result.warnings),
                )
            )
        return evals, errors

    def _config(self, tree: GitTree, directory: str) -> tuple[Config | None, Problem | None]:
        """``.leastcap.yml`` as of this commit, found upward from the directory to the repo root."""
        d = directory
        while True:
            for name in CONFIG_NAMES:
                path = posixpath.join(d, name)
                if tree.is_file(path):
                    return self._parse_config(tree, path)
            if d == tree.root or posixpath.dirname(d) == d:
                return None, None
            d = posixpath.dirname(d)

    def _parse_config(self, tree: GitTree, path: str) -> tuple[Config | None, Problem | None]:
        try:
            data = tree.read_bytes(path)
        except TreeError as exc:
            return None, Problem(tree.display(path), str(exc))
        digest = hashlib.sha256(data).digest()
        cached = self._configs.get(digest)
        if cached is None:
            try:
                cached = parse_config(data.decode("utf-8", "replace"), tree.display(path))
            except ConfigError as exc:
                cached = Problem(tree.display(path), exc.message)
            self._configs[digest] = cached
        if isinstance(cached, Problem):
            return None, cached
        return cached, None

    def _source_lines(self, tree: GitTree, display_path: str) -> Sequence[str] | None:
        path = posixpath.join(tree.root, display_path)
        oid = tree.blob_id(path)
        if oid is None:
            return None
        key = oid.encode()
        if key not in self._lines:
            try:
                text = tree.read_bytes(path).decode("utf-8")
                self._lines[key] = text.splitlines()
            except (TreeError, UnicodeDecodeError):
                self._lines[key] = None
        return self._lines[key]


def _ignore_rules(tree: GitTree, directory: str) -> IgnoreRules | None:
    """The ``.leastcapignore`` rules of the directory and every directory above it up to the
    repository root, as of this commit (a scan from the root would have read them on its way
    down); None when the directory itself is skipped or ignored."""
    rel = tree.relpath(directory) or ""
    chain = [tree.root]
    for part in [p for p in rel.split("/") if p]:
        chain.append(posixpath.join(chain[-1], part))
    rules = IgnoreRules()
    for d in chain:
        if d != tree.root and (posixpath.basename(d) in SKIP_DIRS or rules.ignored(d, True)):
            return None
        rules.add_file(tree, d)
    return rules


def _date(iso: str) -> dt.date:
    try:
        return dt.datetime.fromisoformat(iso).date()
    except ValueError:
        return dt.date.today()


def _anchor(tree: GitTree, options: LoadOptions, shown: Sequence[str]) -> str | None:
    """The file that names a project across commits: the last Compose file given that is not an
    override (a variant like ``docker-compose.prod.yml``, else the main file). Adding or removing an
    override file thus keeps the project's identity."""
    rels: list[str] = []
    for f in options.files:
        rel = tree.relpath(f)
        if rel is not None:
            rels.append(rel)
    if not rels:
        rels = list(shown)
    candidates = [r for r in rels if ".override." not in posixpath.basename(r)] or rels
    named = [r for r in candidates if is_compose_name(r)] or candidates
    return named[-1] if named else None
