"""The suppression pass: inline ignores, exceptions, and the exception-* findings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from leastcap.config import parse_config
from leastcap.model import Confidence, Finding, Location, Project, Service, Severity, SourceKind, Suppression
from leastcap.suppress import apply, parse_inline

TODAY = dt.date(2026, 6, 1)
COMPOSE = """\
services:
  web:  # leastcap: ignore[no-new-privileges] nginx image relies on setuid for its workers
    image: nginx
    privileged: true  # leastcap: ignore[privileged] hardware agent, see SEC-12
    pid: host  # leastcap: ignore[host-namespace]
    ipc: host  # leastcap: ignore[host-namespace,cap-add-all] needs the host IPC for shm
  db:
    image: postgres
    cap_add: [SYS_NICE]  #leastcap:ignore[dangerous-capability]   mbind warnings otherwise
    user: "1000"  # leastcap: ignore[no-such-rule] misspelled rule name
"""


def finding(rule: str, line: int, column: int, service: str = "web", severity: Severity = Severity.HIGH) -> Finding:
    return Finding(
        rule,
        severity,
        Confidence.HIGH,
        f"{rule} at {line}",
        Location("compose.yml", line, column),
        project="proj",
        service=service,
    )


def projects() -> list[Project]:
    web = Service("web", "proj", SourceKind.FILE, Location("compose.yml", 2, 3), files=("compose.yml",))
    db = Service("db", "proj", SourceKind.FILE, Location("compose.yml", 7, 3), files=("compose.yml",))
    return [Project("proj", ("compose.yml",), "/w", (web, db))]


def lines(path: str) -> Sequence[str] | None:
    files = {"compose.yml": COMPOSE.splitlines()}
    return files.get(path)


def summary(findings: list[Finding]) -> list[tuple[str, int, int, str | None]]:
    return [(f.rule, f.location.line, f.location.column, f.suppressed.by if f.suppressed else None) for f in findings]


def test_parse_inline() -> None:
    found = parse_inline("compose.yml", COMPOSE.splitlines())
    assert [(i.location.line, i.location.column, i.rules, i.reason, i.problem) for i in found] == [
        (2, 9, ("no-new-privileges",), "nginx image relies on setuid for its workers", None),
        (4, 23, ("privileged",), "hardware agent, see SEC-12", None),
        (5, 16, ("host-namespace",), "", "its reason is not acceptable: it is empty"),
        (6, 16, ("host-namespace", "cap-add-all"), "needs the host IPC for shm", None),
        (9, 26, ("dangerous-capability",), "mbind warnings otherwise", None),
        (10, 19, ("no-such-rule",), "misspelled rule name", "it names unknown rule(s) no-such-rule"),
    ]
    # not a comment: no whitespace before '#'
    assert parse_inline("x", ["image: a#leastcap: ignore[privileged] a real reason here"]) == []


def test_inline_on_line_and_on_service_key() -> None:
    findings = [
        finding("no-new-privileges", 2, 3),  # on the key line itself
        finding("privileged", 4, 17),
        finding("host-namespace", 5, 10),  # ignore without reason: not honoured
        finding("host-namespace", 6, 10),
        finding("missing-cap-drop", 2, 3),  # key-line ignore names another rule
        finding("no-new-privileges", 7, 3, service="db"),
        finding("dangerous-capability", 9, 15, service="db"),
    ]
    out = apply(findings, None, lines, TODAY, projects())
    assert summary(out) == [
        ("missing-cap-drop", 2, 3, None),
        ("no-new-privileges", 2, 3, "inline"),
        ("privileged", 4, 17, "inline"),
        ("host-namespace", 5, 10, None),
        ("exception-invalid", 5, 16, None),
        ("host-namespace", 6, 10, "inline"),
        ("exception-unused", 6, 16, None),
        ("no-new-privileges", 7, 3, None),
        ("dangerous-capability", 9, 15, "inline"),
        ("exception-invalid", 10, 19, None),
    ]
    by_rule = {(f.rule, f.location.line): f for f in out}
    assert by_rule[("privileged", 4)].suppressed == Suppression(
        by="inline", justification="hardware agent, see SEC-12", location=Location("compose.yml", 4, 23)
    )
    assert by_rule[("exception-invalid", 5)].message == (
        "inline ignore[host-namespace] is not honoured: its reason is not acceptable: it is empty"
    )
    assert by_rule[("exception-invalid", 5)].severity is Severity.MEDIUM
    assert by_rule[("exception-unused", 6)].message == (
        "inline ignore[cap-add-all] matches no finding on this line or in this service"
    )
    assert by_rule[("exception-unused", 6)].severity is Severity.LOW


def test_key_line_ignore_covers_the_whole_service() -> None:
    out = apply([finding("no-new-privileges", 30, 9)], None, lines, TODAY, projects())
    assert summary(out)[-1] == ("no-new-privileges", 30, 9, "inline")


def test_service_key_ignore_needs_projects() -> None:
    # without projects the key line is unknown: only the finding's own line counts
    out = apply([finding("no-new-privileges", 30, 9)], None, lines, TODAY)
    assert ("no-new-privileges", 30, 9, None) in summary(out)


CONFIG = """\
rules:
  exception-unused: {severity: medium}
exceptions:
  - rule: host-namespace
    project: "pro*"
    service: web
    justification: monitoring agent needs the host PID namespace
    approved_by: alice
    expires: 2026-06-01
    ticket: OPS-7
  - rule: privileged
    service: "*"
    justification: was needed for the old kernel module driver
    approved_by: bob
    expires: 2026-05-31
  - rule: docker-socket
    service: traefik
    justification: reads container labels until the proxy lands
    approved_by: carol
    expires: 2027-01-01
  - rule: dangerous-capability
    service: db
    justification: n/a
"""


def test_exceptions_honoured_expired_unused_invalid() -> None:
    config = parse_config(CONFIG, ".leastcap.yml")
    findings = [
        finding("host-namespace", 5, 10),
        finding("privileged", 4, 17),
        finding("dangerous-capability", 9, 15, service="db"),
    ]
    out = apply(findings, config, lambda _path: None, TODAY, projects())
    assert summary(out) == [
        ("exception-expired", 15, 14, None),
        ("exception-unused", 16, 5, None),
        ("exception-invalid", 21, 5, None),
        ("privileged", 4, 17, None),  # its exception expired yesterday: active again
        ("host-namespace", 5, 10, "exception"),  # expires today: still valid
        ("dangerous-capability", 9, 15, None),
    ]
    meta = {f.rule: f for f in out if f.rule.startswith("exception-")}
    assert (
        meta["exception-unused"].message == "exception for rule 'docker-socket' (service 'traefik') matches no finding"
    )
    assert meta["exception-unused"].severity is Severity.MEDIUM  # severity override from rules:
    assert meta["exception-expired"].message == (
        "exception for rule 'privileged' (service '*') expired on 2026-05-31; its findings are active again"
    )
    assert meta["exception-invalid"].message == (
        "exception for rule 'dangerous-capability' (service 'db') is not honoured: its justification is not "
        "acceptable: 'n/a' is a placeholder; approved_by is missing; expires is missing"
    )
    assert meta["exception-invalid"].location == Location(".leastcap.yml", 21, 5)
    suppressed = next(f for f in out if f.rule == "host-namespace").suppressed
    assert suppressed == Suppression(
        by="exception",
        justification="monitoring agent needs the host PID namespace",
        approved_by="alice",
        expires="2026-06-01",
        ticket="OPS-7",
        location=Location(".leastcap.yml", 4, 5),
    )


def test_project_glob_must_match() -> None:
    config = parse_config(CONFIG.replace('"pro*"', '"other-*"'), ".leastcap.yml")
    out = apply([finding("host-namespace", 5, 10)], config, lambda _path: None, TODAY)
    assert ("host-namespace", 5, 10, None) in summary(out)
    assert ("exception-unused", 4, 5, None) in summary(out)


def test_disabled_meta_rule_and_disabled_rule_are_not_reported_unused() -> None:
    config = parse_config(
        "rules:\n  exception-expired: {enabled: false}\n  docker-socket: {enabled: false}\n"
        + CONFIG.split("rules:\n  exception-unused: {severity: medium}\n")[1],
        ".leastcap.yml",
    )
    out = apply([finding("host-namespace", 5, 10)], config, lambda _path: None, TODAY)
    assert [f.rule for f in out if f.rule.startswith("exception-")] == ["exception-invalid"]


def test_inline_beats_exception_and_both_count_as_used() -> None:
    config = parse_config(CONFIG, ".leastcap.yml")
    out = apply([finding("host-namespace", 6, 10)], config, lines, TODAY, projects())
    target = next(f for f in out if f.rule == "host-namespace")
    assert target.suppressed is not None and target.suppressed.by == "inline"
    assert not any(
        f.rule == "exception-unused" and f.location.path == ".leastcap.yml" and f.location.line == 4 for f in out
    )
