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
