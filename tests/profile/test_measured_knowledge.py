"""Measured knowledge data: the schema, the checks beyond it, and the harness's pure parts.

The measured entries themselves are pinned (measured again) by test_measured_programs.py; here
every stored entry is validated, and invalid ones are refused with the reason.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from leastcap.knowledge.image_knowledge import builtin_entries
from leastcap.knowledge.measured import (
    MEASURED_DIR,
    MeasuredError,
    builtin_measurements,
    load_measured_file,
    measured_for_family,
    measurement_from_dict,
)

VALID: dict[str, Any] = {
    "program": "nginx",
    "title": "nginx (Debian package)",
    "source": "measured",
    "family": "nginx",
    "package": "nginx",
    "version": "1.22.1-9+deb12u9",
    "suite": "bookworm",
    "packages": ["nginx"],
    "service": {"command": ["nginx", "-g", "daemon off;"]},
    "probe": {"command": "true", "where": "container", "proves": "nothing, in this test"},
    "result": {
        "cap_add": ["CHOWN", "SETUID"],
        "devices": [],
        "sysctls": {},
        "verified": True,
        "rule": "exercised",
        "removals": [
            {"capability": "CHOWN", "cap_add": ["SETUID"], "failed": "exited with code 1"},
            {"capability": "SETUID", "cap_add": ["CHOWN"], "failed": "probe failed (exit code 124)"},
        ],
    },
    "evidence": [
        {"capability": "CHOWN", "decision": "required", "processes": ["nginx"], "frames": ["setattr_prepare"], "syscalls": ["chown"]}
    ],
    "measured_with": {
        "leastcap": "leastcap 0.1.0",
        "kernel": "6.18.44",
        "date": "2026-12-04",
        "recorder": "bpf",
        "duration_seconds": 5.1,
        "recording": "privileged",
    },
}


def _changed(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return data


def test_a_valid_entry_loads_with_every_field() -> None:
    m = measurement_from_dict(VALID, "test")
    assert (m.program, m.family, m.package, m.version, m.cap_add, m.rule) == (
        "nginx",
        "nginx",
        "nginx",
        "1.22.1-9+deb12u9",
        ("CHOWN", "SETUID"),
        "exercised",
    )
    assert m.no_new_privileges is True
    assert [(r.capability, r.failed) for r in m.removals] == [
        ("CHOWN", "exited with code 1"),
        ("SETUID", "probe failed (exit code 124)"),
    ]
    assert m.evidence[0].syscalls == ("chown",)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("source", "documented", "test: invalid measured entry at source: 'measured' was expected"),
        ("result.verified", False, "test: invalid measured entry at result/verified: True was expected"),
        ("result.rule", "loose", "test: invalid measured entry at result/rule: 'loose' is not one of ['exercised', 'functional']"),
        ("probe", None, "test: invalid measured entry at (top): 'probe' is a required property"),
        ("result.cap_add", ["SETUID", "CHOWN"], "test: result.cap_add is not sorted"),
        ("result.cap_add", ["CHOWN", "SETUID", "NET_RAW"], "test: result.cap_add is not sorted"),
        ("result.cap_add", ["CHOWN", "NET_RAW", "SETUID"], "test: result.removals ['CHOWN', 'SETUID'] must name each of cap_add ['CHOWN', 'NET_RAW', 'SETUID'] once"),
        ("result.cap_add", ["CHOWN", "SETUID", "SPACE_TRAVEL"], "test: 'SPACE_TRAVEL' is not a capability's short name"),
        ("package", "nginx-core", "test: package 'nginx-core' is not among packages"),
        ("measured_with.date", "4 Dec 2026", "test: invalid measured entry at measured_with/date: '4 Dec 2026' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"),
    ],
)
def test_invalid_entries_are_refused_with_the_reason(path: str, value: Any, message: str) -> None:
    with pytest.raises(MeasuredError) as err:
        measurement_from_dict(_changed(path, value), "test")
    assert str(err.value) == message


def test_a_file_must_be_named_after_its_program(tmp_path: Path) -> None:
    path = tmp_path / "bind9.yaml"
    path.write_text(yaml.safe_dump(VALID))
    with pytest.raises(MeasuredError) as err:
        load_measured_file(path)
    assert str(err.value) == "knowledge/measured/bind9.yaml: program is 'nginx', not 'bind9'"


def test_every_stored_entry_is_valid_and_names_a_known_family() -> None:
    stored = builtin_measurements()
    assert [m.program for m in stored] == sorted(p.stem for p in MEASURED_DIR.glob("*.yaml"))
    families = {e.family for e in builtin_entries()}
    for m in stored:
        assert not m.family or m.family in families
        assert not m.family or m in measured_for_family(m.family)
