"""Compare leastcap's effective privilege fields with `docker compose config --format json`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from leastcap.loader import LoadOptions, load_project

PRIVILEGE_FIELDS = (
    "privileged",
    "cap_add",
    "cap_drop",
    "security_opt",
    "devices",
    "pid",
    "ipc",
    "network_mode",
    "userns_mode",
    "uts",
    "cgroup",
    "cgroup_parent",
    "user",
    "group_add",
    "read_only",
    "sysctls",
    "device_cgroup_rules",
    "use_api_socket",
)
VOLUME_KEYS = ("type", "source", "target", "read_only")


def privilege_view(service: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for field in PRIVILEGE_FIELDS:
        value = service.get(field)
        if value in (None, [], {}, False, ""):
            continue
        view[field] = value
    volumes = [
        {k: v for k in VOLUME_KEYS if (v := vol.get(k)) not in (None, False, "")}
        for vol in service.get("volumes") or []
    ]
    if volumes:
        view["volumes"] = volumes
    return view


def compose_config(
    binary: str, compose_file: Path, env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, str]:
    proc = subprocess.run(
        [binary, "-f", str(compose_file), "--profile", "*", "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=compose_file.parent,
        env=env,
        timeout=60,
    )
    if proc.returncode != 0:
        return proc.returncode, None, proc.stderr
    return 0, json.loads(proc.stdout), proc.stderr


def leastcap_config(compose_file: Path, env: dict[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    result = load_project(
        LoadOptions(
            working_dir=str(compose_file.parent), files=(str(compose_file),), profiles=("*",), environ=env
        )
    )
    return result.effective, [p.message for p in result.errors]


def compose_env(tmp_home: str) -> dict[str, str]:
    # A minimal, fixed environment so that both tools see the same variables.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp_home, "DOCKER_CONFIG": tmp_home}
