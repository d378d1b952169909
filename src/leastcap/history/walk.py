"""Walk the commit graph once, re-evaluating only the Compose projects a commit can have changed.

Per commit the walk keeps: the file index (``gittree.Dir``, path-copied from the parent's), the
Compose-named paths with their file lineage (renames followed), and per directory holding Compose
files the evaluation result. Results are shared with the parent unless the commit touched
something they depend on, so a commit that changes nothing relevant costs a few dictionary
lookups.

Unit of evaluation: one directory that holds Compose files (discovery plus every project found
there). What a directory depends on is recorded, not guessed: the ``GitTree`` logs every path the
discovery, the loader and the config lookup asked about (files read, files probed and not found,
directories listed, symlink targets). A later commit re-evaluates the directory exactly when it
adds, deletes or modifies one of those paths: override files, ``.env``, ``extends``/``include``
targets and ``.leastcap.yml`` are all covered, and the dependency set follows its changes.

Partitions: a walk can be told to evaluate only the directories of one partition (a stable hash
of the directory path). Every partition still follows every commit's file index and Compose
paths, so lineages and states agree; ``runner`` forks one walk per core and merges the events.

Merges: every commit reachable from the chosen refs is walked (the full graph, parents before
children). A commit's events are its differences from its FIRST parent. When the merge result for
a finding equals another parent's, the event carries ``merged_from``: the change was authored on
the merged branch, where it has its own event.
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from leastcap.config import CONFIG_NAMES
from leastcap.history.git import Change, Commit, run_git
from leastcap.history.gittree import EMPTY, Dir, GitTree, ObjectStore, exists, listing_key, with_file
from leastcap.history.model import CommitRef, Event
from leastcap.loader.discovery import is_compose_name as _is_compose_file_name
from leastcap.model import Finding, Problem
from leastcap.progress import Tick, silent

# (anchor file lineage, service, rule, Finding.subject): what Finding.fingerprint hashes, with the
# file's lineage in place of (project, file): a moved or renamed Compose file keeps its findings.
Key = tuple[str, str, str, str]


def is_compose_name(path: str) -> bool:
    """The scan's naming rule (``compose*.y*ml``, ``docker-compose*.y*ml``) on a path's file name."""
    return _is_compose_file_name(path.rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class ProjectEval:
    """One project in one commit, as the evaluator saw it."""

    anchor: str  # repository-relative path of the file that names the project
    findings: tuple[Finding, ...]
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    # False when the project could not be loaded at this commit (its findings are unknown there).
    loaded: bool = True


class Evaluator(Protocol):
    def evaluate_dir(self, tree: GitTree, directory: str, commit: CommitRef) -> tuple[list[ProjectEval], list[Problem]]:
        """Discover the projects whose files are in ``directory`` (absolute, under ``tree.root``)
        and evaluate each: load, rules, suppression with the configuration as of ``commit``."""
        ...


@dataclass(frozen=True, slots=True)
class _Seen:
    finding: Finding
    path: str  # anchor path at that commit


@dataclass(frozen=True, slots=True)
class _DirState:
    findings: Mapping[Key, _Seen]
    deps: frozenset[str]  # every path asked about
    reads: frozenset[str]  # the paths whose content was read
    errors: tuple[Problem, ...]  # load/discovery errors of the directory's projects


@dataclass(frozen=True, slots=True)
class _State:
    files: Dir
    compose: Mapping[str, str]  # compose-named path -> file lineage
    compose_dirs: Mapping[str, int]  # directory -> number of compose-named files in it
    dirs: Mapping[str, _DirState]


_EMPTY_STATE = _State(EMPTY, {}, {}, {})
_Evaluation = tuple[list[ProjectEval], list[Problem]]
# Distinct question sets remembered per directory (they change only when what a project reads does).
_MEMO_DEP_SETS = 8


@dataclass
class _Lineages:
    """File identities across renames. Assigned only from the commits' Compose-path changes, which
    every partition walks identically, so the ids agree between partitions."""

    by_path: dict[str, str] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)

    def assign(self, path: str, inherit: str | None = None) -> str:
        lid = inherit if inherit is not None else self.by_path.get(path)
        if lid is None:
            lid = f"L{len(self.paths)}"
            self.paths[lid] = []
        self.by_path[path] = lid
        if path not in self.paths[lid]:
            self.paths[lid].append(path)
        return lid


def _ref(c: Commit) -> CommitRef:
    return CommitRef(c.oid, c.author, c.email, c.date, c.subject)


def partition_of(directory: str, parts: int) -> int:
    return zlib.crc32(directory.encode("utf-8", "surrogateescape")) % parts if parts > 1 else 0


@dataclass
class WalkInput:
    """What every partition's walk shares (set up once, before any fork)."""

    top: str
    head: str
    commits: list[Commit]
    shallow: frozenset[str]
    rules: frozenset[str]
    evaluator: Evaluator
    store: ObjectStore
    # Progress of the walk (leastcap.progress); only partition 0, in the parent process, ticks.
    tick: Tick = silent


@dataclass
class PartResult:
    """One partition's walk. Positions are indexes into ``WalkInput.commits`` (-1: a commit outside
    the walk, evaluated from scratch), so merged events sort back into walk order."""

    events: dict[Key, list[tuple[int, Event]]]
    last: dict[Key, tuple[int, bool, _Seen]]  # (position, present after it, as last seen)
    at_tip: dict[Key, _Seen]
    tip_errors: list[tuple[str, Problem]]
    warnings: list[tuple[int, str, Problem]]
    evaluated: set[int]
    dir_evaluations: int
    lineage_paths: dict[str, list[str]]
    missing: set[str] = field(default_factory=set)
    recalled: int = 0  # directory evaluations answered from an earlier identical one


class Walk:
    """One walk over all commits, evaluating the directories of partition ``part`` of ``parts``."""

    def __init__(self, inp: WalkInput, part: int = 0, parts: int = 1) -> None:
        self.inp = inp
        self.top = inp.top
        self.store = inp.store
        self.evaluator = inp.evaluator
        self.part = part
        self.parts = parts
        self.lineages = _Lineages()
        # path -> directories that ever depended on it (a conservative index; exact check after).
        self._dep_index: dict[str, set[str]] = {}
        self._states: dict[str, _State] = {}
        self._pending_children: dict[str, int] = {}
        self._pos = -1
        self._walked = {c.oid for c in inp.commits}
        # directory -> recorded question set -> (paths read, answers -> evaluation)
        self._memo: dict[str, dict[frozenset[str], tuple[frozenset[str], dict[tuple[object, ...], _Evaluation]]]]
        self._memo = {}
        self.result = PartResult({}, {}, {}, [], [], set(), 0, self.lineages.paths)

    def run(self) -> PartResult:
        inp = self.inp
        for c in inp.commits:
            for p in c.parents:
                self._pending_children[p] = self._pending_children.get(p, 0) + 1
        self._pending_children[inp.head] = self._pending_children.get(inp.head, 0) + 1  # keep the tip
        tick = inp.tick if self.part == 0 else silent
        for pos, commit in enumerate(inp.commits):
            self._pos = pos
            self._process(commit, boundary=commit.oid in inp.shallow)
            tick("commits walked", pos + 1, len(inp.commits))
        self._pos = -1
        tip = self._states.get(inp.head) or self._scratch(inp.head)
        self.result.at_tip = _collect(tip, tip.dirs)
        self.result.tip_errors = [(d, e) for d in sorted(tip.dirs) for e in tip.dirs[d].errors]
        self.result.missing = set(self.store.missing)
        return self.result

    # -- one commit ------------------------------------------------------------------------------

    def _process(self, commit: Commit, boundary: bool = False) -> _State:
        parents = [] if boundary else list(commit.parents)
        for p in parents:
            if p not in self._walked:
                # A parent outside the walk (--since): its state from scratch, now, in every
                # partition alike (so they all report its findings as present at the start).
                self._scratch(p)
        base = (self._states.get(parents[0]) or self._scratch(parents[0])) if parents else _EMPTY_STATE
        state, touched = self._apply(commit, base)
        if touched:
            self._emit(commit, parents, base, state, touched, boundary=boundary)
        self._states[commit.oid] = state
        for p in parents:
            # A state is kept only while a child still needs it (memory stays flat on long histories).
            left = self._pending_children.get(p, 0) - 1
            self._pending_children[p] = left
            if left <= 0:
                self._states.pop(p, None)
        return state

    def _scratch(self, oid: str) -> _State:
        """A commit outside the walk (the parent at a --since boundary, or HEAD when --since
        excludes it): its whole tree is evaluated once, and its findings are present at the start
        of the reported history, i.e. introduced at or before it."""
        cached = self._states.get(oid)
        if cached is not None:
            return cached
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%s"
        out = run_git(self.top, ["show", "-s", f"--format={fmt}", oid]).rstrip("\n").split("\x00")
        listing = run_git(self.top, ["ls-tree", "-r", "-z", "--full-tree", oid])
        changes = []
        for item in listing.split("\x00"):
            if not item:
                continue
            meta, path = item.split("\t", 1)
            mode, _kind, blob = meta.split()
            changes.append(Change("A", path, "", blob, int(mode, 8)))
        commit = Commit(out[0], out[1], (), out[3], out[4], out[5], out[6], tuple(changes))
        pos, self._pos = self._pos, -1
        try:
            return self._process(commit, boundary=True)
        finally:
            self._pos = pos

    def _apply(self, commit: Commit, base: _State) -> tuple[_State, set[str]]:
        files = base.files
        touched: set[str] = set()
        compose: dict[str, str] | None = None
        compose_dirs: dict[str, int] | None = None
        for ch in commit.changes:
            before = files
            if ch.status == "R":
                files = with_file(files, ch.old_path, None)
            files = with_file(files, ch.path, None if ch.status == "D" else (ch.mode, ch.blob))
            if self._dep_index:
                touched.update(self._dep_hits(ch, base, before, files))
            if is_compose_name(ch.path) or (ch.old_path and is_compose_name(ch.old_path)):
                if compose is None or compose_dirs is None:
                    compose, compose_dirs = dict(base.compose), dict(base.compose_dirs)
                self._compose_change(ch, compose, compose_dirs)
                touched.add(posixpath.dirname(ch.path))
                if ch.old_path:
                    touched.add(posixpath.dirname(ch.old_path))
        if self.parts > 1:
            touched = {d for d in touched if partition_of(d, self.parts) == self.part}
        new_compose = base.compose if compose is None else compose
        new_compose_dirs = base.compose_dirs if compose_dirs is None else compose_dirs
        if not touched:
            return _State(files, new_compose, new_compose_dirs, base.dirs), touched
        dirs = dict(base.dirs)
        state = _State(files, new_compose, new_compose_dirs, dirs)
        tree: GitTree | None = None
        ref = _ref(commit)
        for d in sorted(touched):
            if not state.compose_dirs.get(d):
                dirs.pop(d, None)
                continue
            if tree is None:
                tree = GitTree(self.store, files, self.top, commit.oid)
            dirs[d] = self._evaluate_dir(tree, d, ref, state, base.dirs.get(d))
        self.result.evaluated.add(self._pos)
        return state, touched

    def _compose_change(self, ch: Change, compose: dict[str, str], compose_dirs: dict[str, int]) -> None:
        def add(path: str, lineage: str) -> None:
            compose[path] = lineage
            d = posixpath.dirname(path)
            compose_dirs[d] = compose_dirs.get(d, 0) + 1

        def remove(path: str) -> str | None:
            lineage = compose.pop(path, None)
            if lineage is not None:
                d = posixpath.dirname(path)
                compose_dirs[d] -= 1
            return lineage

        if ch.status == "R":
            lineage = remove(ch.old_path)
            if is_compose_name(ch.path):
                add(ch.path, self.lineages.assign(ch.path, lineage))
        elif ch.status == "D":
            remove(ch.path)
        elif is_compose_name(ch.path) and ch.path not in compose:
            add(ch.path, self.lineages.assign(ch.path))

    def _dep_hits(self, ch: Change, base: _State, before: Dir, after: Dir) -> set[str]:
        """The directories whose recorded questions this change answers differently."""
        hits: set[str] = set()
        index = self._dep_index

        def hit(key: str, reads_only: bool = False) -> None:
            for d in index.get(key, ()):
                ds = base.dirs.get(d)
                if ds is not None and key in (ds.reads if reads_only else ds.deps):
                    hits.add(d)

        if ch.status == "M":
            # Same path, same kind, new content: only a reader of the old content cares.
            hit(ch.path, reads_only=True)
            return hits
        hit(ch.path)  # type change, addition, deletion: any question about the path
        for p in (ch.path, ch.old_path) if ch.old_path else (ch.path,):
            # The paths that appeared or disappeared: the file and any directory created or
            # emptied with it. Their parents' listings change; questions about them change.
            q = p
            while True:
                hit(q)
                parent = posixpath.dirname(q)
                hit(listing_key(parent))
                if not parent or exists(before, parent) == exists(after, parent):
                    break
                q = parent
        return hits

    def _evaluate_dir(
        self, tree: GitTree, d: str, ref: CommitRef, state: _State, before: _DirState | None
    ) -> _DirState:
        projects, problems, deps, reads = self._evaluate_or_recall(tree, d, ref)
        for p in deps:
            self._dep_index.setdefault(p, set()).add(d)
        findings: dict[Key, _Seen] = {}
        errors = list(problems)
        for proj in projects:
            # An anchor that is not a Compose-named file (COMPOSE_FILE in .env): its path is its id.
            lineage = state.compose.get(proj.anchor) or f"P:{proj.anchor}"
            errors.extend(proj.errors)
            if not proj.loaded:
                # A version that cannot be loaded says nothing about its findings: keep the
                # parent's (the error is reported) rather than claim this commit removed them.
                if before is not None:
                    for old_key, seen in before.findings.items():
                        if old_key[0] == lineage:
                            findings.setdefault(old_key, seen)
                continue
            for f in proj.findings:
                if self.inp.rules and f.rule not in self.inp.rules:
                    continue
                key: Key = (lineage, f.service, f.rule, f.subject)
                findings.setdefault(key, _Seen(f, proj.anchor))
        return _DirState(findings, deps, reads, tuple(errors))

    def _evaluate_or_recall(
        self, tree: GitTree, d: str, ref: CommitRef
    ) -> tuple[list[ProjectEval], list[Problem], frozenset[str], frozenset[str]]:
        """Evaluate a directory, unless an earlier evaluation asked the same questions and this
        commit gives the same answers (a revert, or a merge bringing in a branch's files): the
        evaluator is a function of those answers (and of the date, when a config can expire
        exceptions), so its result is reused. Merge-heavy histories evaluate each version once."""
        memo = self._memo.setdefault(d, {})
        prints: dict[frozenset[str], tuple[object, ...]] = {}
        for deps, (reads, results) in reversed(memo.items()):
            prints[deps] = self._fingerprint(tree, deps, ref)
            hit = results.get(prints[deps])
            if hit is not None:
                self.result.recalled += 1
                return hit[0], hit[1], deps, reads
        self.result.dir_evaluations += 1
        tree.record, tree.record_read = set(), set()
        directory = posixpath.join(self.top, d) if d else self.top
        projects, problems = self.evaluator.evaluate_dir(tree, directory, ref)
        deps, reads = frozenset(tree.record), frozenset(tree.record_read)
        tree.record = tree.record_read = None
        entry = memo.pop(deps, None) or (reads, {})
        fingerprint = prints.get(deps) or self._fingerprint(tree, deps, ref)
        entry[1][fingerprint] = (projects, problems)
        memo[deps] = entry  # most recently used last
        while len(memo) > _MEMO_DEP_SETS:
            del memo[next(iter(memo))]
        return projects, problems, deps, reads

    def _fingerprint(self, tree: GitTree, deps: frozenset[str], ref: CommitRef) -> tuple[object, ...]:
        answers = tuple(tree.answer(k) for k in sorted(deps))
        dated = any(
            posixpath.basename(k) in CONFIG_NAMES and a is not None for k, a in zip(sorted(deps), answers, strict=True)
        )
        return (*answers, ref.date[:10] if dated else "")

    # -- events ----------------------------------------------------------------------------------

    def _emit(
        self,
        commit: Commit,
        parents: list[str],
        base: _State,
        state: _State,
        touched: set[str],
        *,
        boundary: bool,
    ) -> None:
        """Events of one commit against its first parent. Additions are recorded as ``added``; the
        runner names them ``introduced``/``reintroduced`` once all partitions are merged."""
        ref = _ref(commit)
        before = _collect(base, touched)
        after = _collect(state, touched)
        others = [_collect(s, s.dirs) for s in (self._states.get(p) or self._scratch(p) for p in parents[1:])]
        for d in sorted(touched):
            self._errors_first_seen(commit, d, base.dirs.get(d), state.dirs.get(d))
        for key in sorted(before.keys() | after.keys()):
            old, new = before.get(key), after.get(key)
            kind = _change_kind(old, new)
            if kind is None:
                continue
            merged_from = ""
            for p, full in zip(parents[1:], others, strict=True):
                if _same_state(full.get(key), new):
                    merged_from = p
                    break
            seen = new or old
            assert seen is not None
            event = Event(kind, ref, seen.path, seen.finding, merged_from, boundary)
            self.result.events.setdefault(key, []).append((self._pos, event))
            mark = (self._pos, new is not None)
            previous = self.result.last.get(key)
            if previous is None or mark >= previous[:2]:
                self.result.last[key] = (*mark, seen)

    def _errors_first_seen(self, commit: Commit, d: str, old: _DirState | None, new: _DirState | None) -> None:
        """Load errors at past commits become warnings, once when they appear, not once per commit
        that still has them."""
        if new is None:
            return
        known = set(old.errors) if old else set()
        for p in new.errors:
            if p not in known:
                shown = Problem(p.path, f"at commit {commit.oid[:7]}: {p.message}", p.line, p.column)
                self.result.warnings.append((self._pos, d, shown))


def _collect(state: _State, dirs: Iterable[str]) -> dict[Key, _Seen]:
    out: dict[Key, _Seen] = {}
    for d in dirs:
        ds = state.dirs.get(d)
        if ds is not None:
            out.update(ds.findings)
    return out


def _change_kind(old: _Seen | None, new: _Seen | None) -> str | None:
    if old is None and new is not None:
        return "added"
    if old is not None and new is None:
        return "removed"
    if old is not None and new is not None:
        was, now = old.finding.suppressed is not None, new.finding.suppressed is not None
        if was != now:
            return "suppressed" if now else "unsuppressed"
    return None


def _same_state(a: _Seen | None, b: _Seen | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.finding.suppressed is None) == (b.finding.suppressed is None)


__all__ = ["Evaluator", "PartResult", "ProjectEval", "Walk", "WalkInput", "is_compose_name", "partition_of"]
