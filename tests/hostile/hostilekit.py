"""Run the real CLI on hostile input inside bounds that only guard against blow-ups.

Each run is a `python -m leastcap` subprocess with an address-space limit (RLIMIT_AS) and a
timeout, so a regression that expands a bomb or walks a loop fails the test instead of taking
the machine down. Nothing here asserts timings; speed targets live in bench/.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

MEMORY_LIMIT = 2 * 1024**3
TIMEOUT = 60


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    timeout: float = TIMEOUT,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a bounded subprocess; stdout and stderr are bytes (names may not be UTF-8).
    ``prefix`` runs it through another command (``setpriv ...``)."""
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "NO_COLOR": "1",
        **(env or {}),
    }
    if "PYTHONPATH" in os.environ:  # the checkout under test, not whatever is installed
        environ.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])

    def before() -> None:
        _limit()
        if preexec is not None:
            preexec()

    return subprocess.run(
        [*prefix, sys.executable, "-c", "from leastcap.cli.main import main; main()", *args],
        capture_output=True,
        cwd=cwd,
        env=environ,
        timeout=timeout,
        preexec_fn=before,
        check=False,
    )


def findings(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """rule, path, line and column of each finding of a JSON report, sorted."""
    return sorted(
        (
            {
                "rule": f["rule"],
                "path": f["location"]["path"],
                "line": f["location"]["line"],
                "column": f["location"]["column"],
            }
            for f in report["findings"]
        ),
        key=lambda f: (f["path"], f["line"], f["column"], f["rule"]),
    )


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
