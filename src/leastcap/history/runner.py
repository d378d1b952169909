"""Run a history: read the log once, walk it (in parallel partitions on a multi-core machine),
merge the partitions' events into one timeline per finding identity.

Parallelism: evaluating a directory (load, rules, suppression) is most of the cost and
directories are independent, so the walk is split by directory (``walk.partition_of``). Each
partition is a forked process that follows every commit's file index (cheap) and evaluates only
its own directories; the parent walks partition 0 itself. Forking after the log is read and the
Compose blobs are prefetched shares both with the children for free. The merged result is the
same as a single walk's (tests compare them), with one documented difference: when a project
moves between directories of different partitions in the same commit that also changes whether
it is suppressed, that change of suppression is not reported as its own event.
"""

from __future__ import annotations

import os
import pickle
import time
import traceback
from dataclasses import dataclass, replace

from leastcap.history.git import CatFile, GitError, log_commits, run_git, shallow_commits
from leastcap.history.gittree import ObjectStore
from leastcap.history.model import Event, HistoryReport, Timeline
from leastcap.history.walk import Evaluator, Key, PartResult, Walk, WalkInput, _Seen, is_compose_name
from leastcap.model import Problem
from leastcap.progress import Tick, silent

# Below this many Compose-file versions a fork costs more than it saves.
_PARALLEL_MIN_VERSIONS = 300


@dataclass
class HistoryOptions:
    path: str = "."
    all_branches: bool = False
    since: str | None = None
    rules: frozenset[str] = frozenset()
    # Walk partitions (processes); None: one per core (at most 4) when the history is big enough.
    jobs: int | None = None


def run(options: HistoryOptions, evaluator: Evaluator, tick: Tick = silent) -> HistoryReport:
    # PATH names the repository (any path inside its work tree, a file included).
    where = os.path.dirname(os.path.abspath(options.path)) if os.path.isfile(options.path) else options.path
    try:
        top = run_git(where, ["rev-parse", "--show-toplevel"]).strip()
    except (GitError, OSError) as exc:
        raise GitError(f"{options.path}: not inside a git work tree ({exc})") from None
    try:
        head = run_git(top, ["rev-parse", "--verify", "HEAD^{commit}"]).strip()
    except GitError:
        raise GitError(f"{top}: the repository has no commits") from None
    if options.since is not None:
        _check_date(top, options.since)
    revs = ["HEAD", "--branches", "--remotes", "--tags"] if options.all_branches else ["HEAD"]
    commits = log_commits(top, revs, options.since)
    shallow = shallow_commits(top)
    with CatFile(top) as catfile:
        store = ObjectStore(catfile)
        # Every version of every Compose-named file, in one pipelined read.
        versions = [ch.blob for c in commits for ch in c.changes if ch.status != "D" and is_compose_name(ch.path)]
        store.prefetch(versions, tick=tick)
        inp = WalkInput(top, head, commits, shallow, options.rules, evaluator, store, tick)
        jobs = options.jobs
        if jobs is None:
            jobs = min(os.cpu_count() or 1, 4) if len(versions) >= _PARALLEL_MIN_VERSIONS else 1
        parts = _walk_parallel(inp, jobs) if jobs > 1 and hasattr(os, "fork") else [Walk(inp).run()]
        missing = set(store.missing)
    for part in parts:
        missing |= part.missing
    return _report(inp, parts, revs, options.since, missing)


def _check_date(top: str, since: str) -> None:
    """git reads any unknown text as "now" (an empty history, silently): refuse it instead."""
    out = run_git(top, ["rev-parse", f"--since={since}"]).strip()
    try:
        when = int(out.rsplit("=", 1)[1])
    except (IndexError, ValueError):
        raise GitError(f"--since {since!r}: not a date git understands") from None
    if abs(when - time.time()) < 5 and since.strip().lower() != "now":
        raise GitError(f"--since {since!r}: not a date git understands (try 2024-01-31 or '2 weeks ago')")


def _walk_parallel(inp: WalkInput, jobs: int) -> list[PartResult]:
    children: list[tuple[int, int]] = []
    for part in range(1, jobs):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: walk one partition, send the result, never return
            os.close(read_fd)
            code = 0
            try:
                # The parent's cat-file pipe is the parent's: a child reads through its own.
                inp.store.catfile = CatFile(inp.top)
                try:
                    payload = pickle.dumps(("ok", Walk(inp, part, jobs).run()))
                finally:
                    inp.store.catfile.close()
            except BaseException:
                payload = pickle.dumps(("error", traceback.format_exc()))
                code = 1
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
            os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    results = [Walk(inp, 0, jobs).run()]
    failures: list[str] = []
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as fh:
            data = fh.read()
        os.waitpid(pid, 0)
        status, value = pickle.loads(data) if data else ("error", "the worker died without a result")
        if status == "ok" and isinstance(value, PartResult):
            results.append(value)
        else:
            failures.append(str(value))
    if failures:
        raise RuntimeError("a history worker failed:\n" + "\n".join(failures))
    return results


def _merge_events(parts: list[PartResult]) -> dict[Key, list[Event]]:
    """One event list per key in walk order, additions named, cross-partition moves cancelled."""
    merged: dict[Key, list[Event]] = {}
    keys = sorted({k for part in parts for k in part.events})
    for key in keys:
        items = [
            (pos, i, seq, ev) for i, part in enumerate(parts) for seq, (pos, ev) in enumerate(part.events.get(key, ()))
        ]
        items.sort(key=lambda item: (item[0], item[1], item[2]))
        events: list[tuple[int, Event]] = [(pos, ev) for pos, _i, _seq, ev in items]
        events = _cancel_moves(events)
        seen = False
        out: list[Event] = []
        for _pos, ev in events:
            if ev.kind == "added":
                kind = "reintroduced" if seen else "introduced"
                out.append(replace(ev, kind=kind, boundary=ev.boundary and kind == "introduced"))
            else:
                out.append(replace(ev, boundary=False) if ev.boundary else ev)
            seen = True
        if out:
            merged[key] = out
    return merged


def _cancel_moves(events: list[tuple[int, Event]]) -> list[tuple[int, Event]]:
    """A removal and an addition at the same commit come from two partitions: the project moved
    between their directories. Net, nothing came or went (unless its suppression changed)."""
    out: list[tuple[int, Event]] = []
    i = 0
    while i < len(events):
        pos, ev = events[i]
        if i + 1 < len(events) and events[i + 1][0] == pos and {ev.kind, events[i + 1][1].kind} == {"added", "removed"}:
            added = ev if ev.kind == "added" else events[i + 1][1]
            removed = events[i + 1][1] if ev.kind == "added" else ev
            was = removed.finding is not None and removed.finding.suppressed is not None
            now = added.finding is not None and added.finding.suppressed is not None
            if was != now:
                out.append((pos, replace(added, kind="suppressed" if now else "unsuppressed")))
            i += 2
            continue
        out.append((pos, ev))
        i += 1
    return out


def _report(
    inp: WalkInput, parts: list[PartResult], revs: list[str], since: str | None, missing: set[str]
) -> HistoryReport:
    events = _merge_events(parts)
    at_tip = {k: v for part in parts for k, v in part.at_tip.items()}
    last: dict[Key, tuple[int, bool, _Seen]] = {}
    for part in parts:
        for key, (pos, present, seen) in part.last.items():
            if key not in last or (pos, present) >= last[key][:2]:
                last[key] = (pos, present, seen)
    lineage_paths = parts[0].lineage_paths
    timelines: list[Timeline] = []
    for key, evs in events.items():
        lineage, service, rule, detail = key
        current = at_tip.get(key)
        latest = current or last[key][2]
        timelines.append(
            Timeline(
                rule=rule,
                service=service,
                path=latest.path,
                paths=tuple(lineage_paths.get(lineage, [latest.path])),
                detail=detail,
                events=tuple(evs),
                present_at_tip=current is not None,
                latest=latest.finding,
            )
        )
    timelines.sort(key=lambda t: (t.path, t.service, t.rule, t.detail))
    warnings: list[Problem] = []
    if inp.shallow:
        warnings.append(
            Problem(
                ".",
                "shallow clone: history before "
                + ", ".join(sorted(s[:7] for s in inp.shallow))
                + " is not available; findings present there are reported as introduced at or before that commit",
            )
        )
    warnings.extend(p for _pos, _d, p in sorted((w for part in parts for w in part.warnings), key=lambda w: w[:2]))
    if missing:
        warnings.append(Problem(".", f"{len(missing)} object(s) referenced by the history are missing"))
    errors = tuple(p for _d, p in sorted((e for part in parts for e in part.tip_errors), key=lambda e: e[0]))
    every_path = sorted({p for paths in lineage_paths.values() for p in paths})
    evaluated = {pos for part in parts for pos in part.evaluated if pos >= 0}
    return HistoryReport(
        repo=inp.top,
        revs=tuple(revs),
        tip=inp.head,
        timelines=tuple(timelines),
        commits_walked=len(inp.commits),
        commits_evaluated=len(evaluated),
        compose_paths=tuple(p for p in every_path if is_compose_name(p)),
        errors=errors,
        warnings=tuple(warnings),
        shallow=bool(inp.shallow),
        since=since,
        stats=(
            ("commits_walked", len(inp.commits)),
            ("commits_evaluated", len(evaluated)),
            ("directory_evaluations", sum(part.dir_evaluations for part in parts)),
            ("directory_evaluations_recalled", sum(part.recalled for part in parts)),
            ("partitions", len(parts)),
        ),
    )
