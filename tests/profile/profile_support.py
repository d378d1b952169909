"""Helpers for the profile tests: write a Compose project, run ``leastcap profile`` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.components import require_compose, require_docker, require_tracefs
from support.images import busybox_image

REPO = Path(__file__).resolve().parents[2]


def require_all() -> str:
    require_docker()
    require_compose()
    require_tracefs()
    return busybox_image()


def write_project(directory: Path, services_yaml: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "compose.yaml"
    path.write_text("services:\n" + services_yaml)
    return path


def leastcap(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "leastcap", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def profile_json(compose: Path, service: str, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = leastcap("profile", service, "-f", str(compose), "--json", *args, cwd=compose.parent)
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    return proc.returncode, data, proc.stderr


# The access evidence (profile JSON) of a shell that wrote net.ipv4.ip_forward=1 once.
IP_FORWARD_WRITTEN_ONCE_BY_SH = {
    "kind": "sysctl",
    "name": "net.ipv4.ip_forward",
    "value": "1",
    "path": "/proc/sys/net/ipv4/ip_forward",
    "reason": "opened for writing by sh x1; '1' in the container at the end of the recording",
    "reads": 0,
    "writes": 1,
    "processes": [{"comm": "sh", "count": 1}],
}


def runs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The verification runs as (cap_add, passed, reason), without their wall times."""
    return [{k: v[k] for k in ("cap_add", "passed", "reason")} for v in data["verification"]]
