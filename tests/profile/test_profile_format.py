"""The profile file round-trips, is validated, and refuses what it cannot read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leastcap.profile.format import (
    CapabilityEvidence,
    ProcessCount,
    Profile,
    ProfileFormatError,
    Recording,
    VerificationRun,
    dumps_profile,
    read_profile,
    write_profile,
)


def sample() -> Profile:
    return Profile(
        version=1,
        compose_files=("/srv/vpn/compose.yaml",),
        working_dir="/srv/vpn",
        project="vpn",
        service="vpn",
        image="example/vpn:1.2",
        cap_add=("NET_ADMIN",),
        devices=(),
        sysctls={},
        security_opt=("no-new-privileges:true",),
        evidence=(
            CapabilityEvidence(
                capability="NET_ADMIN",
                decision="required",
                reason="2 audited checks granted",
                granted=2,
                processes=(ProcessCount("ip", 2),),
                frames=("rtnl_newlink",),
                syscalls=("sendmsg",),
            ),
        ),
        verified=True,
        minimized=False,
        verification=(VerificationRun(("NET_ADMIN",), True, "still running after 2.0s"),),
        recording=Recording(
            mode="compose",
            source="tracepoint",
            kernel="6.18.44",
            duration_seconds=2.0,
            privileged=False,
            granted=("CHOWN", "NET_ADMIN"),
            unavailable=("SYS_RESOURCE",),
            events=41,
            lost_events=0,
        ),
        notes=("CAP_SYS_RESOURCE is not in this host's bounding set",),
        tool="leastcap 0.1.0",
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_profile(sample(), path)
    assert read_profile(path) == sample()
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["cap_add"] == ["NET_ADMIN"]
    assert data["cap_drop"] == ["ALL"]
    assert data["evidence"][0]["processes"] == [{"comm": "ip", "count": 2}]


def test_unknown_version_refused(tmp_path: Path) -> None:
    data = json.loads(dumps_profile(sample()))
    data["version"] = 2
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileFormatError, match="version 2 is not supported"):
        read_profile(path)


def test_unknown_capability_refused(tmp_path: Path) -> None:
    data = json.loads(dumps_profile(sample()))
    data["cap_add"] = ["NET_ADMINN"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileFormatError, match="invalid profile at cap_add/0"):
        read_profile(path)


def test_missing_field_refused(tmp_path: Path) -> None:
    data = json.loads(dumps_profile(sample()))
    del data["service"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ProfileFormatError, match="'service' is a required property"):
        read_profile(path)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{")
    with pytest.raises(ProfileFormatError, match="not JSON"):
        read_profile(path)


def test_human_summary() -> None:
    from leastcap.cli.profile_cmd import summary

    assert summary(sample()).splitlines() == [
        "vpn/vpn: cap_drop [ALL], cap_add ['NET_ADMIN']",
        "  recorded 2s with 2 capabilities (still running), 41 checks kept",
        "  not grantable here: SYS_RESOURCE",
        "  keep NET_ADMIN            required: 2 audited checks granted",
        "       by ip x2; at rtnl_newlink [sendmsg]",
        "  verify ['NET_ADMIN']: pass (still running after 2.0s)",
        "  verified: yes",
        "  note: CAP_SYS_RESOURCE is not in this host's bounding set",
    ]


def test_verification_fields_round_trip_and_older_profiles_read_with_defaults(tmp_path: Path) -> None:
    from dataclasses import replace

    from leastcap.cli.profile_cmd import summary
    from leastcap.profile.format import Exercised, PrivilegedHelper

    full = replace(
        sample(),
        minimize_seconds=12.5,
        verification=(
            VerificationRun(
                ("NET_ADMIN",),
                True,
                "the probe passed",
                3.25,
                False,
                ("MKNOD: mknod's mknodat x1",),
                "the probe passed",
            ),
        ),
        exercised=(Exercised("MKNOD", "mknod", "mknodat", ("vfs_mknod",), 1),),
        helpers=(PrivilegedHelper("/usr/lib/squid/pinger", "file-capabilities", ("NET_RAW",), ("NET_RAW",), "helper"),),
        recording=replace(sample().recording, probe_exec="true", expect_exit=3, failure="exit 1", warmup_seconds=0.5),
    )
    path = tmp_path / "p.json"
    write_profile(full, path)
    assert read_profile(path) == full
    assert (
        "  verify ['NET_ADMIN'] without no-new-privileges: pass (the probe passed, 3.25s)" in summary(full).splitlines()
    )
    assert (
        "  without MKNOD: mknod's mknodat is denied (x1, at vfs_mknod); the service kept working"
        in summary(full).splitlines()
    )
    # A profile written before these fields existed is read with their defaults.
    data = json.loads(path.read_text())
    for key in ("minimize_seconds", "exercised", "helpers"):
        del data[key]
    for key in ("probe_exec", "expect_exit", "failure", "warmup_seconds"):
        del data["recording"][key]
    for key in ("seconds", "no_new_privileges", "denials", "ended_early"):
        del data["verification"][0][key]
    path.write_text(json.dumps(data))
    old = read_profile(path)
    assert (old.minimize_seconds, old.exercised, old.helpers, old.recording.failure) == (None, (), (), None)
    assert old.verification == (VerificationRun(("NET_ADMIN",), True, "the probe passed"),)


def test_summary_defuses_what_came_from_the_container() -> None:
    from dataclasses import replace

    from leastcap.cli.profile_cmd import summary

    hostile = replace(sample(), notes=("the service exec'd /bin/\x1b[2Jx\x07",))
    assert summary(hostile).splitlines()[-1] == "  note: the service exec'd /bin/\\x1b[2Jx\\x07"
