"""The no-new-privileges rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import at, brief, run, service


def test_no_new_privileges_forms_and_last_wins() -> None:
    missing = run("no-new-privileges", service())
    assert brief(missing) == [("no-new-privileges", "low", 2, 3)]
    for good in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=1", "no-new-privileges=T"):
        assert run("no-new-privileges", service(security_opt=(at(good, 5),))) == [], good
    off = run(
        "no-new-privileges",
        service(security_opt=(at("no-new-privileges:true", 5), at("no-new-privileges=false", 6, 9))),
    )
    assert brief(off) == [("no-new-privileges", "low", 6, 9)]
    assert off[0].message.startswith("service 'web' switches no-new-privileges off (no-new-privileges=false)")
    bad = run("no-new-privileges", service(security_opt=(at("no-new-privileges:yes", 5, 9),)))
    assert "which the daemon refuses" in bad[0].message
    on_again = service(security_opt=(at("no-new-privileges:false", 5), at("no-new-privileges", 6)))
    assert run("no-new-privileges", on_again) == []
