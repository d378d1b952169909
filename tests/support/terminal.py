"""Run a command with standard error on a real pseudo-terminal, to test what leastcap shows only
on a terminal (progress), and the same command with plain pipes."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

ENV = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
ENV.pop("NO_COLOR", None)
ENV.pop("CI", None)  # progress does not depend on CI, only on the terminal


def on_pty(
    argv: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    """Run with standard error on a new pty (standard output to a file): exit code, stdout, pty."""
    master, slave = os.openpty()
    out_path = cwd / ".stdout"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=slave, stdin=subprocess.DEVNULL, env=env or ENV)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the child closed its end
                    break
                if not data:
                    break
                seen += data
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
    stdout = out_path.read_bytes()
    out_path.unlink()
    return code, stdout, seen


def piped(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, env=env or ENV, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr
