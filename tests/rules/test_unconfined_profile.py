"""The unconfined-profile rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import at, brief, run, service


def test_unconfined_profile_forms() -> None:
    svc = service(
        security_opt=(
            at("seccomp:unconfined", 5, 9),
            at("apparmor=unconfined", 6, 9),
            at("label:disable", 7, 9),
            at("systempaths=unconfined", 8, 9),
            at("label:seccomp:unconfined", 9, 9),
            at("systempaths:unconfined", 10, 9),
            at("label=user:USER", 11, 9),
        )
    )
    found = run("unconfined-profile", svc)
    assert brief(found) == [("unconfined-profile", "high", line, 9) for line in (5, 6, 7, 8)]
    assert found[0].message.startswith(
        "service 'web' has security_opt seccomp:unconfined, which switches off the seccomp filter"
    )
    assert [dict(f.facts)["option"] for f in found] == ["seccomp", "apparmor", "label", "systempaths"]


def test_unconfined_profile_last_seccomp_wins() -> None:
    later_profile = service(security_opt=(at("seccomp=unconfined", 5), at("seccomp=./p.json", 6)))
    assert run("unconfined-profile", later_profile) == []
    later_unconfined = service(security_opt=(at("seccomp=./p.json", 5), at("seccomp:unconfined", 6, 9)))
    assert brief(run("unconfined-profile", later_unconfined)) == [("unconfined-profile", "high", 6, 9)]
    assert run("unconfined-profile", service(security_opt=(at("seccomp=builtin", 5),))) == []
