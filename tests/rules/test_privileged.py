"""The privileged rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, brief, run, service

from leastcap.model import Confidence, Hook, Location, SourceKind


def test_privileged_true_false_build_and_hooks() -> None:
    svc = service(
        privileged=at(True, 4, 17),
        build_privileged=at(True, 6, 19),
        hooks=(
            Hook("post_start", privileged=at(True, 9, 21)),
            Hook("pre_stop", privileged=at(False, 11, 21)),
        ),
    )
    found = run("privileged", svc)
    assert brief(found) == [
        ("privileged", "critical", 4, 17),
        ("privileged", "critical", 6, 19),
        ("privileged", "critical", 9, 21),
    ]
    assert found[0].message == (
        "service 'web' runs privileged: all capabilities, every host device, no seccomp or AppArmor, "
        "writable /sys and cgroups"
    )
    assert found[1].message.startswith("service 'web' builds its image privileged (build.privileged)")
    assert found[2].message.startswith("a post_start hook of service 'web' runs privileged")
    assert found[2].facts == (("hook", "post_start"),)
    assert all(f.confidence is Confidence.HIGH and f.project == "proj" and f.service == "web" for f in found)
    assert run("privileged", service(privileged=at(False, 4))) == []
    assert run("privileged", service()) == []


def test_privileged_from_variable_and_profile_and_via() -> None:
    via = (Location(PATH, 12, 9, "alias *priv"),)
    svc = service("agent", privileged=at(True, 4, 17, ("AGENT_PRIVILEGED",), via), enabled=False, profiles=("debug",))
    (finding,) = run("privileged", svc)
    assert finding.confidence is Confidence.MEDIUM
    assert finding.related == via
    assert finding.message.endswith(
        "(privileged is true unless ${AGENT_PRIVILEGED} is set to false; only with profile debug)"
    )


def test_container_sources_have_symbolic_locations() -> None:
    svc = service(source=SourceKind.CONTAINER, key=Location("container:abc", 0, 0), privileged=Located_symbolic())
    (finding,) = run("privileged", svc)
    assert (finding.location.line, finding.location.column) == (0, 0)


def Located_symbolic():
    from leastcap.model import Located

    return Located(True, Location("container:abc", 0, 0, "HostConfig.Privileged"))
