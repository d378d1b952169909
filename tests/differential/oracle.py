"""The real `docker compose` v2 binary as the oracle for leastcap's loader.

Both tools get the same files, cwd and environment; what is compared is the privilege view of each
service (the fields a privilege audit reads), normalised only where the two JSON shapes may
legitimately differ in spelling (empty values are dropped, volume entries keep the four keys that
matter).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leastcap.loader import LoadOptions, LoadResult, load_project
from leastcap.tree import DiskTree

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


def privilege_view(service: Mapping[str, Any]) -> dict[str, Any]:
    """The privilege fields of one service of `config --format json` output, empty values dropped."""
    view: dict[str, Any] = {}
    for name in PRIVILEGE_FIELDS:
        value = service.get(name)
        if value in (None, [], {}, False, ""):
            continue
        view[name] = value
    volumes = [
        {k: v for k in VOLUME_KEYS if (v := vol.get(k)) not in (None, False, "")}
        for vol in service.get("volumes") or []
    ]
    if volumes:
        view["volumes"] = volumes
    return view


def privilege_views(effective: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if effective is None:
        return {}
    services = effective.get("services") or {}
    return {name: privilege_view(svc or {}) for name, svc in sorted(services.items())}


def fixed_env(home: Path | str, **extra: str) -> dict[str, str]:
    """A minimal fixed environment, so both tools see the same variables and nothing else."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "DOCKER_CONFIG": str(home)}
    env.update(extra)
    return env


@dataclass(frozen=True)
class ComposeRun:
    returncode: int
    effective: dict[str, Any] | None
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.effective is not None


def compose_args(
    files: Sequence[str] = (),
    profiles: Sequence[str] | None = ("*",),
    project_directory: str | None = None,
    env_files: Sequence[str] = (),
) -> list[str]:
    args: list[str] = []
    for f in files:
        args += ["-f", f]
    if project_directory is not None:
        args += ["--project-directory", project_directory]
    for e in env_files:
        args += ["--env-file", e]
    for p in profiles or ():
        args += ["--profile", p]
    return args


def run_compose(binary: str, args: Iterable[str], cwd: Path | str, env: Mapping[str, str]) -> ComposeRun:
    proc = subprocess.run(
        [binary, *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(env),
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        return ComposeRun(proc.returncode, None, proc.stderr)
    return ComposeRun(0, unescape_dollars(json.loads(proc.stdout)), proc.stderr)


def unescape_dollars(value: Any) -> Any:
    """`docker compose config` writes every literal `$` as `$$` so its output can be loaded again;
    leastcap reports the value itself."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [unescape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {unescape_dollars(k): unescape_dollars(v) for k, v in value.items()}
    return value


def run_leastcap(
    cwd: Path | str,
    env: Mapping[str, str],
    files: Sequence[str] = (),
    profiles: Sequence[str] | None = ("*",),
    project_directory: str | None = None,
    env_files: Sequence[str] = (),
) -> LoadResult:
    cwd = str(cwd)
    options = LoadOptions(
        working_dir=cwd,
        files=tuple(os.path.abspath(os.path.join(cwd, f)) for f in files),
        project_directory=project_directory,
        env_files=tuple(env_files),
        profiles=tuple(profiles or ()),
        environ=dict(env),
    )
    return load_project(options, DiskTree(cwd))


def leastcap_views(result: LoadResult) -> dict[str, dict[str, Any]]:
    """leastcap's privilege view, restricted like compose's output to the enabled services."""
    views = privilege_views(result.effective)
    if result.project is None:
        return views
    enabled = {s.name for s in result.project.services if s.enabled}
    return {name: view for name, view in views.items() if name in enabled}
