"""Measured knowledge data: the schema, the checks beyond it, and the harness's pure parts.

The measured entries themselves are pinned (measured again) by test_measured_programs.py; here
every stored entry is validated, and invalid ones are refused with the reason.
"""

from __future__ import annotations

import copy
import os
import subprocess
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
from leastcap.measure.debian import Recipe, debian_mirror, remove_root
from leastcap.measure.harness import (
    PROGRAM_LABEL,
    MeasureError,
    compose_text,
    probe_options,
    removal_from_runs,
    rule_of,
    rule_options,
)
from leastcap.measure.programs import BY_NAME, PROGRAMS
from support.components import require

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
        {
            "capability": "CHOWN",
            "decision": "required",
            "processes": ["nginx"],
            "frames": ["setattr_prepare"],
            "syscalls": ["chown"],
        }
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
        (
            "result.rule",
            "loose",
            "test: invalid measured entry at result/rule: 'loose' is not one of ['exercised', 'functional']",
        ),
        ("probe", None, "test: invalid measured entry at (top): 'probe' is a required property"),
        ("result.cap_add", ["SETUID", "CHOWN"], "test: result.cap_add is not sorted"),
        ("result.cap_add", ["CHOWN", "SETUID", "NET_RAW"], "test: result.cap_add is not sorted"),
        (
            "result.cap_add",
            ["CHOWN", "NET_RAW", "SETUID"],
            "test: result.removals ['CHOWN', 'SETUID'] must name each of cap_add ['CHOWN', 'NET_RAW', 'SETUID'] once",
        ),
        (
            "result.cap_add",
            ["CHOWN", "SETUID", "SPACE_TRAVEL"],
            "test: 'SPACE_TRAVEL' is not a capability's short name",
        ),
        ("package", "nginx-core", "test: package 'nginx-core' is not among packages"),
        (
            "measured_with.date",
            "4 Dec 2026",
            "test: invalid measured entry at measured_with/date: '4 Dec 2026' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'",
        ),
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


def test_every_stored_entry_is_valid_and_reproducible_by_the_harness() -> None:
    stored = builtin_measurements()
    assert [m.program for m in stored] == sorted(p.stem for p in MEASURED_DIR.glob("*.yaml"))
    families = {e.family for e in builtin_entries()}
    for m in stored:
        program = BY_NAME[m.program]  # the harness can measure it again
        assert (m.package, m.packages, m.command, m.note, m.probe, m.proves) == (
            program.package,
            program.packages,
            program.command,
            program.note,
            program.probe,
            program.proves,
        )
        assert m.differs == tuple(text for text, _ in program.differs)
        assert m.rule == (program.rule or m.rule)
        assert m.family == program.family
        assert not m.family or m.family in families
        assert m in measured_for_family(m.family) or not m.family


def test_every_program_of_the_catalogue_has_a_stored_entry() -> None:
    assert sorted(p.name for p in PROGRAMS) == sorted(m.program for m in builtin_measurements())


def test_the_compose_file_labels_the_service_for_the_probe() -> None:
    program = BY_NAME["nginx"]
    assert yaml.safe_load(compose_text(program, "leastcap-measure/nginx:latest")) == {
        "services": {
            "nginx": {
                "image": "leastcap-measure/nginx:latest",
                "command": ["nginx", "-g", "daemon off;"],
                "labels": {PROGRAM_LABEL: "nginx"},
            }
        }
    }


def test_the_probe_runs_inside_the_container_either_way() -> None:
    program = BY_NAME["chrony"]
    assert probe_options(program, "  --probe-exec TEXT  Shell command run inside") == [
        "--probe-exec",
        "chronyc -n tracking | grep -q '^Reference ID'",
    ]
    assert probe_options(program, "  --probe TEXT") == [
        "--probe",
        "docker exec $(docker ps -q --filter label=org.leastcap.measure.program=chrony --filter status=running"
        " | head -n1) sh -c 'chronyc -n tracking | grep -q '\"'\"'^Reference ID'\"'\"''",
    ]
    assert rule_of("--keep-exercised  With a probe, still fail") == "functional"
    assert rule_of("--probe TEXT") == "exercised"


def test_a_stored_entry_is_measured_again_with_its_own_rule() -> None:
    functional_default = "--probe-exec TEXT ... --keep-exercised  With a probe, still fail"
    assert rule_options(None, functional_default) == ("functional", [])
    assert rule_options("exercised", functional_default) == ("exercised", ["--keep-exercised"])
    assert rule_options("exercised", "--probe TEXT") == ("exercised", [])
    with pytest.raises(MeasureError) as err:
        rule_options("functional", "--probe TEXT")
    assert str(err.value) == "this leastcap cannot measure with the functional rule (its rule is exercised)"


def test_a_removal_is_taken_from_a_failed_run_with_every_other_kept_capability() -> None:
    runs = [
        {"cap_add": ["CHOWN", "SETGID", "SETUID"], "passed": True, "reason": "still running"},
        {"cap_add": ["SETGID", "SETUID"], "passed": False, "reason": "exited with code 1"},
        {"cap_add": ["CHOWN", "SETGID", "SETUID", "KILL"], "passed": False, "reason": "not this one"},
        {"cap_add": ["CHOWN"], "passed": False, "reason": "lacks SETGID too"},
        {"cap_add": ["CHOWN", "SETGID"], "passed": False, "reason": "probe failed (exit code 124)"},
    ]
    final = {"CHOWN", "SETGID", "SETUID"}
    assert removal_from_runs("CHOWN", final, runs) == {
        "capability": "CHOWN",
        "cap_add": ["SETGID", "SETUID"],
        "failed": "exited with code 1",
    }
    assert removal_from_runs("SETUID", final, runs) == {
        "capability": "SETUID",
        "cap_add": ["CHOWN", "SETGID"],
        "failed": "probe failed (exit code 124)",
    }
    assert removal_from_runs("SETGID", final, runs) is None  # no such run: the harness verifies it


def test_the_mirror_is_the_hosts_debian_source_for_the_suite(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert debian_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert debian_mirror("trixie", tmp_path) == "http://deb.debian.org/debian"
    assert debian_mirror("bookworm", tmp_path / "missing") == "http://deb.debian.org/debian"


def test_a_recipe_key_changes_with_the_package_set_not_its_order() -> None:
    a = Recipe("t:1", ("nginx", "curl"))
    assert a.key == Recipe("t:2", ("curl", "nginx")).key
    assert a.key != Recipe("t:1", ("nginx",)).key
    assert a.key != Recipe("t:1", ("nginx", "curl"), suite="trixie").key


def test_explain_image_shows_the_measurement_of_the_family_beside_its_documented_entry() -> None:
    from click.testing import CliRunner

    from leastcap.cli.main import cli

    m = load_measured_file(MEASURED_DIR / "openvpn.yaml")
    result = CliRunner().invoke(cli, ["explain-image", "kylemanna/openvpn", "--no-inspect"])
    assert result.exit_code == 0
    tail = result.output.rstrip("\n").split("\n")[-6:]
    assert tail == [
        f"measured ({m.date}, {m.leastcap}, kernel {m.kernel}; Debian's build, not this image):"
        f" openvpn from openvpn {m.version} (bookworm)",
        "    cap_add: NET_ADMIN (with cap_drop ALL and no-new-privileges; functional rule)",
        "    devices: /dev/net/tun",
        "    probe: tun0 exists with the address 10.8.0.1 that openvpn configured",
        "    without NET_ADMIN: exited with code 1 (the recording was still running after 5s)",
        "    data: src/leastcap/knowledge/measured/openvpn.yaml (bench/measure_images.py openvpn)",
    ]
    unknown = CliRunner().invoke(cli, ["explain-image", "example.invalid/nothing", "--no-inspect"])
    assert "measured (" not in unknown.output


def test_a_build_root_is_removed_without_reaching_through_a_mount_left_in_it(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "root (to bind-mount inside a build root)")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host file")
    root = tmp_path / "root"
    # debootstrap can leave /proc or a bound /dev mounted when it fails; a space in the mount
    # point's name is octal-escaped in mountinfo.
    for name in ("dev", "has space"):
        (root / name).mkdir(parents=True)
        subprocess.run(["mount", "--bind", str(outside), str(root / name)], check=True)
    remove_root(root)
    assert not root.exists()
    assert (outside / "keep").read_text() == "host file"
