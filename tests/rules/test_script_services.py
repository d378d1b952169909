"""Rules on services that come from scripts: settings a command cannot choose are not asked for."""

from __future__ import annotations

import pytest

from leastcap.model import Located, Location, Project, Service, SourceKind
from leastcap.rules.registry import check_project

KEY = Location("ci.yml", 4, 7)


def project_with(kind: str, *, privileged: bool = False, reason: str = "") -> Project:
    facts = (("script.kind", kind),) + ((("script.reason", reason),) if reason else ())
    service = Service(
        name="job/svc",
        project="ci.yml",
        source=SourceKind.SCRIPT,
        key=KEY,
        privileged=Located(True, Location("ci.yml", 5, 9)) if privileged else None,
        runtime_facts=facts,
    )
    return Project(name="ci.yml", files=("ci.yml",), working_dir="/", services=(service,), source=SourceKind.SCRIPT)


@pytest.mark.parametrize("kind", ["dockerfile-run", "compose-run", "gitlab-service"])
def test_no_cap_drop_or_nnp_demands_on_commands_that_cannot_set_them(kind: str) -> None:
    assert [f.rule for f in check_project(project_with(kind))] == []


@pytest.mark.parametrize("kind", ["docker-run", "podman-run", "github-container"])
def test_commands_that_choose_their_settings_are_asked(kind: str) -> None:
    assert [f.rule for f in check_project(project_with(kind))] == ["missing-cap-drop", "no-new-privileges"]


def test_privileged_message_carries_the_scripts_reason() -> None:
    reason = "docker:dind only works on a privileged runner"
    findings = check_project(project_with("gitlab-service", privileged=True, reason=reason))
    assert [(f.rule, f.location) for f in findings] == [("privileged", Location("ci.yml", 5, 9))]
    assert findings[0].message.endswith(f"({reason})")
