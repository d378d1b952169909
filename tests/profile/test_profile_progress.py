"""leastcap profile shows each run's progress (run k, recording or verifying, seconds out of
--duration) on standard error when it is a terminal (a real pty here), and only there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from profile_support import REPO, require_all, write_project

from support.terminal import ENV, on_pty, piped


def test_recording_and_verification_runs_show_progress_only_on_a_terminal(tmp_path: Path) -> None:
    image = require_all()
    compose = write_project(tmp_path / "p", f"  app:\n    image: {image}\n    command: [sleep, '60']\n")
    argv = [sys.executable, "-m", "leastcap", "profile", "app", "-f", str(compose), "--duration", "3s", "--verify"]
    env = {**ENV, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code, stdout, terminal = on_pty(argv, compose.parent, timeout=600, env=env)
    assert code == 0, terminal.decode(errors="replace")
    assert b"run 1: recording app" in terminal and b"run 2: verifying app" in terminal
    assert b"3/3" in terminal  # the run's seconds out of --duration
    # The log lines are still there, printed above the display.
    assert b"recording app for up to 3s" in terminal and b"verifying with cap_add []" in terminal
    assert b"run 1:" not in stdout and b"\x1b" not in stdout
    code, _, err = piped(argv, compose.parent, env=env)
    assert code == 0
    assert b"recording app for up to 3s" in err and b"run 1:" not in err and b"\x1b" not in err
