"""Walk the commit graph once, re-evaluating only the Compose projects a commit can have changed.

State per commit is copy-on-write: a commit that touches nothing a project depends on shares its
parent's state object, so 20,000 unrelated commits cost one dictionary lookup each.

Unit of evaluation: one directory that holds Compose files (discovery plus every project found
there). What a directory depends on is recorded, not guessed: the ``GitTree`` logs every path the
discovery, the loader and the config lookup asked about (files read, files probed and not found,
directories listed). A later commit re-evaluates the directory exactly when it adds, deletes or
modifies one of those paths, which covers override files, ``.env``, ``extends``/``include``
targets and ``.leastcap.yml``, and follows the dependency set as it changes between commits.

Merges: every commit reachable from the chosen refs is walked (the full graph, parents before
children). A commit's events are its differences from its FIRST parent. When the merge result for
a finding equals another parent's, the event carries ``merged_from``: the change was authored on
the merged branch, where it has its own event.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from leastcap.history.git import (
    CatFile,
    Change,
    Commit,
    GitError,
    log_commits,
    run_git,
    shallow_commits,
)
from leastcap.history.gittree import GitTree, ObjectStore
from leastcap.history.model import CommitRef, Event, HistoryReport, Timeline
from leastcap.model import Finding, Location, Problem

Key = tuple[int, str, str, str]  # (anchor file lineage, service, rule, detail)


def is_compose_name(path: str) -> bool:
    """The scan's naming rule: ``compose*.y*ml`` and ``docker-compose*.y*ml``."""
    name = path.rsplit("/", 1)[-1]
    if not (name.startswith("compose") or name.startswith("docker-compose")):
        return False
    return name.endswith((".yml", ".yaml"))


@dataclass(frozen=True, slots=True)
class ProjectEval:
    """One project in one commit, as the evaluator saw it (display paths are ``path@commit``)."""

    anchor: str  # repository-relative path of the file that names the project
    findings: tuple[Finding, ...]
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()


class Evaluator(Protocol):
    def evaluate_dir(
        self, tree: GitTree, directory: str, commit: CommitRef
    ) -> tuple[list[ProjectEval], list[Problem]]:
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
    deps: frozenset[str]
    # Load errors: (without the commit suffix, for comparing commits; as displayed at the commit).
    errors: tuple[tuple[Problem, Problem], ...]


@dataclass(slots=True)
class _State:
    compose: dict[str, int]  # compose-named path -> file lineage
    dirs: dict[str, _DirState]
    boundary: bool = False

    def copy(self) -> _State:
        return _State(dict(self.compose), dict(self.dirs))


@dataclass
class _Stats:
    walked: int = 0
    evaluated_commits: int = 0
    dir_evaluations: int = 0


@dataclass
class HistoryOptions:
    path: str = "."
    all_branches: bool = False
    since: str | None = None
    rules: frozenset[str] = frozenset()


@dataclass
class _Lineages:
    by_path: dict[str, int] = field(default_factory=dict)
    paths: dict[int, list[str]] = field(default_factory=dict)

    def assign(self, path: str, inherit: int | None = None) -> int:
        lid = inherit if inherit is not None else self.by_path.get(path)
        if lid is None:
            lid = len(self.paths)
            self.paths[lid] = []
        self.by_path[path] = lid
        if path not in self.paths[lid]:
            self.paths[lid].append(path)
        return lid


def _ref(c: Commit) -> CommitRef:
    return CommitRef(c.oid, c.author, c.email, c.date, c.subject)


def _parents(rel: str) -> Iterable[str]:
    while rel:
        rel = posixpath.dirname(rel)
        yield rel


class HistoryWalker:
    def __init__(self, options: HistoryOptions, evaluator: Evaluator) -> None:
        self.options = options
        self.evaluator = evaluator
        self.stats = _Stats()
        self.lineages = _Lineages()
        # path -> directories that ever depended on it (a conservative index; exact check after).
        self._dep_index: dict[str, set[str]] = {}
        self._states: dict[str, _State] = {}
        self._seen_keys: set[Key] = set()
        self._events: dict[Key, list[Event]] = {}
        self._last: dict[Key, _Seen] = {}
        self._warnings: list[Problem] = []
        self._boundary_done: set[str] = set()

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> HistoryReport:
        opts = self.options
        try:
            self.top = run_git(opts.path, ["rev-parse", "--show-toplevel"]).strip()
        except (GitError, OSError) as exc:
            raise GitError(f"{opts.path}: not inside a git repository ({exc})") from None
        try:
            head = run_git(self.top, ["rev-parse", "--verify", "HEAD^{commit}"]).strip()
        except GitError:
            raise GitError(f"{self.top}: the repository has no commits") from None
        revs = ["HEAD", "--branches", "--remotes", "--tags"] if opts.all_branches else ["HEAD"]
        commits = log_commits(self.top, revs, opts.since)
        shallow = shallow_commits(self.top)
        if shallow:
            self._warnings.append(
                Problem(
                    ".",
                    "shallow clone: history before "
                    + ", ".join(sorted(s[:7] for s in shallow))
                    + " is not available; findings present there are reported as introduced at or "
                    "before that commit",
                )
            )
        oid_len = len(head) // 2
        with CatFile(self.top) as catfile:
            self.store = ObjectStore(catfile, oid_len)
            self._walked = {c.oid for c in commits}
            for commit in commits:
                self._process(commit, boundary=commit.oid in shallow)
            tip_state = self._states.get(head) or self._scratch(head)
            if self.store.missing:
                self._warnings.append(
                    Problem(".", f"{len(self.store.missing)} object(s) referenced by the history are missing")
                )
        return self._report(head, tip_state, commits, shallow, revs)

    # -- one commit ------------------------------------------------------------------------------

    def _process(self, commit: Commit, boundary: bool = False) -> _State:
        self.stats.walked += 1
        parents = [] if boundary else list(commit.parents)
        base = self._parent_state(parents[0]) if parents else _State({}, {})
        state, touched = self._apply(commit, base)
        self._states[commit.oid] = state
        if touched:
            self._emit(commit, parents, base, state, touched, boundary=boundary)
        return state

    def _parent_state(self, parent: str) -> _State:
        state = self._states.get(parent)
        if state is None:
            # Outside the walked range (--since): evaluate that commit's whole tree once.
            state = self._scratch(parent)
        return state

    def _scratch(self, oid: str) -> _State:
        """A commit not walked (the parent at a --since boundary): its findings are present at
        the start of the reported history, i.e. introduced at or before it."""
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
            changes.append(Change("A", path, "", meta.split()[2]))
        commit = Commit(out[0], out[1], (), out[3], out[4], out[5], out[6], tuple(changes))
        return self._process(commit, boundary=True)

    def _apply(self, commit: Commit, base: _State) -> tuple[_State, set[str]]:
        touched: set[str] = set()
        compose_changes: list[Change] = []
        for ch in commit.changes:
            if is_compose_name(ch.path) or (ch.old_path and is_compose_name(ch.old_path)):
                compose_changes.append(ch)
            touched.update(self._dep_hits(ch, base))
        if not compose_changes and not touched:
            return base, touched
        state = base.copy()
        for ch in compose_changes:
            self._compose_change(ch, state)
            touched.add(posixpath.dirname(ch.path))
            if ch.old_path:
                touched.add(posixpath.dirname(ch.old_path))
        compose_dirs = {posixpath.dirname(p) for p in state.compose}
        tree: GitTree | None = None
        ref = _ref(commit)
        for d in sorted(touched):
            if d not in compose_dirs:
                state.dirs.pop(d, None)
                continue
            if tree is None:
                tree = GitTree(self.store, commit.tree, self.top, commit.oid)
            state.dirs[d] = self._evaluate_dir(tree, d, ref, state)
        self.stats.evaluated_commits += 1
        return state, touched

    def _compose_change(self, ch: Change, state: _State) -> None:
        if ch.status == "R" and ch.old_path in state.compose:
            lineage = state.compose.pop(ch.old_path)
            if is_compose_name(ch.path):
                state.compose[ch.path] = self.lineages.assign(ch.path, lineage)
        elif ch.status == "D":
            state.compose.pop(ch.path, None)
        elif is_compose_name(ch.path) and ch.path not in state.compose:
            state.compose[ch.path] = self.lineages.assign(ch.path)

    def _dep_hits(self, ch: Change, base: _State) -> set[str]:
        hits: set[str] = set()
        index = self._dep_index
        if not index:
            return hits
        paths = [ch.path, ch.old_path] if ch.old_path else [ch.path]
        for p in paths:
            candidates = [p]
            if ch.status != "M":
                # An added or deleted path changes listings and is_dir answers of its ancestors.
                candidates.extend(_parents(p))
            for c in candidates:
                for d in index.get(c, ()):
                    ds = base.dirs.get(d)
                    if ds is not None and c in ds.deps:
                        hits.add(d)
        return hits

    def _evaluate_dir(self, tree: GitTree, d: str, ref: CommitRef, state: _State) -> _DirState:
        self.stats.dir_evaluations += 1
        tree.record = set()
        directory = posixpath.join(self.top, d) if d else self.top
        projects, problems = self.evaluator.evaluate_dir(tree, directory, ref)
        deps = frozenset(tree.record)
        tree.record = None
        for p in deps:
            self._dep_index.setdefault(p, set()).add(d)
        suffix = f"@{tree.short}"
        findings: dict[Key, _Seen] = {}
        errors = list(problems)
        for proj in projects:
            lineage = state.compose.get(proj.anchor)
            if lineage is None:
                lineage = self.lineages.assign(proj.anchor)
            for f in proj.findings:
                if self.options.rules and f.rule not in self.options.rules:
                    continue
                nf = _strip_finding(f, suffix)
                key: Key = (lineage, nf.service, nf.rule, _detail(nf))
                findings.setdefault(key, _Seen(nf, proj.anchor))
            errors.extend(proj.errors)
        pairs = tuple((_strip_problem(p, suffix), p) for p in errors)
        return _DirState(findings, deps, pairs)

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
        ref = _ref(commit)
        before = _collect(base, touched)
        after = _collect(state, touched)
        others = [self._full(self._states.get(p) or self._scratch(p)) for p in parents[1:]]
        for d in sorted(touched):
            self._problems_first_seen(base.dirs.get(d), state.dirs.get(d))
        for key in sorted(before.keys() | after.keys(), key=_sort_key):
            old, new = before.get(key), after.get(key)
            kind = _change_kind(old, new)
            if kind is None:
                continue
            if kind == "introduced" and key in self._seen_keys:
                kind = "reintroduced"
            merged_from = ""
            for p, full in zip(parents[1:], others, strict=True):
                other = full.get(key)
                if _same_state(other, new):
                    merged_from = p
                    break
            seen = new or old
            assert seen is not None
            self._seen_keys.add(key)
            self._events.setdefault(key, []).append(
                Event(
                    kind,
                    ref,
                    seen.path,
                    new.finding if new else None,
                    merged_from,
                    boundary and kind == "introduced",
                )
            )
            self._last[key] = seen

    def _problems_first_seen(self, old: _DirState | None, new: _DirState | None) -> None:
        """Load errors at past commits become warnings, once when they first appear, not once per
        commit that still has them."""
        if new is None:
            return
        known = {norm for norm, _shown in old.errors} if old else set()
        for norm, shown in new.errors:
            if norm not in known:
                self._warnings.append(shown)

    def _full(self, state: _State) -> dict[Key, _Seen]:
        return _collect(state, state.dirs.keys())

    # -- the report ------------------------------------------------------------------------------

    def _report(
        self, head: str, tip: _State, commits: list[Commit], shallow: frozenset[str], revs: list[str]
    ) -> HistoryReport:
        at_tip = self._full(tip)
        timelines: list[Timeline] = []
        for key, events in self._events.items():
            lineage, service, rule, detail = key
            current = at_tip.get(key)
            latest = current or self._last[key]
            paths = tuple(self.lineages.paths.get(lineage, [latest.path]))
            timelines.append(
                Timeline(
                    rule=rule,
                    service=service,
                    path=latest.path,
                    paths=paths,
                    detail=detail,
                    events=tuple(events),
                    present_at_tip=current is not None,
                    latest=latest.finding,
                )
            )
        timelines.sort(key=lambda t: (t.path, t.service, t.rule, t.detail))
        errors = tuple(shown for d in sorted(tip.dirs) for _norm, shown in tip.dirs[d].errors)
        every_path = sorted({p for paths in self.lineages.paths.values() for p in paths})
        return HistoryReport(
            repo=self.top,
            revs=tuple(revs),
            tip=head,
            timelines=tuple(timelines),
            commits_walked=len(commits),
            commits_evaluated=self.stats.evaluated_commits,
            compose_paths=tuple(p for p in every_path if is_compose_name(p)),
            errors=errors,
            warnings=tuple(self._warnings),
            shallow=bool(shallow),
            since=self.options.since,
            stats=(
                ("commits_walked", self.stats.walked),
                ("commits_evaluated", self.stats.evaluated_commits),
                ("directory_evaluations", self.stats.dir_evaluations),
                ("objects_read", self.store.catfile.reads),
            ),
        )


def _collect(state: _State, dirs: Iterable[str]) -> dict[Key, _Seen]:
    out: dict[Key, _Seen] = {}
    for d in dirs:
        ds = state.dirs.get(d)
        if ds is not None:
            out.update(ds.findings)
    return out


def _change_kind(old: _Seen | None, new: _Seen | None) -> str | None:
    if old is None and new is not None:
        return "introduced"
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


def _sort_key(key: Key) -> tuple[int, str, str, str]:
    return key


def _detail(f: Finding) -> str:
    """The line-free part of a finding's identity: the rule's facts when it gives any (the
    capability, the mount source...), else the head of its message (up to the first ": "), which
    names what was found without the explanation, variable or profile context that follows."""
    if f.facts:
        return ";".join(f"{k}={v}" for k, v in sorted(f.facts))
    return f.message.split(": ", 1)[0]


def _strip(text: str, suffix: str) -> str:
    return text.replace(suffix, "")


def _strip_loc(loc: Location, suffix: str) -> Location:
    return Location(_strip(loc.path, suffix), loc.line, loc.column, _strip(loc.note, suffix))


def _strip_finding(f: Finding, suffix: str) -> Finding:
    """History findings carry the repository-relative path; the commit is a separate field."""
    sup = f.suppressed
    if sup is not None and sup.location is not None:
        sup = replace(sup, location=_strip_loc(sup.location, suffix))
    return replace(
        f,
        message=_strip(f.message, suffix),
        location=_strip_loc(f.location, suffix),
        related=tuple(_strip_loc(r, suffix) for r in f.related),
        suppressed=sup,
        facts=tuple((k, _strip(v, suffix)) for k, v in f.facts),
    )


def _strip_problem(p: Problem, suffix: str) -> Problem:
    return Problem(_strip(p.path, suffix), _strip(p.message, suffix), p.line, p.column)


__all__ = [
    "Evaluator",
    "HistoryOptions",
    "HistoryWalker",
    "ProjectEval",
    "is_compose_name",
]
