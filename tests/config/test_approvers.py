"""`approvers:` in .leastcap.yml: only the people or teams it lists may approve an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leastcap.config import ConfigError, parse_config
from support.cli import invoke_in

COMPOSE = """\
services:
  vpn:
    image: example/vpn
    privileged: true
  agent:
    image: example/agent
    pid: host
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
"""

CONFIG = """\
approvers:
  - alice
  - "@acme/security"
exceptions:
  - rule: privileged
    service: vpn
    justification: kernel WireGuard module is loaded by the host, tunnel needs privileged today
    approved_by: "@ACME/Security"
    expires: 2099-01-31
  - rule: host-namespace
    service: agent
    justification: monitoring agent reads every host process through the host PID namespace
    approved_by: mallory
    expires: 2099-01-31
"""


def scan_json(tmp_path: Path, config: str) -> tuple[int, dict[str, object]]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / ".leastcap.yml").write_text(config)
    result = invoke_in(tmp_path, "scan", ".", "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def rows(report: dict[str, object]) -> list[tuple[str, str, int, int, str | None]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [
        (
            f["rule"],
            f["location"]["path"],
            f["location"]["line"],
            f["location"]["column"],
            f["suppressed"]["by"] if f.get("suppressed") else None,
        )
        for f in findings
        if f["rule"] in {"privileged", "host-namespace", "exception-invalid"}
    ]


def test_an_approver_may_approve_and_anyone_else_may_not(tmp_path: Path) -> None:
    code, report = scan_json(tmp_path, CONFIG)
    assert code == 1  # the host-namespace finding is active again: its approver is not entitled
    assert rows(report) == [
        ("exception-invalid", ".leastcap.yml", 10, 5, None),
        ("privileged", "compose.yaml", 4, 5, "exception"),
        ("host-namespace", "compose.yaml", 7, 5, None),
    ]
    invalid = next(f for f in report["findings"] if f["rule"] == "exception-invalid")  # type: ignore[union-attr]
    assert invalid["message"] == (
        "exception for rule 'host-namespace' (service 'agent') is not honoured: approved_by 'mallory' is not "
        "one of the approvers (who may approve: alice, @acme/security)"
    )
    vpn = next(f for f in report["findings"] if f["rule"] == "privileged")  # type: ignore[union-attr]
    assert vpn["suppressed"]["approved_by"] == "@ACME/Security"


def test_without_approvers_any_named_approver_is_accepted(tmp_path: Path) -> None:
    code, report = scan_json(tmp_path, "exceptions:\n" + CONFIG.split("exceptions:\n", 1)[1])
    assert code == 0
    assert rows(report) == [
        ("privileged", "compose.yaml", 4, 5, "exception"),
        ("host-namespace", "compose.yaml", 7, 5, "exception"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("approvers: []\n", "approvers: [] should be non-empty"),
        ("approvers: [alice, alice]\n", "approvers: ['alice', 'alice'] has non-unique elements"),
        ("approvers: ['  ']\n", "approvers[0]: '  ' is not a name (it is blank)"),
        ("approvers: alice\n", "approvers: 'alice' is not of type 'array'"),
    ],
)
def test_the_approvers_list_is_validated(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yml")
    assert [(p.message, p.line) for p in info.value.problems] == [(message, 1)]


def test_with_approvers_an_inline_ignore_is_not_an_acceptance(tmp_path: Path) -> None:
    """An inline ignore names no approver, so with approvers: set it would let any change accept
    its own privilege with one comment: it is reported and not honoured."""
    (tmp_path / "compose.yaml").write_text(
        COMPOSE.replace(
            "    pid: host\n", "    pid: host  # leastcap: ignore[host-namespace] metrics agent reads host processes\n"
        )
    )
    (tmp_path / ".leastcap.yml").write_text("approvers: [alice]\n")
    result = invoke_in(tmp_path, "scan", ".", "--format", "json")
    code, report = result.exit_code, json.loads(result.stdout)
    assert code == 1
    assert rows(report) == [
        ("privileged", "compose.yaml", 4, 5, None),
        ("host-namespace", "compose.yaml", 7, 5, None),
        ("exception-invalid", "compose.yaml", 7, 16, None),
    ]
    invalid = next(f for f in report["findings"] if f["rule"] == "exception-invalid")
    assert invalid["message"] == (
        "inline ignore[host-namespace] is not honoured: inline ignores name no approver; with approvers: in the "
        "config, accept it with an exception"
    )
