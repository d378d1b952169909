"""The drift rule (a comparison rule, leastcap.audit.drift) on hand-built (container, Compose
service) pairs: exact findings, messages, severities and places. The comparison of each setting is
in tests/audit/test_units.py; real containers in tests/audit/test_drift_containers.py."""

from __future__ import annotations

import datetime as dt

from rulebuild import at, project, service

from leastcap.audit.drift import DriftRule
from leastcap.model import Located, Location, Severity, SourceKind
from leastcap.rules.base import Comparison

CONTAINER = Location("local/app-web-1", 0, 0, "container")
CREATED = "2026-03-01T10:00:00.123456789Z"  # nanoseconds, as Docker writes it


def container(**fields: object) -> Comparison:
    running = service(source=SourceKind.CONTAINER, key=CONTAINER, **fields)
    return Comparison(running=running, running_project=project(running), declared=None, created=CREATED)


def brief(pair: Comparison) -> list[tuple[str, Severity, str, Location, tuple[Location, ...], str]]:
    return [
        (f.rule, f.severity, f.message, f.location, f.related, dict(f.facts)["drift_setting"])
        for f in DriftRule().compare(pair)
    ]


def test_a_container_no_compose_file_describes() -> None:
    assert brief(container()) == [
        (
            "drift",
            Severity.MEDIUM,
            "container 'app-web-1' was not created by Docker Compose: no Compose file describes its settings",
            CONTAINER,
            (),
            "compose",
        )
    ]


def test_a_service_gone_from_its_compose_files() -> None:
    pair = container()
    pair = Comparison(pair.running, pair.running_project, None, compose_files=("/srv/app/compose.yaml",))
    assert brief(pair) == [
        (
            "drift",
            Severity.MEDIUM,
            "service 'web' of Compose project 'proj' is no longer in its Compose files (/srv/app/compose.yaml):"
            " the container runs settings no file describes",
            CONTAINER,
            (),
            "service",
        )
    ]


def test_more_privilege_is_high_less_is_low_and_the_reason_follows_the_file_date() -> None:
    flag = Location("local/app-web-1", 0, 0, "HostConfig.Privileged")
    pair = container(privileged=Located(True, flag))
    declared = service(setting_keys=(("privileged", Location("compose.yml", 3, 5)),))
    created = dt.datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC).timestamp()
    recreate = "the Compose file changed after the container was created: recreate it (docker compose up -d)"
    other = (
        "the container was created with other settings than the current file"
        " (by hand, other -f files or another environment)"
    )
    changed = Comparison(pair.running, pair.running_project, declared, ("compose.yml",), CREATED, created + 1)
    assert brief(changed) == [
        (
            "drift",
            Severity.HIGH,
            f"the container runs privileged, the Compose file says not; {recreate}",
            flag,
            (Location("compose.yml", 3, 5),),
            "privileged",
        )
    ]
    # The file is older than the container: it was created some other way. The file is the
    # privileged side here: less privilege on the container, low.
    loosened = service(privileged=at(True, 3, 17))
    plain = container()
    older = Comparison(plain.running, plain.running_project, loosened, ("compose.yml",), CREATED, created - 1)
    assert brief(older) == [
        (
            "drift",
            Severity.LOW,
            f"the Compose file says privileged, the container does not run privileged (the file grants more); {other}",
            Location("local/app-web-1", 0, 0, "HostConfig.Privileged"),
            (Location("compose.yml", 3, 17),),
            "privileged",
        )
    ]
    assert DriftRule().compare(Comparison(plain.running, plain.running_project, service(), ("compose.yml",))) == []
