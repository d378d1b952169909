"""The missing-cap-drop rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import at, brief, run, service


def test_missing_cap_drop() -> None:
    found = run("missing-cap-drop", service())
    assert brief(found) == [("missing-cap-drop", "medium", 2, 3)]
    assert found[0].message == (
        "service 'web' has no cap_drop: [ALL] and keeps Docker's default capabilities (CHOWN, DAC_OVERRIDE, "
        "FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, "
        "AUDIT_WRITE, SETFCAP)"
    )
    partial = run("missing-cap-drop", service(cap_drop=(at("NET_RAW", 5), at("mknod", 6))))
    assert partial[0].message.startswith("service 'web' drops only some capabilities and keeps 12 of Docker's")
    assert run("missing-cap-drop", service(cap_drop=(at("all", 5),))) == []
    assert run("missing-cap-drop", service(privileged=at(True, 4))) == []
    assert run("missing-cap-drop", service(cap_add=(at("ALL", 4),), cap_drop=(at("ALL", 5),))) == []
    every = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    ]
    assert run("missing-cap-drop", service(cap_drop=tuple(at(c, 5) for c in every))) == []
    # privileged: false is not privileged
    assert len(run("missing-cap-drop", service(privileged=at(False, 4)))) == 1
