"""Rules and suppression on projects the real loader builds: variables, profiles, aliases, inline
ignores in real files and a real .leastcap.yml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from leastcap.config import resolve_config
from leastcap.loader.api import LoadOptions, load_project
from leastcap.model import Confidence, Finding, Project
from leastcap.rules.registry import check_project
from leastcap.suppress import apply

COMPOSE = """\
x-priv: &priv
  privileged: true

services:
  agent:
    image: agent
    privileged: ${AGENT_PRIVILEGED:-true}
  web:  # leastcap: ignore[no-new-privileges,missing-cap-drop] nginx master drops to the worker user
    <<: *priv
    image: nginx
  debug:
    image: busybox
    profiles: [debug]
    pid: host  # leastcap: ignore[host-namespace] todo
    volumes:
      - ${SOCK:-/var/run/docker.sock}:/var/run/docker.sock
"""
CONFIG = """\
rules:
  missing-cap-drop: {enabled: false}
exceptions:
  - rule: docker-socket
    project: "*"
    service: debug
    justification: the debug profile inspects containers on developer machines only
    approved_by: platform-team
    expires: 2027-03-31
  - rule: privileged
    service: agent
    justification: kernel module loader for the storage driver
    approved_by: storage-team
    expires: 2025-12-31
"""


def load(tmp_path: Path, environ: dict[str, str] | None = None) -> Project:
    (tmp_path / "compose.yml").write_text(COMPOSE)
    result = load_project(LoadOptions(working_dir=str(tmp_path), environ=environ or {}))
    assert result.errors == () and result.project is not None
    return result.project


def lines(path: str) -> Sequence[str] | None:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return None


def view(findings: list[Finding]) -> list[tuple[str, str, int, str, str | None]]:
    return [
        (Path(f.location.path).name, f.rule, f.location.line, f.service, f.suppressed.by if f.suppressed else None)
        for f in findings
    ]


def test_messages_follow_variables_profiles_and_aliases(tmp_path: Path) -> None:
    findings = {(f.rule, f.service): f for f in check_project(load(tmp_path))}
    agent = findings[("privileged", "agent")]
    assert agent.confidence is Confidence.MEDIUM
    assert agent.message.endswith("(privileged is true unless ${AGENT_PRIVILEGED} is set to false)")
    web = findings[("privileged", "web")]
    assert (web.location.line, web.location.column, web.confidence) == (2, 3, Confidence.HIGH)
    assert [(r.line, r.column, r.note) for r in web.related] == [(9, 9, "alias *priv")]
    socket = findings[("docker-socket", "debug")]
    assert socket.confidence is Confidence.MEDIUM
    assert socket.message.endswith("(depends on ${SOCK}; only with profile debug)")
    assert findings[("host-namespace", "debug")].message.endswith("(only with profile debug)")


def test_environment_decides(tmp_path: Path) -> None:
    project = load(tmp_path, {"AGENT_PRIVILEGED": "false", "SOCK": "/srv/sock"})
    rules = {(f.rule, f.service) for f in check_project(project)}
    assert ("privileged", "agent") not in rules
    assert ("docker-socket", "debug") not in rules


def test_suppression_pass_on_real_files(tmp_path: Path) -> None:
    project = load(tmp_path)
    (tmp_path / ".leastcap.yml").write_text(CONFIG)
    config = resolve_config([str(tmp_path)], cwd=str(tmp_path))
    findings = check_project(project, config)
    out = apply(findings, config, lines, dt.date(2026, 6, 1), [project])
    assert view(out) == [
        (".leastcap.yml", "exception-expired", 14, "", None),
        ("compose.yml", "privileged", 2, "web", None),
        ("compose.yml", "no-new-privileges", 5, "agent", None),
        ("compose.yml", "privileged", 7, "agent", None),
        ("compose.yml", "no-new-privileges", 8, "web", "inline"),
        ("compose.yml", "no-new-privileges", 11, "debug", None),
        ("compose.yml", "host-namespace", 14, "debug", None),
        ("compose.yml", "exception-invalid", 14, "", None),
        ("compose.yml", "docker-socket", 16, "debug", "exception"),
    ]
    invalid = next(f for f in out if f.rule == "exception-invalid")
    assert invalid.message == (
        "inline ignore[host-namespace] is not honoured: its reason is not acceptable: 'todo' is a placeholder"
    )
    assert invalid.location.column == 16
