"""``leastcap audit`` end to end against the real engine: exact findings, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from leastcap.cli.main import cli

pytestmark = pytest.mark.docker
LOCAL = "unix:///var/run/docker.sock"


def run_audit(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["audit", "--format", "json", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def mine(report: dict[str, Any], prefix: str) -> list[tuple[str, str, str, str]]:
    """(rule, severity, service, inspect path) of the findings about our containers."""
    return sorted(
        (f["rule"], f["severity"], f["service"], f["location"]["path"])
        for f in report["findings"]
        if f["location"]["path"].startswith(prefix)
    )


def test_docker_run_flags_give_exact_findings(container: Callable[..., str], uid: str) -> None:
    a = container(
        "run",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock:ro",
        "--pid",
        "host",
        suffix="a",
    )
    b = container("run", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="b")
    p = container("create", "--privileged", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", suffix="p")
    code, report = run_audit("--all", "-H", LOCAL, "--fail-on", "critical")
    assert code == 1
    assert mine(report, f"local/lc-audit-{uid}-") == sorted(
        [
            ("dangerous-capability", "high", a, f"local/{a}"),
            ("docker-socket", "critical", a, f"local/{a}"),
            ("host-namespace", "high", a, f"local/{a}"),
            ("missing-cap-drop", "medium", a, f"local/{a}"),
            ("no-new-privileges", "low", a, f"local/{a}"),
            ("unconfined-profile", "high", a, f"local/{a}"),
            ("privileged", "critical", p, f"local/{p}"),
        ]
    )
    # b (cap_drop ALL, no-new-privileges) is clean; every finding names its container and image.
    for f in report["findings"]:
        if f["location"]["path"] == f"local/{a}":
            assert f["project"] == ""
            origin = f["related"][-1]
            assert origin["path"] == f"local/{a}"
            assert origin["note"].startswith(f"container {a} (")
            assert (
                "on host local, image leastcap-test/busybox:latest, running; effective capabilities: "
                "CHOWN,DAC_OVERRIDE,FOWNER,FSETID,KILL,SETGID,SETUID,SETPCAP,NET_BIND_SERVICE,NET_ADMIN,"
                "NET_RAW,SYS_CHROOT,MKNOD,AUDIT_WRITE,SETFCAP" in origin["note"]
            )
    assert not [f for f in report["findings"] if f["location"]["path"] == f"local/{b}"]

    # Without --all the created (never started) privileged container is not looked at.
    code, report = run_audit("-H", LOCAL, "--fail-on", "critical")
    assert [f for f in mine(report, f"local/lc-audit-{uid}-") if f[2] == p] == []


def test_sarif_names_inspect_fields_and_cis_items(container: Callable[..., str], uid: str) -> None:
    name = container("create", "--privileged", suffix="p")
    result = CliRunner().invoke(cli, ["audit", "--all", "-H", LOCAL, "--format", "sarif"])
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "cis-docker-v1.6.0-5.5" in rules["privileged"]["properties"]["tags"]
    assert "drift" in rules
    ours = [
        r for r in run["results"] if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(name)
    ]
    assert {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for r in ours} == {
        ("privileged", "HostConfig.Privileged"),
        ("no-new-privileges", "container"),
    }


def test_unreachable_hosts_are_errors_and_the_others_are_still_audited(container: Callable[..., str], uid: str) -> None:
    name = container("run", "--pid", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="x")
    code, report = run_audit("-H", "tcp://127.0.0.1:1", "-H", LOCAL, "-H", "unix:///nonexistent/docker.sock")
    assert code == 2
    assert report["errors"] == [
        {
            "path": "/nonexistent/docker.sock",
            "line": 0,
            "message": "cannot connect to unix:///nonexistent/docker.sock: No such file or directory",
        },
        {"path": "127.0.0.1:1", "line": 0, "message": "cannot connect to tcp://127.0.0.1:1: Connection refused"},
    ]
    assert mine(report, f"local/{name}") == [("host-namespace", "high", name, f"local/{name}")]


def test_docker_context_and_docker_host(container: Callable[..., str], uid: str, tmp_path: Path) -> None:
    name = container("run", "--ipc", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="c")
    config = tmp_path / "dockercfg"
    env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": ""}
    subprocess.run(
        ["docker", "context", "create", f"lc{uid}", "--docker", f"host={LOCAL}"],
        check=True,
        capture_output=True,
        env={**_env(), **env},
    )
    code, report = run_audit("--context", f"lc{uid}", env=env)
    assert code == 1
    assert mine(report, f"lc{uid}/{name}") == [("host-namespace", "high", name, f"lc{uid}/{name}")]
    # The current context (config.json currentContext) is the default target.
    (config / "config.json").write_text(json.dumps({"currentContext": f"lc{uid}"}))
    code, report = run_audit(env=env)
    assert mine(report, f"lc{uid}/{name}") == [("host-namespace", "high", name, f"lc{uid}/{name}")]
    # DOCKER_HOST beats the current context.
    code, report = run_audit(env={**env, "DOCKER_HOST": LOCAL})
    assert mine(report, f"local/{name}") == [("host-namespace", "high", name, f"local/{name}")]
    # An unknown context is a usage error before anything runs.
    result = CliRunner().invoke(cli, ["audit", "--context", f"missing{uid}"], env=env)
    assert result.exit_code == 2
    assert f"docker context 'missing{uid}' not found" in result.stderr


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_config_exception_suppresses_a_container_finding(
    container: Callable[..., str], uid: str, tmp_path: Path
) -> None:
    name = container("run", "--pid", "host", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="s")
    config = tmp_path / ".leastcap.yml"
    config.write_text(
        "exceptions:\n"
        "  - rule: host-namespace\n"
        f"    service: lc-audit-{uid}-s\n"
        "    justification: the node exporter reads host process statistics\n"
        "    approved_by: security team\n"
        "    expires: 2099-01-01\n"
    )
    _code, report = run_audit("-H", LOCAL, "--config", str(config))
    ours = [f for f in report["findings"] if f["location"]["path"] == f"local/{name}"]
    assert [(f["rule"], f["suppressed"]["by"], f["suppressed"]["justification"]) for f in ours] == [
        ("host-namespace", "exception", "the node exporter reads host process statistics"),
    ]


def test_a_container_joined_to_one_in_the_host_namespace_gets_host_namespace_naming_the_chain(
    container: Callable[..., str], uid: str
) -> None:
    gw = container(
        "run",
        "--network",
        "host",
        "--pid",
        "host",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        suffix="gw",
    )
    vpn = container(
        "run",
        "--network",
        f"container:{gw}",
        "--pid",
        f"container:{gw}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--cap-add",
        "SYS_PTRACE",
        suffix="vpn",
    )
    app = container(
        "run", "--network", f"container:{vpn}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="app"
    )
    private = container("run", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", suffix="private")
    joined = container(
        "run",
        "--network",
        f"container:{private}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        suffix="joined",
    )
    code, report = run_audit("-H", LOCAL)
    assert code == 1
    found = [
        (f["rule"], f["severity"], f["service"], f["location"]["note"], f["message"])
        for f in report["findings"]
        if f["location"]["path"].startswith(f"local/lc-audit-{uid}-")
    ]
    assert sorted(f[:4] for f in found) == sorted(
        [
            ("host-namespace", "high", gw, "HostConfig.NetworkMode"),
            ("host-namespace", "high", gw, "HostConfig.PidMode"),
            ("host-namespace", "high", vpn, "HostConfig.NetworkMode"),
            ("host-namespace", "high", vpn, "HostConfig.PidMode"),
            ("dangerous-capability", "critical", vpn, "HostConfig.CapAdd[0]"),  # SYS_PTRACE in the host's PIDs
            ("host-namespace", "high", app, "HostConfig.NetworkMode"),
        ]
    )
    messages = {(f[2], f[3]): f[4] for f in found}
    assert messages[(app, "HostConfig.NetworkMode")].startswith(
        f"service {app!r} joins the host's namespace through network_mode: container:{vpn} -> "
        f"container:{gw} -> host, so it uses the host's network stack"
    )
    assert messages[(vpn, "HostConfig.CapAdd[0]")].endswith(
        f"; with pid: container:{gw} -> host that is every process on the host"
    )
    assert not [f for f in found if f[2] in (private, joined)]
    # --min-severity hides the high ones from the list; the exit code still counts them.
    code, report = run_audit("-H", LOCAL, "--min-severity", "critical", "--fail-on", "high")
    assert code == 1
    assert [
        (f["rule"], f["service"])
        for f in report["findings"]
        if f["location"]["path"].startswith(f"local/lc-audit-{uid}-")
    ] == [("dangerous-capability", vpn)]
    assert report["summary"]["min_severity"] == "critical" and report["summary"]["not_shown"] >= 5
