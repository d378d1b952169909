"""Git plumbing: `git log --raw` for what changed, one long-lived `git cat-file` for objects.

Nothing here checks anything out or writes to the repository. Objects are read through a single
`git cat-file --batch-command` process (started once, fed one oid at a time), because starting a
git process per blob would cost more than parsing the blob.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

# A gitlink (submodule) entry: a commit in another repository, neither a file nor a directory here.
MODE_LINK = 0o120000
MODE_GITLINK = 0o160000


class GitError(Exception):
    """A git command failed (not a repository, a bad revision or date...)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One line of `git log --raw`: ``status`` is A, D, M, T, R (with ``old_path``) or C."""

    status: str
    path: str
    old_path: str = ""
    blob: str = ""
    mode: int = 0o100644  # the new mode (0 for a deletion)


@dataclass(frozen=True, slots=True)
class Commit:
    oid: str
    tree: str
    parents: tuple[str, ...]
    author: str
    email: str
    date: str  # author date, strict ISO 8601
    subject: str
    # Changes against the first parent (or the empty tree for a root commit).
    changes: tuple[Change, ...] = ()

    @property
    def short(self) -> str:
        return self.oid[:7]


def run_git(repo: str, args: Sequence[str], check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", repo, *args],
        capture_output=True,
        check=False,
        env=_git_env(),
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} failed"
        raise GitError(msg)
    return proc.stdout.decode("utf-8", "surrogateescape")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # A partial clone must report a missing blob, not go to the network for it.
    env["GIT_NO_LAZY_FETCH"] = "1"
    env.setdefault("LC_ALL", "C")
    return env


_FORMAT = "%x01%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%s%x00"


def log_commits(repo: str, revs: Sequence[str], since: str | None = None) -> list[Commit]:
    """Every commit reachable from ``revs``, parents before children, with its raw changes.

    Merges are diffed against their first parent (``--diff-merges=first-parent``): that is the
    change the merge made to the line of history it sits on. ``-M`` follows renames.

    git's own ordering options (``--topo-order --reverse``) make it hold back all output until the
    whole graph is read; instead the log streams in git's default order and is parsed while git
    is still computing diffs (two processes, two cores), then put in topological order here.
    """
    args = [
        # A user's config must not change the output we parse (signatures, colours).
        "-c",
        "log.showSignature=false",
        "log",
        "--no-color",
        "-z",
        "--raw",
        "--no-abbrev",
        "-M",
        "--root",
        "--diff-merges=first-parent",
        f"--format={_FORMAT}",
    ]
    if since:
        args.append(f"--since={since}")
    args.extend(revs)
    args.append("--")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(["git", "-C", repo, *args], stdout=subprocess.PIPE, stderr=errors, env=_git_env())
        assert proc.stdout is not None
        commits: list[Commit] = []
        pending: list[bytes] = []  # the current, incomplete commit record (never re-copied)
        while chunk := proc.stdout.read(1 << 16):
            cut = chunk.rfind(b"\x01")
            if cut < 0:
                pending.append(chunk)
                continue
            pending.append(chunk[:cut])
            commits.extend(parse_log(b"".join(pending)))
            pending = [chunk[cut:]]
        commits.extend(parse_log(b"".join(pending)))
        proc.stdout.close()
        if proc.wait() != 0:
            errors.seek(0)
            raise GitError(errors.read().decode("utf-8", "replace").strip() or "git log failed")
    return topological(commits)


def topological(newest_first: list[Commit]) -> list[Commit]:
    """Parents before children, oldest first, one line of history at a time (a depth-first walk
    from the oldest commit, first parents first), like ``git log --topo-order --reverse``."""
    by_oid = {c.oid: c for c in newest_first}
    done: set[str] = set()
    out: list[Commit] = []
    for start in reversed(newest_first):
        stack = [start]
        while stack:
            node = stack[-1]
            if node.oid in done:
                stack.pop()
                continue
            waiting = [by_oid[p] for p in node.parents if p in by_oid and p not in done]
            if waiting:
                stack.extend(reversed(waiting))
                continue
            done.add(node.oid)
            out.append(node)
            stack.pop()
    return out


def parse_log(out: bytes) -> list[Commit]:
    commits: list[Commit] = []
    for chunk in out.split(b"\x01"):
        if not chunk:
            continue
        fields = chunk.split(b"\x00", 7)
        oid, tree, parents, author, email, date, subject = (f.decode("utf-8", "replace") for f in fields[:7])
        rest = fields[7] if len(fields) > 7 else b""
        commits.append(
            Commit(
                oid=oid,
                tree=tree,
                parents=tuple(parents.split()),
                author=author,
                email=email,
                date=date,
                subject=subject,
                changes=_parse_raw(rest),
            )
        )
    return commits


def _parse_raw(raw: bytes) -> tuple[Change, ...]:
    parts = raw.lstrip(b"\x00\n").split(b"\x00")
    changes: list[Change] = []
    i = 0
    while i < len(parts):
        meta = parts[i]
        if not meta.startswith(b":"):
            i += 1
            continue
        fields = meta[1:].split(b" ")
        mode = int(fields[1], 8)
        new_blob = fields[3].decode()
        status = fields[4][:1].decode()
        if status in ("R", "C"):
            old, new = parts[i + 1], parts[i + 2]
            changes.append(Change(status, _path(new), _path(old), new_blob, mode))
            i += 3
        else:
            changes.append(Change(status, _path(parts[i + 1]), "", new_blob, mode))
            i += 2
    return tuple(changes)


def _path(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class ObjectMissing(KeyError):
    """An object the history refers to is not in the repository (shallow or partial clone)."""


class CatFile:
    """One `git cat-file --batch-command` process for the whole run.

    ``info`` answers type and size without the content, so a blob over the size limit is never
    sent through the pipe.
    """

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self._proc = subprocess.Popen(
            ["git", "-C", repo, "cat-file", "--batch-command"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_git_env(),
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin
        self._out = self._proc.stdout
        self.reads = 0

    def info(self, oid: str) -> tuple[str, int]:
        self._in.write(f"info {oid}\n".encode())
        self._in.flush()
        return self._header(oid)

    def contents(self, oid: str) -> tuple[str, bytes]:
        self._in.write(f"contents {oid}\n".encode())
        self._in.flush()
        kind, size = self._header(oid)
        data = self._read_exact(size + 1)[:-1]  # content, then a newline
        self.reads += 1
        return kind, data

    def _header(self, oid: str) -> tuple[str, int]:
        line = self._out.readline()
        if not line:
            raise GitError("git cat-file exited unexpectedly")
        parts = line.split()
        if len(parts) == 2 and parts[1] in (b"missing", b"ambiguous"):
            raise ObjectMissing(oid)
        return parts[1].decode(), int(parts[2])

    def _read_exact(self, size: int) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            chunk = self._out.read(remaining)
            if not chunk:
                raise GitError("git cat-file exited unexpectedly")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._in.close()
            self._proc.wait()
        self._out.close()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shallow_commits(repo: str) -> frozenset[str]:
    """The commits whose parents were cut off by a shallow clone (empty for a full clone)."""
    # --git-path resolves to the common directory, also from a linked worktree.
    path = run_git(repo, ["rev-parse", "--path-format=absolute", "--git-path", "shallow"]).strip()
    try:
        with open(path, encoding="ascii") as fh:
            return frozenset(line.strip() for line in fh if line.strip())
    except OSError:
        return frozenset()
