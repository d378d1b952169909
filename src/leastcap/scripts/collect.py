"""The directory walk: which files are scripts or CI configs, and the projects they become."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence

from leastcap.contract import SCRIPT_KINDS
from leastcap.model import Location, Problem, Project, Service, SourceKind
from leastcap.scripts.ci import CIError, github_services, gitlab_services, read_text, resolve_include
from leastcap.scripts.jenkins import jenkins_services
from leastcap.scripts.shell import MAKE
from leastcap.scripts.textfiles import dockerfile_services, makefile_shell, services_in_shell, systemd_shell
from leastcap.tree import DENIED, Tree, TreeError

KINDS = SCRIPT_KINDS
SKIP_DIRS = frozenset({".git", "node_modules", ".hg", ".svn", ".venv", "venv", "__pycache__", ".tox"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"})
_SYSTEMD_SUFFIXES = (".service",)


def classify(path: str) -> str | None:
    """The kind of a file by its name alone (``shebang`` means: read the first line to know)."""
    name = posixpath.basename(path)
    lower = name.lower()
    parent = posixpath.basename(posixpath.dirname(path))
    grand = posixpath.basename(posixpath.dirname(posixpath.dirname(path)))
    if parent == "workflows" and grand == ".github" and lower.endswith((".yml", ".yaml")):
        return "github"
    if name == ".gitlab-ci.yml":
        return "gitlab"
    if lower.endswith((".sh", ".bash")):
        return "shell"
    if name in ("Makefile", "makefile", "GNUmakefile") or lower.endswith(".mk"):
        return "makefile"
    if (
        lower in ("dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith((".dockerfile", ".containerfile"))
    ):
        return "dockerfile"
    if lower.endswith(_SYSTEMD_SUFFIXES):
        return "systemd"
    if name == "Jenkinsfile" or lower.endswith(".jenkinsfile"):
        return "jenkins"
    if "." not in name:
        return "shebang"
    return None


def is_shell_shebang(first_line: str) -> bool:
    if not first_line.startswith("#!"):
        return False
    parts = first_line[2:].split()
    if not parts:
        return False
    prog = posixpath.basename(parts[0])
    if prog == "env":
        args = [p for p in parts[1:] if not p.startswith("-")]
        prog = posixpath.basename(args[0]) if args else ""
    return prog in _SHELLS


def is_script(path: str, tree: Tree) -> bool:
    """Whether ``collect`` reads this file (by its name, or by its shell shebang when it has no
    extension). ``leastcap scan`` uses it to keep explicit script paths (pre-commit passes them)
    away from the Compose loader."""
    kind = classify(path)
    if kind is None:
        return False
    if kind != "shebang":
        return True
    try:
        head = tree.read_bytes(path)[:256]
    except TreeError:
        return False
    return is_shell_shebang(head.split(b"\n", 1)[0].decode("utf-8", "replace"))


def _real(path: str) -> str:
    """The path with every symlink resolved, for paths on disk; other trees' paths as they are."""
    return os.path.realpath(path) if os.path.isabs(path) and os.path.lexists(path) else path


def _walk(root: str, tree: Tree, out: list[str], seen: set[str]) -> None:
    """Every file under ``root`` in sorted depth-first order. Each real directory and file is
    visited once, however many symlinks lead to it: a directory link back to a parent (a loop)
    is not entered a second time, where following it used to grow paths until memory ran out.
    A link that leads out of ``root`` (`host -> /`) is not followed at all."""
    inside = _real(root).rstrip("/") + "/"
    stack = [root]
    while stack:
        path = stack.pop()
        real = _real(path)
        if real in seen or (path != root and not (real + "/").startswith(inside)):
            continue
        if tree.is_dir(path):
            seen.add(real)
            names = [n for n in tree.list_dir(path) if n not in SKIP_DIRS]
            stack.extend(posixpath.join(path, name) for name in reversed(names))
        elif tree.is_file(path):
            seen.add(real)
            out.append(path)


def collect(
    paths: Sequence[str], tree: Tree, enabled: Mapping[str, bool], examined: list[str] | None = None
) -> tuple[list[Project], list[Problem]]:
    """Projects (one per file with at least one container-starting command) and problems.

    ``paths`` are absolute files or directories. A file named explicitly is still only read when
    its kind is recognised: ``leastcap scan`` passes Compose files here too (pre-commit does).
    Keys missing from ``enabled`` count as enabled. ``examined`` receives every file whose kind
    is recognised, whether or not it starts a container.
    """
    files: list[str] = []
    seen: set[str] = set()
    for p in paths:
        _walk(posixpath.normpath(p), tree, files, seen)
    projects: list[Project] = []
    problems: list[Problem] = []
    done: set[str] = set()
    for path in files:
        kind = classify(path)
        if kind is None or path in done:
            continue
        if examined is not None:
            examined.append(path)
        if kind == "shebang" and not _readable(path, tree, problems):
            continue
        if kind == "gitlab":
            if enabled.get("gitlab", True):
                _gitlab(path, tree, projects, problems, done)
            continue
        if kind != "shebang" and not enabled.get(kind, True):
            continue
        done.add(path)
        try:
            project = _one(path, kind, tree)
        except CIError as exc:
            if kind != "shebang":
                problems.append(exc.problem)
            continue
        if project is not None:
            projects.append(project)
    return projects, problems


def _readable(path: str, tree: Tree, problems: list[Problem]) -> bool:
    """Whether a file without an extension can be read to see if it is a script. Most such files
    are not scripts, so only a file leastcap may not read is an error (it might be one)."""
    try:
        tree.read_bytes(path)
    except TreeError as exc:
        if exc.errno in DENIED:
            problems.append(Problem(tree.display(path), str(exc)))
        return False
    return True


def _project(path: str, tree: Tree, services: list[Service]) -> Project | None:
    if not services:
        return None
    display = tree.display(path)
    return Project(
        name=display,
        files=(display,),
        working_dir=posixpath.dirname(path),
        services=tuple(services),
        source=SourceKind.SCRIPT,
    )


def _one(path: str, kind: str, tree: Tree) -> Project | None:
    if kind == "shebang":
        if not is_script(path, tree):
            return None
        kind = "shell"
    text = read_text(tree, path)
    display = tree.display(path)
    if kind == "shell":
        services = services_in_shell(text, display)
    elif kind == "makefile":
        services = services_in_shell(makefile_shell(text), display, dialect=MAKE)
    elif kind == "systemd":
        services = services_in_shell(systemd_shell(text), display)
    elif kind == "dockerfile":
        services = dockerfile_services(text, display)
    elif kind == "jenkins":
        services = jenkins_services(text, display)
    else:  # github
        services = github_services(text, display)
    return _project(path, tree, services)


def _gitlab(path: str, tree: Tree, projects: list[Project], problems: list[Problem], done: set[str]) -> None:
    """``.gitlab-ci.yml`` and, transitively, its local includes (each file once; cycles end)."""
    repo_root = posixpath.dirname(path)
    queue: list[tuple[str, tuple[Location, ...]]] = [(path, ())]
    while queue:
        current, via = queue.pop(0)
        if current in done:
            continue
        done.add(current)
        try:
            text = read_text(tree, current)
            services, includes = gitlab_services(text, tree.display(current), via)
        except CIError as exc:
            problems.append(exc.problem)
            continue
        project = _project(current, tree, services)
        if project is not None:
            projects.append(project)
        for pattern, at in includes:
            for target in resolve_include(pattern, repo_root, tree):
                if not tree.is_file(target):
                    message = f"include {pattern!r}: no such local file"
                    problems.append(Problem(at.path, message, at.line, at.column))
                    continue
                queue.append((target, (*via, at.with_note(f"include: {pattern}"))))
