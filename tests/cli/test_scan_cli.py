"""`leastcap scan` and `leastcap config` through the CLI: exact output, exact exit codes.

Golden files live in tests/cli/golden/; regenerate them with pytest --update-golden after a deliberate
change, and read the diff before committing it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from leastcap.cli.app import cli
from support.golden import updating

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = REPO / "examples"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(cli, args, env={"NO_COLOR": "1", **(env or {})}, catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if updating():
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run pytest with --update-golden"
    assert text == path.read_text()


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the bundled example (paths in the output are relative to it)."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


@pytest.mark.parametrize(("fmt", "suffix"), [("text", "txt"), ("json", "json"), ("sarif", "sarif"), ("github", "txt")])
def test_example_golden(example: Path, fmt: str, suffix: str) -> None:
    code, out, _ = run(["scan", ".", "--format", fmt], example)
    assert code == 1  # critical and high findings, fail-on high
    check_golden(f"example.{fmt}.{suffix}", out)


def test_example_json_is_the_v1_contract(example: Path) -> None:
    code, out, _ = run(["scan", ".", "--format", "json"], example)
    report = json.loads(out)
    schema = json.loads((REPO / "src/leastcap/schemas/report-v1.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert code == 1
    by_rule = {
        (f["rule"], f["service"], f["location"]["path"], f["location"]["line"], f["location"]["column"])
        for f in report["findings"]
    }
    # One finding per rule, pinned to where the value was written.
    assert ("privileged", "vpn", "homelab/compose.yaml", 14, 5) in by_rule
    assert ("cap-add-all", "agent", "homelab/compose.yaml", 23, 15) in by_rule
    assert ("dangerous-capability", "vpn", "homelab/compose.yaml", 15, 26) in by_rule
    assert ("docker-socket", "agent", "homelab/compose.yaml", 27, 9) in by_rule
    assert ("sensitive-mount", "agent", "homelab/compose.yaml", 28, 9) in by_rule
    assert ("host-namespace", "agent", "homelab/compose.yaml", 25, 5) in by_rule
    assert ("unconfined-profile", "backup", "homelab/compose.yaml", 35, 9) in by_rule
    assert ("missing-cap-drop", "web", "homelab/compose.yaml", 37, 3) in by_rule
    assert ("no-new-privileges", "web", "homelab/compose.yaml", 37, 3) in by_rule
    assert ("host-namespace", "debug-shell", "homelab/compose.debug.yml", 6, 5) in by_rule
    assert ("privileged", "node-agent", "homelab/scripts/run-agent.sh", 5, 3) in by_rule
    suppressed = [f for f in report["findings"] if f["suppressed"]]
    assert [(f["rule"], f["service"], f["suppressed"]["by"]) for f in suppressed] == [
        ("host-device", "backup", "exception")
    ]
    # The hardened service is clean.
    assert not [f for f in report["findings"] if f["service"] == "api"]
    # The variable the privileged value depends on is named.
    vpn = next(f for f in report["findings"] if f["rule"] == "privileged" and f["service"] == "vpn")
    assert "${VPN_PRIVILEGED}" in vpn["message"] and vpn["confidence"] == "medium"


def test_env_flag_changes_the_effective_value(example: Path) -> None:
    code, out, _ = run(["scan", "homelab", "--format", "json", "--env", "VPN_PRIVILEGED=false"], example)
    rules = {(f["rule"], f["service"]) for f in json.loads(out)["findings"]}
    assert ("privileged", "vpn") not in rules
    assert ("privileged", "node-agent") in rules  # the script does not read the variable
    assert code == 1


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_exit_codes(tmp_path: Path) -> None:
    write(
        tmp_path / "clean/compose.yaml",
        "services:\n  a:\n    image: x\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n",
    )
    write(tmp_path / "medium/compose.yaml", "services:\n  a:\n    image: x\n")
    write(tmp_path / "bad/compose.yaml", "services:\n  a:\n    image: x\n    image: y\n")
    assert run(["scan", "clean", "--no-scripts"], tmp_path)[0] == 0
    assert run(["scan", "medium", "--no-scripts"], tmp_path)[0] == 0  # medium < high
    assert run(["scan", "medium", "--no-scripts", "--fail-on", "medium"], tmp_path)[0] == 1
    code, out, _ = run(["scan", "bad", "medium", "--no-scripts", "--format", "json"], tmp_path)
    report = json.loads(out)
    assert code == 2
    assert report["errors"] == [
        {"path": "bad/compose.yaml", "line": 4, "message": 'line 4: mapping key "image" already defined at line 3'}
    ]
    # The error does not hide the other project's findings.
    assert {(f["rule"], f["location"]["path"]) for f in report["findings"]} == {
        ("missing-cap-drop", "medium/compose.yaml"),
        ("no-new-privileges", "medium/compose.yaml"),
    }
    assert run(["scan", "--no-such-flag"], tmp_path)[0] == 2


def test_bad_config_is_exit_2(tmp_path: Path) -> None:
    write(tmp_path / "compose.yaml", "services:\n  a:\n    image: x\n")
    write(tmp_path / ".leastcap.yml", "fail-on: high\nunknown-key: 1\n")
    code, out, _ = run(["scan", "--format", "json"], tmp_path)
    assert code == 2
    errors = json.loads(out)["errors"]
    assert len(errors) == 1 and errors[0]["path"] == ".leastcap.yml" and "unknown-key" in errors[0]["message"]


def test_files_and_profiles_like_compose(tmp_path: Path) -> None:
    write(tmp_path / "base.yml", "services:\n  web:\n    image: nginx\n    cap_drop: [ALL]\n")
    write(
        tmp_path / "prod.yml",
        "services:\n  web:\n    privileged: yes\n  dbg:\n    image: busybox\n    profiles: [debug]\n    pid: host\n",
    )
    code, out, _ = run(["scan", "-f", "base.yml", "-f", "prod.yml", "--format", "json", "--no-scripts"], tmp_path)
    assert code == 1
    assert json.loads(out)["warnings"] == [
        {
            "path": "prod.yml",
            "line": 3,
            "message": '"yes" for boolean is not supported by YAML 1.2, please use `true`/`false`',
        }
    ]
    findings = json.loads(out)["findings"]
    privileged = next(f for f in findings if f["rule"] == "privileged")
    assert (privileged["service"], privileged["location"]) == (
        "web",
        {"path": "prod.yml", "line": 3, "column": 5, "note": ""},
    )
    pid = next(f for f in findings if f["rule"] == "host-namespace")
    assert pid["service"] == "dbg" and "(only with profile debug)" in pid["message"]
    _code, out, _ = run(
        ["scan", "-f", "base.yml", "-f", "prod.yml", "--profile", "debug", "--format", "json", "--no-scripts"], tmp_path
    )
    pid = next(f for f in json.loads(out)["findings"] if f["rule"] == "host-namespace")
    assert "(only with profile" not in pid["message"]


def test_variant_file_is_a_layer_on_the_main_file(tmp_path: Path) -> None:
    write(
        tmp_path / "docker-compose.yml",
        "services:\n  app:\n    image: a\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n",
    )
    write(tmp_path / "docker-compose.prod.yml", "services:\n  app:\n    cap_add: [SYS_ADMIN]\n")
    code, out, _ = run(["scan", ".", "--format", "json", "--no-scripts"], tmp_path)
    findings = json.loads(out)["findings"]
    assert [(f["rule"], f["service"], f["location"]["path"], f["location"]["line"]) for f in findings] == [
        ("dangerous-capability", "app", "docker-compose.prod.yml", 3)
    ]
    assert code == 1


def test_inline_ignore_and_expired_exception(tmp_path: Path) -> None:
    write(
        tmp_path / "compose.yaml",
        "services:\n"
        "  dind:\n"
        "    image: docker:dind\n"
        "    privileged: true  # leastcap: ignore[privileged] docker in docker for the CI runner sandbox\n"
        "    cap_drop: [ALL]\n"
        "    security_opt: [no-new-privileges:true]\n",
    )
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    write(
        tmp_path / ".leastcap.yml",
        "exceptions:\n"
        "  - rule: docker-socket\n"
        "    service: dind\n"
        "    justification: the agent needs the API to list containers\n"
        "    approved_by: sec\n"
        f"    expires: {yesterday}\n",
    )
    code, out, _ = run(["scan", "--format", "json", "--no-scripts"], tmp_path)
    findings = json.loads(out)["findings"]
    privileged = next(f for f in findings if f["rule"] == "privileged")
    assert privileged["suppressed"]["by"] == "inline"
    assert privileged["suppressed"]["justification"] == "docker in docker for the CI runner sandbox"
    rules = sorted(f["rule"] for f in findings if not f["suppressed"])
    # An expired exception is reported as expired (not also as unused).
    assert rules == ["exception-expired"]
    expired = next(f for f in findings if f["rule"] == "exception-expired")
    # It points at the date that expired.
    assert (expired["location"]["path"], expired["location"]["line"]) == (".leastcap.yml", 6)
    assert code == 0  # medium/low only


def test_config_command_matches_compose_shape(tmp_path: Path) -> None:
    write(
        tmp_path / "compose.yaml",
        "services:\n  a:\n    image: x\n    privileged: 'on'\n    sysctls: {net.ipv4.ip_forward: 1}\n    volumes: [./d:/data:ro]\n",
    )
    code, out, _ = run(["config", "--format", "json"], tmp_path)
    assert code == 0
    service = json.loads(out)["services"]["a"]
    assert service["privileged"] is True
    assert service["sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert service["volumes"] == [
        {
            "type": "bind",
            "source": str(tmp_path / "d"),
            "target": "/data",
            "read_only": True,
            "bind": {"create_host_path": True},
        }
    ]
    write(tmp_path / "compose.yaml", "services:\n  a:\n    image: x\n    privileged: '1'\n")
    code, out, err = run(["config"], tmp_path)
    assert code == 2
    assert (
        err == "error: compose.yaml:4:17: error while interpolating services.a.privileged: "
        "failed to cast to expected type: invalid boolean: 1\n"
    )


def test_parallel_scan_reports_exactly_what_a_serial_scan_reports(tmp_path: Path) -> None:
    for i in range(40):
        extra = ["    privileged: true\n", "    cap_add: [NET_ADMIN]\n", "    network_mode: host\n", ""][i % 4]
        write(tmp_path / f"p{i:02d}/compose.yaml", f"services:\n  s{i}:\n    image: x\n{extra}")
    write(tmp_path / "p99/compose.yaml", "services: [\n")
    serial = run(["scan", ".", "--format", "json", "--jobs", "1", "--no-scripts"], tmp_path)
    parallel = run(["scan", ".", "--format", "json", "--jobs", "2", "--no-scripts"], tmp_path)
    assert serial == parallel
    report = json.loads(serial[1])
    counts: dict[str, int] = {}
    for finding in report["findings"]:
        counts[finding["rule"]] = counts.get(finding["rule"], 0) + 1
    assert serial[0] == 2 and len(report["errors"]) == 1
    assert counts == {
        "no-new-privileges": 40,
        "missing-cap-drop": 30,  # not for the privileged ones
        "privileged": 10,
        "dangerous-capability": 10,
        "host-namespace": 10,
    }


def test_a_fifo_named_like_a_compose_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "compose.yaml")
    write(tmp_path / "ok/compose.yaml", "services:\n  a:\n    image: x\n    privileged: true\n")
    code, out, _ = run(["scan", ".", "--format", "json", "--no-scripts"], tmp_path)
    report = json.loads(out)
    assert code == 2
    assert report["errors"] == [
        {"path": "compose.yaml", "line": 0, "message": "cannot read compose.yaml: not a regular file"}
    ]
    assert ("privileged", "ok/compose.yaml") in {(f["rule"], f["location"]["path"]) for f in report["findings"]}
