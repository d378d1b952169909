"""One revision of a repository as a ``Tree``, and a whole tree scanned through the pipeline.

A revision is read from git objects only (``git ls-tree`` for its paths, ``git cat-file`` for the
blobs, through history's ``GitTree``): a hostile commit is never checked out onto disk, so its
symlinks, FIFOs and huge files are just entries the loader is told about. The working tree is the
real ``DiskTree``. Both are rooted at the repository's top directory, so a project's name (the
directory's name unless ``name:`` says otherwise), every display path and so every fingerprint
are the same on both sides.

``scan_tree`` is the small adapter between a tree and ``pipeline.evaluate``: discovery, loader and
scripts as ``scan`` runs them, the ``.leastcap.yml`` of the tree's root, an environment that does
not depend on who runs it (like ``history``).
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from leastcap.config import CONFIG_NAMES, Config, ConfigError, parse_config
from leastcap.contract import SCRIPT_KINDS
from leastcap.history.git import GitError, run_git
from leastcap.history.gittree import EMPTY, Dir, GitTree, ObjectStore, with_file
from leastcap.loader import discover_projects, load_project
from leastcap.model import Problem, Project, Report, Severity
from leastcap.pipeline import Context, evaluate
from leastcap.tree import Tree, TreeError


@dataclass(frozen=True)
class Revision:
    name: str  # as the user wrote it
    commit: str  # the full object id


def top_level(path: str) -> str:
    try:
        return run_git(path, ["rev-parse", "--show-toplevel"]).strip()
    except (GitError, OSError) as exc:
        raise GitError(f"{path}: not inside a git work tree ({exc})") from None


def resolve(top: str, name: str) -> Revision:
    """The commit ``name`` names. A name starting with '-' would be read as an option: refused."""
    if not name or name.startswith("-") or "\x00" in name:
        raise GitError(f"{name!r} is not a revision")
    try:
        oid = run_git(top, ["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"]).strip()
    except GitError:
        raise GitError(f"{name!r} is not a commit in {top}") from None
    return Revision(name, oid)


def tree_at(top: str, revision: Revision, store: ObjectStore) -> GitTree:
    """The commit's files (paths and blob ids from ``git ls-tree``), read lazily from ``store``."""
    listing = run_git(top, ["ls-tree", "-r", "-z", "--full-tree", revision.commit])
    files: Dir = EMPTY
    for item in listing.split("\x00"):
        if not item:
            continue
        meta, path = item.split("\t", 1)
        mode, _kind, blob = meta.split()
        files = with_file(files, path, (int(mode, 8), blob))
    return GitTree(store, files, top, revision.commit)


def _config(tree: Tree, root: str) -> tuple[Config | None, Problem | None]:
    for name in CONFIG_NAMES:
        path = posixpath.join(root, name)
        if not tree.is_file(path):
            continue
        shown = tree.display(path)
        try:
            text = tree.read_bytes(path).decode("utf-8")
        except TreeError as exc:
            return None, Problem(shown, str(exc))
        except UnicodeDecodeError:
            return None, Problem(shown, "config is not UTF-8 text")
        try:
            return parse_config(text, shown), None
        except ConfigError as exc:
            return None, exc.problems[0] if exc.problems else Problem(shown, str(exc))
    return None, None


def _source_lines(tree: Tree, root: str) -> Callable[[str], Sequence[str] | None]:
    """A file's lines for inline ignore comments (``pipeline.disk_source_lines`` over any tree)."""
    cache: dict[str, Sequence[str] | None] = {}

    def lines(display: str) -> Sequence[str] | None:
        if display not in cache:
            try:
                text = tree.read_bytes(posixpath.join(root, display)).decode("utf-8", "replace")
            except TreeError:
                cache[display] = None
            else:
                cache[display] = text.splitlines() if "leastcap" in text else []
        return cache[display]

    return lines


POLICY_EDITED = (
    "this change edits the fail-on:, rules:, scripts: or approvers: settings; the diff judges both sides with the"
    " base's (the edit applies once it is merged)"
)


def tree_config(tree: Tree, root: str) -> Config | None:
    """The ``.leastcap.yml`` of the tree's root, None when there is none or it cannot be read."""
    return _config(tree, root)[0]


def scan_tree(
    tree: Tree,
    root: str,
    environ: Mapping[str, str],
    *,
    today: dt.date | None = None,
    fail_on: Severity = Severity.HIGH,
    command: str = "diff",
    policy: Config | None = None,
) -> Report:
    """Everything under ``root`` in ``tree``, judged as ``leastcap scan ROOT`` judges it. With
    ``policy`` (the base's config), its ``rules:``, ``scripts:`` and ``approvers:`` settings judge
    the tree instead of the tree's own: a change cannot switch off or weaken the rules that judge
    it, nor name its own approver. (Its ``fail-on:`` is the caller's: ``fail_on``.)"""
    config, config_problem = _config(tree, root)
    edited: list[Problem] = []
    if policy is not None:
        own = config or Config()
        if (own.fail_on, own.rules, own.scripts, own.approvers) != (
            policy.fail_on,
            policy.rules,
            policy.scripts,
            policy.approvers,
        ):
            edited.append(Problem(own.path or CONFIG_NAMES[0], POLICY_EDITED))
        config = replace(own, rules=policy.rules, scripts=policy.scripts, approvers=policy.approvers)
    report, _ = judge_tree(
        tree,
        [root],
        environ,
        config,
        today=today,
        fail_on=fail_on,
        command=command,
        problems=[config_problem] if config_problem else [],
    )
    return replace(report, warnings=report.warnings + tuple(edited)) if edited else report


def judge_tree(
    tree: Tree,
    roots: Sequence[str],
    environ: Mapping[str, str],
    config: Config | None,
    *,
    today: dt.date | None = None,
    fail_on: Severity = Severity.HIGH,
    command: str = "diff",
    problems: Sequence[Problem] = (),
    source_root: str | None = None,
) -> tuple[Report, list[Project]]:
    """The projects under ``roots`` (Compose projects, then scripts) and their report. Display paths
    are resolved against ``source_root`` (default: the first root) for inline ignores."""
    errors: list[Problem] = list(problems)
    warnings: dict[Problem, None] = {}
    targets, found = discover_projects(list(roots), tree)
    errors.extend(found)
    projects: list[Project] = []
    scanned: list[str] = []
    for target in targets:
        result = load_project(replace(target, environ=dict(environ)), tree, partial=True)
        errors.extend(result.errors)
        warnings.update(dict.fromkeys(result.warnings))
        if result.project is not None:
            projects.append(result.project)
            scanned.extend(result.project.files)
    from leastcap.scripts import collect

    enabled = {kind: (config or Config()).scripts.on(kind) for kind in SCRIPT_KINDS}
    script_projects, script_problems = collect(list(roots), tree, enabled)
    errors.extend(script_problems)
    projects.extend(script_projects)
    scanned.extend(f for p in script_projects for f in p.files)
    context = Context(
        command=command,
        source_lines=_source_lines(tree, source_root or roots[0]),
        today=today,
        fail_on=fail_on,
        errors=tuple(errors),
        warnings=tuple(warnings),
        scanned_files=tuple(dict.fromkeys(scanned)),
    )
    return evaluate(projects, config, context), projects
