"""Which Compose projects a directory scan finds, and which files make up each.

Per directory, as files are used: the main file (compose.yaml, ..., first wins) with its default
override file is one project, exactly what ``docker compose`` loads there; each other
compose-named file (``docker-compose.prod.yml``, ``compose.ci.yaml``) is a layer on top of the
main file (``-f main -f variant``), or a project of its own when the directory has no main file.
So every file is covered exactly once per project it belongs to.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Callable, Sequence

from leastcap.loader.types import DEFAULT_FILES, DEFAULT_OVERRIDES, LoadOptions
from leastcap.model import Problem
from leastcap.tree import Tree

COMPOSE_NAME = re.compile(r"^(docker-)?compose.*\.ya?ml$")
SKIP_DIRS = {".git", "node_modules", ".hg", ".svn"}
IGNORE_FILE = ".leastcapignore"


def is_compose_name(name: str) -> bool:
    return bool(COMPOSE_NAME.match(name))


@functools.cache
def _glob(pattern: str) -> re.Pattern[str]:
    """A gitignore glob: ``*`` and ``?`` stay within one path component, ``**`` crosses them."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


class IgnoreRules:
    """``.leastcapignore``: gitignore-style patterns relative to the file's directory (a subset:
    ``#`` comments, ``!`` negation, a leading ``/`` anchors, a trailing ``/`` matches directories)."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, str, bool, bool]] = []  # (base dir, pattern, negated, dir only)

    def add_file(self, tree: Tree, directory: str) -> None:
        path = posixpath.join(directory, IGNORE_FILE)
        if not tree.is_file(path):
            return
        try:
            text = tree.read_bytes(path).decode("utf-8", errors="replace")
        except OSError:
            return
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line.lstrip("!")
            dir_only = line.endswith("/")
            self.rules.append((directory, line.strip("/") if dir_only else line, negated, dir_only))

    def ignored(self, path: str, is_dir: bool) -> bool:
        result = False
        for base, pattern, negated, dir_only in self.rules:
            if dir_only and not is_dir:
                continue
            if not (path == base or path.startswith(base.rstrip("/") + "/")):
                continue
            rel = posixpath.relpath(path, base)
            if pattern.startswith("/") or "/" in pattern.rstrip("/"):
                hit = _glob(pattern.lstrip("/")).fullmatch(rel) is not None
            else:
                hit = _glob(pattern).fullmatch(posixpath.basename(path)) is not None
            if hit:
                result = not negated
        return result


def _is_script(path: str, tree: Tree) -> bool:
    from leastcap.scripts import is_script

    return bool(is_script(path, tree))


def projects_in_directory(directory: str, names: Sequence[str]) -> list[tuple[str, ...]]:
    """The file lists (absolute) of the projects in one directory, given its compose-named files."""
    present = set(names)
    mains = [n for n in DEFAULT_FILES if n in present]
    overrides = [n for n in DEFAULT_OVERRIDES if n in present]
    projects: list[tuple[str, ...]] = []
    covered: set[str] = set()
    join = posixpath.join
    if mains:
        main = mains[0]
        default = (join(directory, main),) + ((join(directory, overrides[0]),) if overrides else ())
        projects.append(default)
        covered.update([main, *overrides[:1]])
    for name in sorted(present - covered):
        if mains and name not in mains:
            projects.append((join(directory, mains[0]), join(directory, name)))
        else:
            # A second main file, or a directory without a main file.
            projects.append((join(directory, name),))
    return projects


def discover(paths: Sequence[str], tree: Tree, ignore: Sequence[str] = ()) -> tuple[list[LoadOptions], list[Problem]]:
    """Projects under ``paths`` (absolute directories or files). ``ignore`` adds patterns."""
    found: list[LoadOptions] = []
    problems: list[Problem] = []
    seen: set[tuple[str, ...]] = set()

    def add(directory: str, files: tuple[str, ...]) -> None:
        if files not in seen:
            seen.add(files)
            found.append(LoadOptions(working_dir=directory, files=files))

    for raw in paths:
        path = posixpath.normpath(raw)
        if tree.is_file(path):
            directory, name = posixpath.split(path)
            if not is_compose_name(name) and not _is_script(path, tree):
                add(directory, (path,))  # any name, when named explicitly: like `docker compose -f`
                continue
            if not is_compose_name(name):
                continue  # a script or CI config: leastcap.scripts.collect reads it
            siblings = [
                n for n in tree.list_dir(directory) if is_compose_name(n) and tree.is_file(posixpath.join(directory, n))
            ]
            if name not in siblings:
                siblings.append(name)
            projects = [p for p in projects_in_directory(directory, siblings) if path in p]
            # A main file named on the command line: its default project; a variant: main + variant.
            for files in projects[:1] if projects else [(path,)]:
                add(directory, files)
            continue
        if not tree.is_dir(path):
            problems.append(Problem(tree.display(path), "no such file or directory"))
            continue
        rules = IgnoreRules()
        for pattern in ignore:
            rules.rules.append((path, pattern.strip("/"), False, pattern.endswith("/")))
        _walk(path, tree, rules, add)
    return found, problems


def _walk(root: str, tree: Tree, rules: IgnoreRules, add: Callable[[str, tuple[str, ...]], None]) -> None:
    stack = [root]
    visited: set[str] = set()
    while stack:
        directory = stack.pop()
        real = os.path.realpath(directory) if os.path.isabs(directory) and os.path.exists(directory) else directory
        if real in visited:
            continue  # a symlink loop, or the same directory reached twice
        visited.add(real)
        rules.add_file(tree, directory)
        names = tree.list_dir(directory)
        compose_names: list[str] = []
        subdirs: list[str] = []
        for name in names:
            full = posixpath.join(directory, name)
            if tree.is_dir(full):
                if name in SKIP_DIRS or rules.ignored(full, True) or os.path.islink(full):
                    continue
                subdirs.append(full)
            elif is_compose_name(name) and not rules.ignored(full, False):
                compose_names.append(name)
        for files in projects_in_directory(directory, compose_names):
            add(directory, files)
        stack.extend(sorted(subdirs, reverse=True))
