"""Real containers for the audit tests: unique names, always removed, never touching others'."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.components import require_compose, require_docker
from support.images import busybox_image


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def container(uid: str) -> Iterator[Callable[..., str]]:
    """``container("run", "--cap-add", "NET_ADMIN")`` -> the name of a new container (``run -d``
    or ``create``, followed by the image and ``sleep 600``)."""
    require_docker()
    image = busybox_image()
    names: list[str] = []

    def make(mode: str, *flags: str, suffix: str = "") -> str:
        name = f"lc-audit-{uid}-{suffix or len(names)}"
        verb = ["run", "-d"] if mode == "run" else ["create"]
        names.append(name)  # before running: a failed start can leave a created container
        subprocess.run(
            ["docker", *verb, "--name", name, *flags, image, "sleep", "600"],
            check=True,
            capture_output=True,
            text=True,
        )
        return name

    yield make
    if names:
        subprocess.run(["docker", "rm", "-f", "-v", *names], check=False, capture_output=True)


class ComposeProject:
    def __init__(self, binary: str, directory: Path, name: str) -> None:
        self.binary, self.directory, self.name = binary, directory, name
        self.file = directory / "compose.yaml"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-p", self.name, "-f", str(self.file), *args],
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=False,
        )

    def up(self, *services: str) -> None:
        proc = self.run("up", "-d", *services)
        assert proc.returncode == 0, proc.stderr

    def create(self, *services: str) -> None:
        proc = self.run("create", *services)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture
def compose_project(tmp_path: Path, uid: str) -> Iterator[ComposeProject]:
    require_docker()
    binary = require_compose()
    busybox_image()
    project = ComposeProject(binary, tmp_path, f"lcaudit{uid}")
    yield project
    project.run("down", "-v", "--remove-orphans", "-t", "0")


# The sshd fixture for the ssh:// tests lives in its own module; importing it here makes it visible.
from ssh_support import local_sshd  # noqa: E402,F401
