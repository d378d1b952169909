"""GitTree: the loader's Tree protocol over one commit, from the file index and the object store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from history_gitrepo import GitRepo

from leastcap.history.git import CatFile, log_commits
from leastcap.history.gittree import EMPTY, Dir, GitTree, ObjectStore, with_file
from leastcap.tree import TreeError


def index_at(repo: GitRepo) -> tuple[Dir, str]:
    files = EMPTY
    commits = log_commits(str(repo.path), ["HEAD"])
    for c in commits:
        for ch in c.changes:
            if ch.old_path:
                files = with_file(files, ch.old_path, None)
            files = with_file(files, ch.path, None if ch.status == "D" else (ch.mode, ch.blob))
    return files, commits[-1].oid


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    r.write("app/compose.yaml", "services: {}\n")
    r.write("app/conf/base.yml", "x: 1\n")
    r.write("big.yml", "#" * 100)
    os.symlink("app/compose.yaml", r.path / "link.yaml")
    os.symlink("conf", r.path / "app" / "conflink")
    os.symlink("../../outside.yml", r.path / "app" / "escape.yml")
    os.symlink("loop2", r.path / "loop1")
    os.symlink("loop1", r.path / "loop2")
    r.git("add", "-A")
    r.commit("files")
    return r


def test_tree_protocol(repo: GitRepo) -> None:
    files, head = index_at(repo)
    with CatFile(str(repo.path)) as cat:
        tree = GitTree(ObjectStore(cat, max_bytes=50), files, "/virtual/root", head)
        assert tree.list_dir("/virtual/root") == ["app", "big.yml", "link.yaml", "loop1", "loop2"]
        assert tree.list_dir("/virtual/root/app") == ["compose.yaml", "conf", "conflink", "escape.yml"]
        assert tree.list_dir("/virtual/root/app/conflink") == ["base.yml"]  # a symlinked directory
        assert tree.is_dir("/virtual/root/app") and not tree.is_file("/virtual/root/app")
        assert tree.is_file("/virtual/root/app/compose.yaml")
        assert tree.read_bytes("/virtual/root/link.yaml") == b"services: {}\n"
        assert tree.read_bytes("/virtual/root/app/conflink/base.yml") == b"x: 1\n"
        assert tree.read_bytes("/virtual/root/app/./conf/../compose.yaml") == b"services: {}\n"
        assert not tree.is_file("/virtual/root/app/escape.yml")  # points outside the repository
        assert not tree.is_file("/virtual/outside/compose.yaml")
        assert tree.display("/virtual/root/app/compose.yaml") == "app/compose.yaml"
        with pytest.raises(TreeError, match=r"^cannot read app/missing.yml: no such file in this commit$"):
            tree.read_bytes("/virtual/root/app/missing.yml")
        with pytest.raises(TreeError, match=r"^cannot read app: not a regular file$"):
            tree.read_bytes("/virtual/root/app")
        with pytest.raises(TreeError, match=r"^big.yml is 100 bytes, over the 50-byte limit"):
            tree.read_bytes("/virtual/root/big.yml")
        with pytest.raises(TreeError, match="symlink loop"):
            tree.read_bytes("/virtual/root/loop1")


def test_prefetch(repo: GitRepo) -> None:
    files, head = index_at(repo)
    big = repo.git("rev-parse", "HEAD:big.yml").strip()
    small = repo.git("rev-parse", "HEAD:app/compose.yaml").strip()
    with CatFile(str(repo.path)) as cat:
        store = ObjectStore(cat, max_bytes=50)
        store.prefetch([big, small, small])
        assert store.reads == 2
        tree = GitTree(store, files, "/r", head)
        assert tree.read_bytes("/r/app/compose.yaml") == b"services: {}\n"
        with pytest.raises(TreeError, match=r"^big.yml is 100 bytes, over the 50-byte limit"):
            tree.read_bytes("/r/big.yml")
        assert store.reads == 2  # both answered from the prefetch


def test_recording(repo: GitRepo) -> None:
    files, head = index_at(repo)
    with CatFile(str(repo.path)) as cat:
        tree = GitTree(ObjectStore(cat), files, "/r", head)
        tree.record, tree.record_read = set(), set()
        tree.is_file("/r/app/.env")
        tree.list_dir("/r/app")
        tree.read_bytes("/r/link.yaml")
        assert tree.record == {"app/.env", "app", "app/*", "link.yaml", "app/compose.yaml"}
        assert tree.record_read == {"link.yaml", "app/compose.yaml"}


def test_index_sharing_and_empty_directories() -> None:
    a = with_file(EMPTY, "x/y/compose.yaml", (0o100644, "1" * 40))
    b = with_file(a, "z/readme", (0o100644, "2" * 40))
    assert b.dirs["x"] is a.dirs["x"]  # untouched directories are shared, not copied
    c = with_file(b, "x/y/compose.yaml", None)
    assert sorted(c.dirs) == ["z"]  # git has no empty directories


def test_missing_object(repo: GitRepo) -> None:
    files, head = index_at(repo)
    oid = repo.git("rev-parse", "HEAD:app/conf/base.yml").strip()
    os.remove(repo.path / ".git" / "objects" / oid[:2] / oid[2:])
    with CatFile(str(repo.path)) as cat:
        store = ObjectStore(cat)
        tree = GitTree(store, files, "/r", head)
        with pytest.raises(TreeError, match=f"^cannot read app/conf/base.yml: object {oid} is missing"):
            tree.read_bytes("/r/app/conf/base.yml")
        assert store.missing == {oid}
        store.prefetch([oid])
        assert store.missing == {oid}


def test_topological_order_despite_clock_skew() -> None:
    from leastcap.history.git import Commit, topological

    def c(oid: str, *parents: str) -> Commit:
        return Commit(oid, "t", parents, "a", "e", "d", oid)

    # git's default order is by date: with a skewed clock a child can be listed before (older
    # than) its parent. Parents must still come first, and a merge after both its parents.
    newest_first = [c("merge", "main2", "side1"), c("main2", "root"), c("root"), c("side1", "root")]
    assert [x.oid for x in topological(newest_first)] == ["root", "side1", "main2", "merge"]
