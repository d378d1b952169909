"""`--config` on things that are not config files, and `-o` where no report can be written:
clean errors (exit 2), never a hang, a read of gigabytes, or a traceback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hostilekit import run_cli, write

PRIVILEGED = "services:\n  web:\n    image: x\n    privileged: true\n"


def _huge(root: Path) -> str:
    with (root / "huge.yml").open("wb") as fh:
        fh.write(b"a" * (20 * 1024 * 1024))
    return "huge.yml"


def _fifo(root: Path) -> str:
    os.mkfifo(root / "fifo.yml")
    return "fifo.yml"


def _directory(root: Path) -> str:
    (root / "conf.d").mkdir()
    return "conf.d"


CONFIGS: dict[str, tuple[Callable[[Path], str], str]] = {
    "fifo": (_fifo, "cannot read config: not a regular file"),
    "dev-zero": (lambda root: "/dev/zero", "cannot read config: not a regular file"),
    "huge": (_huge, "config is over the 1048576-byte limit; not read"),
    "directory": (_directory, "cannot read config: not a regular file"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_config_that_is_not_a_config_file_is_a_clean_error(tmp_path: Path, case: str) -> None:
    make, message = CONFIGS[case]
    write(tmp_path / "compose.yaml", PRIVILEGED)
    name = make(tmp_path)
    proc = run_cli(tmp_path, "scan", "--no-scripts", "--config", name, "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["errors"] == [{"path": name, "line": 0, "message": message}]


@pytest.mark.parametrize(
    ("target", "reason"), [("missing/report.json", "No such file or directory"), ("out", "Is a directory")]
)
def test_output_that_cannot_be_written_is_a_clean_error(tmp_path: Path, target: str, reason: str) -> None:
    write(tmp_path / "compose.yaml", PRIVILEGED)
    (tmp_path / "out").mkdir()
    proc = run_cli(tmp_path, "scan", "--no-scripts", "-o", target, "--format", "json")
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.decode() == f"leastcap scan: cannot write {target}: {reason}\n"
