"""The cap-add-all rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, brief, run, service

from leastcap.model import Location


def test_cap_add_all_any_spelling_and_drop_all_does_not_undo() -> None:
    svc = service(cap_add=(at("all", 5, 9), at("NET_ADMIN", 6, 9), at("CAP_ALL", 7, 9)), cap_drop=(at("ALL", 9, 9),))
    (finding,) = run("cap-add-all", svc)
    assert brief([finding]) == [("cap-add-all", "critical", 5, 9)]
    assert finding.message == (
        "service 'web' adds ALL capabilities (cap_add: all); cap_drop: [ALL] does not "
        "undo it, moby applies cap_add ALL first"
    )
    assert finding.related == (Location(PATH, 9, 9, "cap_drop ALL (ignored)"),)
    assert run("cap-add-all", service(cap_add=(at("SYS_ADMIN", 5),))) == []
