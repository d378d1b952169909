"""The registry on hand-built services: findings sorted, config applied."""

from __future__ import annotations

from rulebuild import PATH, at, project, service

from leastcap.pipeline import Judged
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


def test_every_rule_kind_is_switched_off_and_reweighted_the_same_way() -> None:
    # A comparison rule (drift) and a governance rule (exception-unused) through the pipeline, with
    # the same `rules:` settings a service rule takes: no special case for either kind.
    from leastcap.config import parse_config
    from leastcap.pipeline import Context, evaluate
    from leastcap.rules.base import Comparison

    running = service(privileged=at(True, 4, 17))
    pair = Comparison(running=running, running_project=project(running), declared=service())
    ignored = project(service())
    lines = {PATH: ["services:", "  web:  # leastcap: ignore[privileged] kept for the kernel module"]}
    context = Context(comparisons=(pair,), source_lines=lines.get)

    def judged(settings: str) -> list[tuple[str, str]]:
        report = evaluate([Judged(ignored, ())], parse_config(settings), context)
        return sorted((f.rule, f.severity.label) for f in report.findings)

    assert judged("") == [("drift", "high"), ("exception-unused", "low")]
    assert judged("rules:\n  drift: {severity: critical}\n  exception-unused: {severity: high}\n") == [
        ("drift", "critical"),
        ("exception-unused", "high"),
    ]
    assert judged("rules:\n  drift: {enabled: false}\n  exception-unused: {enabled: false}\n") == []
