"""Progress on long runs: on standard error and only when it is a terminal (a real pty here), never
on standard output, and nothing at all when standard error is a pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.components import require_docker
from support.terminal import ENV, on_pty, piped


def leastcap(*args: str) -> list[str]:
    return [sys.executable, "-m", "leastcap", *args]


def test_scan_of_a_large_tree(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"p{i}").mkdir()
        (tmp_path / f"p{i}" / "compose.yaml").write_text("services:\n  s:\n    image: x\n    privileged: true\n")
    code, stdout, terminal = on_pty(leastcap("scan", ".", "--no-scripts"), tmp_path)
    assert code == 1
    assert b"Compose projects" in terminal and b"30/30" in terminal
    assert stdout.endswith(b"60 findings (30 critical, 30 low).\n")
    assert b"Compose projects" not in stdout and b"\x1b" not in stdout  # the report is untouched
    assert piped(leastcap("scan", ".", "--no-scripts"), tmp_path) == (1, stdout, b"")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            **ENV,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@x",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@x",
        },
    )


def test_history_walk(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    for i in range(6):
        (tmp_path / "compose.yaml").write_text(
            f"services:\n  s{i}:\n    image: x\n    privileged: {str(i % 2 == 0).lower()}\n"
        )
        _git(tmp_path, "add", "compose.yaml")
        _git(tmp_path, "commit", "-q", "-m", f"c{i}")
    code, stdout, terminal = on_pty(leastcap("history", ".", "--format", "json"), tmp_path)
    assert code == 0
    assert b"commits walked" in terminal and b"6/6" in terminal
    assert b"Compose file versions read" in terminal
    assert stdout.startswith(b"{") and b"\x1b" not in stdout
    piped_code, piped_out, piped_err = piped(leastcap("history", ".", "--format", "json"), tmp_path)
    assert (piped_code, piped_err) == (0, b"")
    assert piped_out == stdout


def test_audit_over_several_hosts(tmp_path: Path) -> None:
    require_docker()
    # Two names for the local engine and one that refuses connections (an error for that host only).
    args = leastcap(
        "audit",
        "-H",
        "unix:///var/run/docker.sock",
        "-H",
        "unix:///run/docker.sock",
        "-H",
        "tcp://127.0.0.1:9",
        "--format",
        "json",
        "--timeout",
        "5",
    )
    code, stdout, terminal = on_pty(args, tmp_path)
    assert code == 2
    assert b"Docker hosts inspected" in terminal and b"3/3" in terminal
    assert stdout.startswith(b"{") and b"\x1b" not in stdout
    piped_code, _, piped_err = piped(args, tmp_path)
    assert (piped_code, piped_err) == (2, b"")
