"""Walks that meet loops, paths leastcap may not read, and paths that hold nothing to scan.

Every case runs the real CLI in a bounded subprocess (hostilekit): a walker that followed a
directory symlink loop used to grow paths until memory ran out, and a committed symlink loop was
a traceback in `history`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostilekit import findings, run_cli, write

from support.components import require

PRIVILEGED = "services:\n  web:\n    image: x\n    privileged: true\n"
SCRIPT = "#!/bin/sh\ndocker run --privileged busybox\n"
SCRIPT_FINDINGS = [
    {"rule": "no-new-privileges", "path": "run.sh", "line": 2, "column": 1},
    {"rule": "privileged", "path": "run.sh", "line": 2, "column": 12},
]


def test_script_walker_enters_each_directory_once_and_never_leaves_the_root(tmp_path: Path) -> None:
    write(tmp_path / "run.sh", SCRIPT)
    (tmp_path / "sub").mkdir()
    for name, target in (("up", ".."), ("up2", ".."), ("top", "../.."), ("host", "/")):
        os.symlink(target, tmp_path / "sub" / name)
    proc = run_cli(tmp_path, "scan", ".", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["errors"] == []
    assert findings(report) == SCRIPT_FINDINGS


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_history_over_committed_symlink_loops(tmp_path: Path) -> None:
    require(shutil.which("git") is not None, "git")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    write(tmp_path / "compose.yaml", PRIVILEGED)
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub" / "up")
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    (tmp_path / "bad").mkdir()
    os.symlink("compose.yaml", tmp_path / "bad" / "compose.yaml")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "loops")
    proc = run_cli(tmp_path, "history", ".", "--format", "json")
    assert b"Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert [(e["path"], e["message"]) for e in report["errors"]] == [
        ("bad/compose.yaml", "cannot read bad/compose.yaml: symlink loop")
    ]
    assert sorted((f["rule"], f["location"]["path"]) for f in report["findings"]) == [
        ("no-new-privileges", "compose.yaml"),
        ("privileged", "compose.yaml"),
    ]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory outside root's private pytest tmp (mode 700 there), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="leastcap-scan-hostile-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(0o755)
        shutil.rmtree(path)


# Root reads everything: the scan runs as root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
# so files owned by nobody with no permission for others are as unreadable as to any other user.
UNPRIVILEGED = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_unreadable_directories_and_files_are_errors(shared_tmp: Path) -> None:
    require(shutil.which("setpriv") is not None and os.geteuid() == 0, "setpriv, run as root")
    write(shared_tmp / "good" / "compose.yaml", PRIVILEGED)
    write(shared_tmp / "locked" / "inner" / "compose.yaml", PRIVILEGED)
    write(shared_tmp / "files" / "compose.yaml", PRIVILEGED)
    write(shared_tmp / "files" / "deploy", SCRIPT)
    write(shared_tmp / "files" / "notes", "not a script\n")
    write(shared_tmp / "listonly" / "compose.yaml", PRIVILEGED)
    for path in (shared_tmp / "locked", shared_tmp / "files" / "compose.yaml", shared_tmp / "files" / "deploy"):
        for sub in (path, *path.rglob("*")):
            os.chown(sub, 65534, 65534)
        path.chmod(0o700 if path.is_dir() else 0o600)
    for path in (shared_tmp / "good", shared_tmp / "files"):
        path.chmod(0o755)
    os.chown(shared_tmp / "listonly", 65534, 65534)
    (shared_tmp / "listonly").chmod(0o744)  # others may list it (r) but not enter it (no x)
    proc = run_cli(shared_tmp, "scan", ".", "--format", "json", prefix=UNPRIVILEGED)
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert [(e["path"], e["message"]) for e in report["errors"]] == [
        ("files/compose.yaml", "cannot read files/compose.yaml: Permission denied"),
        ("files/deploy", "cannot read files/deploy: Permission denied"),
        ("listonly", "cannot read directory listonly: Permission denied (it can be listed, not entered)"),
        ("locked", "cannot read directory locked: Permission denied"),
    ]
    assert findings(report) == [
        {"rule": "no-new-privileges", "path": "good/compose.yaml", "line": 2, "column": 3},
        {"rule": "privileged", "path": "good/compose.yaml", "line": 4, "column": 5},
    ]


def test_explicit_path_with_nothing_to_scan_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "good" / "compose.yaml", PRIVILEGED)
    write(tmp_path / "docs" / "README.md", "# nothing here\n")
    proc = run_cli(tmp_path, "scan", "good", "docs", "--format", "json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert report["errors"] == [
        {"path": "docs", "line": 0, "message": "nothing to scan: no Compose file, script or CI file here"}
    ]
    assert [f["location"]["path"] for f in report["findings"]] == ["good/compose.yaml"] * 2


def test_scan_of_the_current_directory_that_finds_nothing_says_so(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "# nothing here\n")
    proc = run_cli(tmp_path, "scan")
    assert proc.returncode == 0
    assert proc.stdout.decode() == (
        "warnings\n  .  nothing to scan: no Compose file, script or CI file here\n\nNo findings, 1 warning.\n"
    )
