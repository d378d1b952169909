"""``leastcap audit --host ssh://...`` through a real sshd on 127.0.0.1 (tests/audit/ssh_support.py)
to the real local engine: the same findings as the unix socket, and ssh failures as host errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from ssh_support import LocalSshd, closed_port

from leastcap.audit.sshconn import ssh_command
from leastcap.cli.main import cli

pytestmark = pytest.mark.docker
LOCAL = "unix:///var/run/docker.sock"


def run_audit(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["audit", "--format", "json", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def about(report: dict[str, Any], label: str, names: list[str]) -> list[dict[str, Any]]:
    paths = {f"{label}/{name}" for name in names}
    return [f for f in report["findings"] if f["location"]["path"] in paths]


def relabel(value: Any, old: str, new: str) -> Any:
    """Every ``<host>/<container>`` path and ``on host <host>`` note with the other host label."""
    if isinstance(value, dict):
        return {k: relabel(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [relabel(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(f"{old}/", f"{new}/").replace(f"on host {old},", f"on host {new},")
    return value


def test_ssh_gives_the_findings_of_the_unix_socket(
    local_sshd: LocalSshd, container: Callable[..., str], uid: str
) -> None:
    running = container(
        "run",
        "--cap-add",
        "NET_ADMIN",
        "--cap-add",
        "SYS_PTRACE",
        "--security-opt",
        "seccomp=unconfined",
        "--pid",
        "host",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock:ro",
        suffix="r",
    )
    created = container(
        "create",
        "--privileged",
        "--ipc",
        "host",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        suffix="c",
    )
    names = [running, created]
    label = f"root@127.0.0.1:{local_sshd.port}"

    code_local, local = run_audit(local_sshd.env, "--all", "-H", LOCAL)
    code_ssh, remote = run_audit(local_sshd.env, "--all", "-H", local_sshd.url())
    assert (code_local, code_ssh) == (1, 1)
    assert remote["errors"] == [] and local["errors"] == []
    over_ssh = about(remote, label, names)
    by_socket = about(local, "local", names)
    assert sorted((f["rule"], f["location"]["path"]) for f in over_ssh) == sorted(
        [
            ("dangerous-capability", f"{label}/{running}"),
            ("dangerous-capability", f"{label}/{running}"),
            ("docker-socket", f"{label}/{running}"),
            ("host-namespace", f"{label}/{running}"),
            ("missing-cap-drop", f"{label}/{running}"),
            ("no-new-privileges", f"{label}/{running}"),
            ("unconfined-profile", f"{label}/{running}"),
            ("privileged", f"{label}/{created}"),
            ("host-namespace", f"{label}/{created}"),
        ]
    )
    # Through ssh the container's process is not ours to read, so the one other difference is the
    # effective capability sets the local socket adds to the running container's note.
    caps = "; effective capabilities: "
    for finding in by_socket:
        note = finding["related"][-1]["note"]
        if finding["location"]["path"] == f"local/{running}":
            assert caps in note
            finding["related"][-1]["note"] = note[: note.index(caps)]
        else:
            assert caps not in note
    assert relabel(over_ssh, label, "local") == by_socket


def test_a_refusing_ssh_host_is_an_error_for_that_host_only(
    local_sshd: LocalSshd, container: Callable[..., str], uid: str
) -> None:
    name = container("run", "--pid", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="x")
    port = closed_port()
    code, report = run_audit(
        local_sshd.env, "-H", f"ssh://root@127.0.0.1:{port}", "-H", LOCAL, "-H", local_sshd.url("nobody")
    )
    assert code == 2
    assert report["errors"] == [
        {
            "path": f"nobody@127.0.0.1:{local_sshd.port}",
            "line": 0,
            "message": f"cannot connect to {local_sshd.url('nobody')}: nobody@127.0.0.1: Permission denied (publickey).",
        },
        {
            "path": f"root@127.0.0.1:{port}",
            "line": 0,
            "message": f"cannot connect to ssh://root@127.0.0.1:{port}: "
            f"ssh: connect to host 127.0.0.1 port {port}: Connection refused",
        },
    ]
    assert [(f["rule"], f["location"]["path"]) for f in about(report, "local", [name])] == [
        ("host-namespace", f"local/{name}"),
    ]


def test_ssh_command_is_the_docker_clis_with_batch_mode_and_the_timeout() -> None:
    assert ssh_command("ssh://ops@db1:2222", 10) == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-T",
        "-l",
        "ops",
        "-p",
        "2222",
        "--",
        "db1",
        "docker system dial-stdio",
    ]
    assert ssh_command("ssh://db1", 0.5) == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=1",
        "-T",
        "--",
        "db1",
        "docker system dial-stdio",
    ]
    with pytest.raises(ValueError, match="not an ssh:// docker host"):
        ssh_command("tcp://db1:2375", 10)
