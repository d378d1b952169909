"""A value compose refuses is an error (exit 2), and never hides the findings around it.

Only a file that cannot be parsed at all yields no findings (test_hostile_input.py covers those).
The messages are compose's own (tests/loader/test_local_refusals.py checks them against the real
binary); here the real CLI reports them beside the exact findings of everything else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from hostilekit import findings, run_cli, write

from support.components import require

PROJECT = """\
services:
  sock:
    image: x
    security_opt: [no-new-privileges:true]
    cap_drop: [ALL]
    volumes:
      - source: /etc
        target: /host-etc
      - /var/run/docker.sock:/var/run/docker.sock
  bad-cast:
    image: x
    security_opt: [no-new-privileges:true]
    cap_drop: [ALL]
    privileged: "1"
    cap_add: [SYS_ADMIN]
  other:
    image: x
    privileged: true
    networks: [nowhere]
"""


def test_refused_values_are_errors_beside_every_other_finding(tmp_path: Path) -> None:
    write(tmp_path / "app" / "compose.yaml", PROJECT)
    proc = run_cli(tmp_path, "scan", ".", "--format", "json", "--no-scripts")
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert findings(report) == [
        {"rule": "docker-socket", "path": "app/compose.yaml", "line": 9, "column": 9},
        {"rule": "dangerous-capability", "path": "app/compose.yaml", "line": 15, "column": 15},
        {"rule": "no-new-privileges", "path": "app/compose.yaml", "line": 16, "column": 3},
        {"rule": "privileged", "path": "app/compose.yaml", "line": 18, "column": 5},
    ]
    assert [(e["path"], e["line"], e["message"]) for e in report["errors"]] == [
        (
            "app/compose.yaml",
            7,
            "services.sock.volumes.0 must be a string: a long-syntax volume needs `type:` (compose refuses the file)",
        ),
        (
            "app/compose.yaml",
            14,
            "error while interpolating services.bad-cast.privileged: failed to cast to expected type: "
            "invalid boolean: 1",
        ),
        ("app/compose.yaml", 16, 'service "other" refers to undefined network nowhere: invalid compose project'),
    ]


def test_text_output_shows_the_errors_and_the_findings(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", PROJECT)
    proc = run_cli(tmp_path, "scan", "--no-scripts")
    assert proc.returncode == 2
    out = proc.stdout.decode()
    assert "4 findings (3 critical, 1 low), 3 errors." in out, out


def test_history_keeps_the_findings_beside_a_refused_value(tmp_path: Path) -> None:
    """The history walk loads each commit's projects the same way: errors beside findings."""
    require(shutil.which("git") is not None, "git")
    write(tmp_path / "app" / "compose.yaml", PROJECT)
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.com",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.com",
    }
    subprocess.run(["git", "commit", "-qm", "one"], cwd=tmp_path, check=True, capture_output=True, env=env)
    proc = run_cli(tmp_path, "history", ".", "--format", "json")
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    assert findings(report) == [
        {"rule": "docker-socket", "path": "app/compose.yaml", "line": 9, "column": 9},
        {"rule": "dangerous-capability", "path": "app/compose.yaml", "line": 15, "column": 15},
        {"rule": "no-new-privileges", "path": "app/compose.yaml", "line": 16, "column": 3},
        {"rule": "privileged", "path": "app/compose.yaml", "line": 18, "column": 5},
    ]
    assert sorted((e["path"], e["line"]) for e in report["errors"]) == [
        ("app/compose.yaml", 7),
        ("app/compose.yaml", 14),
        ("app/compose.yaml", 16),
    ]
