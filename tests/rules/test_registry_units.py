"""The registry on hand-built services: findings sorted, config applied."""

from __future__ import annotations

from rulebuild import at, project, service

from leastcap.rules.registry import check_project


def test_check_project_sorted_and_config_applied() -> None:
    from leastcap.config import parse_config

    proj = project(service(privileged=at(True, 4, 17), pid=at("host", 5, 10)))
    all_findings = check_project(proj)
    assert [(f.rule, f.location.line) for f in all_findings] == [
        ("no-new-privileges", 2),
        ("privileged", 4),
        ("host-namespace", 5),
    ]
    config = parse_config("rules:\n  no-new-privileges: {enabled: false}\n  host-namespace: {severity: critical}\n")
    configured = check_project(proj, config)
    assert [(f.rule, f.severity.label) for f in configured] == [
        ("privileged", "critical"),
        ("host-namespace", "critical"),
    ]
