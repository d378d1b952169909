"""A ``Tree`` over one commit, read straight from the object database.

Paths are absolute under a virtual root (the repository's top-level directory), so the loader
resolves ``extends``, ``include`` and ``.env`` exactly as it would on disk. Tree objects and blobs
are cached by object id in an ``ObjectStore`` shared by every commit of a run: consecutive commits
share almost all of their subtrees, so walking a path in a new commit mostly hits the cache.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from leastcap.history.git import MODE_GITLINK, MODE_LINK, MODE_TREE, CatFile, ObjectMissing, parse_tree
from leastcap.tree import MAX_FILE_BYTES, TreeError

Entry = tuple[int, str]  # (mode, oid)
_MAX_SYMLINKS = 40


class ObjectStore:
    """Object reads for a whole run: one cat-file process, trees parsed once, blobs read once."""

    def __init__(self, catfile: CatFile, oid_len: int = 20, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.catfile = catfile
        self.oid_len = oid_len
        self.max_bytes = max_bytes
        self._trees: dict[str, dict[str, Entry]] = {}
        self._blobs: dict[str, bytes] = {}
        self.missing: set[str] = set()

    def tree(self, oid: str) -> dict[str, Entry]:
        entries = self._trees.get(oid)
        if entries is None:
            try:
                kind, data = self.catfile.contents(oid)
            except ObjectMissing:
                self.missing.add(oid)
                raise
            if kind != "tree":
                raise ObjectMissing(oid)
            entries = parse_tree(data, self.oid_len)
            self._trees[oid] = entries
        return entries

    def blob(self, oid: str, display: Callable[[], str]) -> bytes:
        data = self._blobs.get(oid)
        if data is not None:
            return data
        try:
            _kind, size = self.catfile.info(oid)
            if size > self.max_bytes:
                raise TreeError(
                    f"{display()} is {size} bytes, over the {self.max_bytes}-byte limit for a Compose "
                    "file; not read"
                )
            _kind, data = self.catfile.contents(oid)
        except ObjectMissing:
            self.missing.add(oid)
            raise TreeError(f"cannot read {display()}: object {oid} is missing from the repository") from None
        self._blobs[oid] = data
        return data


class GitTree:
    """The ``Tree`` protocol for one commit.

    ``display(path)`` is ``<repo-relative path>@<short commit>`` (``compose.yaml@abc1234``): errors
    and warnings then say which version of the file they are about. ``relpath`` gives the plain
    repository-relative path, which is what history findings carry as their location.
    """

    def __init__(self, store: ObjectStore, tree_oid: str, root: str, commit: str) -> None:
        self.store = store
        self.tree_oid = tree_oid
        self.root = root.rstrip("/") or "/"
        self.commit = commit
        self.short = commit[:7]
        # When set, every repository-relative path asked about is added here: what the caller's
        # result depends on (files read, probed and absent, directories listed, symlink targets).
        self.record: set[str] | None = None

    # -- path handling -------------------------------------------------------------------------

    def relpath(self, path: str) -> str | None:
        """The repository-relative form of an absolute path, or None when outside the repository."""
        norm = posixpath.normpath(path)
        if norm == self.root:
            return ""
        prefix = self.root if self.root.endswith("/") else self.root + "/"
        if not norm.startswith(prefix):
            return None
        return norm[len(prefix) :]

    def _lookup(self, path: str, follow_last: bool = True) -> Entry | None:
        rel = self.relpath(path)
        if rel is None:
            return None
        return self._walk(rel, follow_last, 0)

    def _walk(self, rel: str, follow_last: bool, hops: int) -> Entry | None:
        if self.record is not None:
            self.record.add(rel)
        entry: Entry = (MODE_TREE, self.tree_oid)
        parts = [p for p in rel.split("/") if p] if rel else []
        done: list[str] = []
        for i, name in enumerate(parts):
            if entry[0] != MODE_TREE:
                return None
            try:
                children = self.store.tree(entry[1])
            except ObjectMissing:
                return None
            found = children.get(name)
            if found is None:
                return None
            last = i == len(parts) - 1
            if found[0] == MODE_LINK and (follow_last or not last):
                # A symlink inside the repository: resolve its target against its own directory.
                if hops >= _MAX_SYMLINKS:
                    raise TreeError(f"cannot read {self.display(self._abs('/'.join(parts)))}: symlink loop")
                target = self.store.blob(found[1], lambda: self.display(self._abs("/".join(parts)))).decode(
                    "utf-8", "surrogateescape"
                )
                if posixpath.isabs(target):
                    return None  # points outside the repository: not part of this commit
                joined = posixpath.normpath(posixpath.join("/".join(done), target))
                if joined == ".." or joined.startswith("../"):
                    return None
                rest = "/".join(parts[i + 1 :])
                new_rel = "" if joined == "." else joined
                if rest:
                    new_rel = posixpath.join(new_rel, rest) if new_rel else rest
                return self._walk(new_rel, follow_last, hops + 1)
            entry = found
            done.append(name)
        return entry

    def _abs(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    # -- the Tree protocol ---------------------------------------------------------------------

    def read_bytes(self, path: str) -> bytes:
        entry = self._lookup(path)
        if entry is None:
            raise TreeError(f"cannot read {self.display(path)}: no such file in this commit")
        mode, oid = entry
        if mode in (MODE_TREE, MODE_GITLINK):
            raise TreeError(f"cannot read {self.display(path)}: not a regular file")
        return self.store.blob(oid, lambda: self.display(path))

    def is_file(self, path: str) -> bool:
        entry = self._lookup(path)
        return entry is not None and entry[0] not in (MODE_TREE, MODE_GITLINK, MODE_LINK)

    def is_dir(self, path: str) -> bool:
        entry = self._lookup(path)
        return entry is not None and entry[0] == MODE_TREE

    def list_dir(self, path: str) -> list[str]:
        entry = self._lookup(path)
        if entry is None or entry[0] != MODE_TREE:
            return []
        try:
            return sorted(self.store.tree(entry[1]))
        except ObjectMissing:
            return []

    def display(self, path: str) -> str:
        rel = self.relpath(path)
        shown = path if rel is None else (rel or ".")
        return f"{shown}@{self.short}"

    def blob_id(self, path: str) -> str | None:
        """The blob id at ``path`` (following symlinks), for dependency tracking."""
        entry = self._lookup(path)
        return None if entry is None else entry[1]
