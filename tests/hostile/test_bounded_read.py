"""The one bounded read of a file leastcap did not write (``tree.read_regular_file``) and the words
each of its callers gives a refusal (the Compose tree, JSON inputs; .leastcap.yml's are in
test_config_and_output.py)."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import pytest
from hostilekit import run_cli

from leastcap.jsoninput import InputError, read_text
from leastcap.tree import DiskTree, ReadRefused, TreeError, read_regular_file

# Its st_size is 0 and it holds more than 64 bytes: the size check before the read cannot see it.
GROWING = "/proc/self/status"


def refusal(path: str | Path, limit: int) -> tuple[str, str, int, int | None]:
    with pytest.raises(ReadRefused) as caught:
        read_regular_file(path, limit)
    return caught.value.kind, caught.value.reason, caught.value.size, caught.value.errno


def test_reads_a_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert read_regular_file(tmp_path / "f", 10) == b"x" * 10
    assert refusal(tmp_path / "f", 9) == ("size", "10 bytes, over the 9-byte limit", 10, None)


def test_refusals_never_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop", tmp_path / "loop")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(refusal(tmp_path / "fifo", 100)), daemon=True)
    worker.start()
    worker.join(10)
    assert outcome == [("type", "not a regular file", 0, None)]
    assert refusal(tmp_path, 100) == ("type", "not a regular file", 0, None)
    assert refusal("/dev/zero", 100) == ("type", "not a regular file", 0, None)
    assert refusal(tmp_path / "loop", 100) == ("open", "Too many levels of symbolic links", 0, errno.ELOOP)
    assert refusal(tmp_path / "missing", 100) == ("open", "No such file or directory", 0, errno.ENOENT)
    assert refusal(GROWING, 64) == ("grew", "grew past the 64-byte limit while read", 0, None)


def test_each_caller_words_a_file_that_grows_past_its_limit(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match=r"^proc/self/status grew past the 64-byte limit while read$") as tree:
        DiskTree("/", max_bytes=64).read_bytes(GROWING)
    assert tree.value.errno is None
    with pytest.raises(InputError, match=r"^baseline st grew past the 64-byte limit while read$"):
        read_text(GROWING, "st", "baseline", 64)


def test_a_directory_given_as_a_json_input_is_an_error_not_a_crash(tmp_path: Path) -> None:
    # io's fdopen refused the directory with IsADirectoryError before the type check: a traceback.
    (tmp_path / "bl.json").mkdir()
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n")
    done = run_cli(tmp_path, "scan", "--baseline", "bl.json", "--format", "json", ".")
    assert (done.returncode, json.loads(done.stdout)["errors"]) == (
        2,
        [{"path": "bl.json", "line": 0, "message": "cannot read baseline bl.json: not a regular file"}],
    )


def test_the_tree_keeps_the_systems_errno(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match=r"^cannot read missing.yml: No such file or directory$") as caught:
        DiskTree(str(tmp_path)).read_bytes(str(tmp_path / "missing.yml"))
    assert caught.value.errno == errno.ENOENT
