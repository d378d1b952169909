"""`leastcap scan --format json` shows each finding's fix: what `leastcap fix --all` would change for
its service, and how safe that is. Through the real CLI, loader, rules and planner."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from support.cli import invoke_in

SCHEMA = json.loads(resources.files("leastcap").joinpath("schemas/report-v1.schema.json").read_text())
NNP_ADD = {"action": "add", "key": "security_opt", "value": "no-new-privileges:true", "comment": "", "location": None}
DEFAULTS = (
    "CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, "
    "SYS_CHROOT, KILL, AUDIT_WRITE"
)


def where(path: str, line: int, column: int) -> dict[str, Any]:
    return {"path": path, "line": line, "column": column, "note": ""}


def scan(tmp_path: Path, compose: str, config: str | None = None, *args: str) -> tuple[int, dict[str, Any]]:
    (tmp_path / "compose.yaml").write_text(compose)
    if config is not None:
        (tmp_path / ".leastcap.yml").write_text(config)
    result = invoke_in(tmp_path, "scan", "--format", "json", "--no-scripts", *args)
    report = json.loads(result.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    return result.exit_code, report


def fixes(report: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(f["service"], f["rule"]): f["fix"] for f in report["findings"]}


def test_a_known_image_gets_the_documented_set_at_the_place_privileged_is_written(tmp_path: Path) -> None:
    # privileged comes from an anchor: the fix starts where the loader found the value written.
    compose = (
        "x-vpn: &vpn\n"
        "  privileged: true\n"
        "services:\n"
        "  vpn:\n"
        "    <<: *vpn\n"
        "    image: qmcgaw/gluetun:v3\n"
        "    network_mode: host\n"
    )
    code, report = scan(tmp_path, compose)
    assert code == 1
    privileged = where("compose.yaml", 2, 3)  # the key in the anchor, not the service's <<
    expected = {
        "safety": "needs-verification",
        "confidence": "known",
        "summary": "remove privileged; cap_add: NET_ADMIN; security_opt: no-new-privileges:true; "
        "devices: /dev/net/tun:/dev/net/tun",
        "at": privileged,
        "edits": [
            {"action": "remove", "key": "privileged", "value": "", "comment": "", "location": privileged},
            {
                "action": "add",
                "key": "cap_add",
                "value": "NET_ADMIN",
                "comment": "VPN tunnel (image knowledge: gluetun)",
                "location": None,
            },
            {
                "action": "add",
                "key": "devices",
                "value": "/dev/net/tun:/dev/net/tun",
                "comment": "VPN tunnel",
                "location": None,
            },
            NNP_ADD,
        ],
    }
    # One fix answers the service's fixable findings; host-namespace is not fix's to answer.
    assert fixes(report) == {
        ("vpn", "privileged"): expected,
        ("vpn", "no-new-privileges"): expected,
        ("vpn", "host-namespace"): None,
    }


def test_an_unknown_image_gets_an_unsafe_fix(tmp_path: Path) -> None:
    code, report = scan(tmp_path, "services:\n  box:\n    image: example.org/mystery:1\n    privileged: true\n")
    assert code == 1
    fix = fixes(report)[("box", "privileged")]
    assert (fix["safety"], fix["confidence"]) == ("unsafe", "unknown")
    assert (
        fix["summary"] == f"remove privileged; cap_drop: ALL; cap_add: {DEFAULTS}; security_opt: no-new-privileges:true"
    )
    assert fix["at"] == where("compose.yaml", 4, 5)
    assert [e["comment"] for e in fix["edits"] if e["key"] == "cap_add"] == ["Docker default, not yet verified"] * 14


def test_missing_cap_drop_gets_fix_alls_answer(tmp_path: Path) -> None:
    code, report = scan(tmp_path, "services:\n  box:\n    image: example.org/mystery:1\n")
    assert code == 0
    fix = fixes(report)[("box", "missing-cap-drop")]
    assert fix == fixes(report)[("box", "no-new-privileges")]
    assert (fix["safety"], fix["summary"]) == (
        "unsafe",
        f"cap_drop: ALL; cap_add: {DEFAULTS}; security_opt: no-new-privileges:true",
    )
    assert fix["at"] == where("compose.yaml", 2, 3)  # nothing to remove: the service's key


def test_a_suppressed_finding_has_no_fix_and_neither_has_its_service(tmp_path: Path) -> None:
    compose = (
        "services:\n"
        "  dind:\n"
        "    image: example.org/runner:1\n"  # unknown: without the ignore it would get an unsafe fix
        "    privileged: true  # leastcap: ignore[privileged] docker in docker for the CI sandbox\n"
        "  app:\n"
        "    image: example.org/app:1\n"
        "    cap_drop: [ALL]\n"
        "    pid: host\n"
    )
    code, report = scan(tmp_path, compose)
    assert code == 1
    # The accepted privilege is the user's decision: fix does not touch the service at all.
    assert fixes(report) == {
        ("dind", "privileged"): None,
        ("dind", "no-new-privileges"): None,
        ("app", "no-new-privileges"): {
            "safety": "needs-verification",
            # It keeps no capability (cap_drop [ALL] is already there), but nothing says whether the
            # unknown image runs a setuid helper no-new-privileges would disable: inferred.
            "confidence": "inferred",
            "summary": "security_opt: no-new-privileges:true",
            "at": where("compose.yaml", 5, 3),
            "edits": [NNP_ADD],
        },
        ("app", "host-namespace"): None,
    }
    assert [f["suppressed"]["by"] for f in report["findings"] if f["suppressed"]] == ["inline"]


def test_the_configs_image_knowledge_is_used(tmp_path: Path) -> None:
    config = (
        "images:\n"
        "  - family: edge\n"
        "    title: our edge proxy\n"
        "    patterns: [registry.example.com/edge]\n"
        "    coverage:\n"
        "      root: {complete: true}\n"
        "    needs:\n"
        "      - feature: serving\n"
        "        default: true\n"
        "        cap_add: [NET_BIND_SERVICE]\n"
        "        reason: binds port 443\n"
        "        sources:\n"
        "          - url: https://wiki.example.com/edge\n"
        "            quote: The edge proxy binds port 443.\n"
    )
    compose = "services:\n  edge:\n    image: registry.example.com/edge:2\n    privileged: true\n"
    code, report = scan(tmp_path, compose, config)
    assert code == 1
    fix = fixes(report)[("edge", "privileged")]
    assert (fix["safety"], fix["confidence"]) == ("needs-verification", "known")
    assert (
        fix["summary"]
        == "remove privileged; cap_drop: ALL; cap_add: NET_BIND_SERVICE; security_opt: no-new-privileges:true"
    )
    assert fix["edits"][2] == {
        "action": "add",
        "key": "cap_add",
        "value": "NET_BIND_SERVICE",
        "comment": "serving (image knowledge: edge)",
        "location": None,
    }


def test_a_bad_images_entry_is_an_error_and_the_findings_are_still_reported(tmp_path: Path) -> None:
    config = "fail-on: critical\nimages:\n  - family: edge\n    title: no patterns, no needs\n"
    code, report = scan(tmp_path, "services:\n  box:\n    image: example.org/mystery:1\n    privileged: true\n", config)
    assert code == 2
    assert report["errors"] == [
        {
            "path": ".leastcap.yml",
            "line": 3,
            "message": "images[0]: invalid image entry at (top): 'patterns' is a required property",
        }
    ]
    # Without the knowledge fix would refuse to run: no finding shows a fix it would not make.
    assert fixes(report) == {("box", "privileged"): None, ("box", "no-new-privileges"): None}
    # The error does not depend on the format (text plans no fixes, but loads the knowledge).
    text = invoke_in(tmp_path, "scan", "--no-scripts")
    assert text.exit_code == 2
    assert (
        ".leastcap.yml:3:5  images[0]: invalid image entry at (top): 'patterns' is a required property" in text.stdout
    )


def test_a_scripts_docker_run_has_no_fix(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\ndocker run --privileged qmcgaw/gluetun:v3\n")
    result = invoke_in(tmp_path, "scan", "--format", "json", "run.sh")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert {(f["rule"], f["fix"]) for f in report["findings"]} == {("privileged", None), ("no-new-privileges", None)}


def test_a_parallel_scan_plans_in_its_workers_and_suppression_still_decides(tmp_path: Path) -> None:
    # 33 projects: over scan.PARALLEL_THRESHOLD, so --jobs 2 plans the fixes in worker processes.
    for i in range(33):
        ignore = "  # leastcap: ignore[privileged] the CI sandbox runs docker in docker" if i == 7 else ""
        project = tmp_path / f"p{i:02d}"
        project.mkdir()
        (project / "compose.yaml").write_text(
            f"services:\n  s{i}:\n    image: qmcgaw/gluetun:v3\n    privileged: true{ignore}\n"
        )
    outputs = [invoke_in(tmp_path, "scan", "--format", "json", "--no-scripts", "--jobs", jobs) for jobs in ("1", "2")]
    assert outputs[0].stdout == outputs[1].stdout
    report = json.loads(outputs[1].stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    summaries = {(f["service"], f["rule"]): f["fix"] and f["fix"]["summary"] for f in report["findings"]}
    gluetun = "remove privileged; cap_add: NET_ADMIN; security_opt: no-new-privileges:true; devices: /dev/net/tun:/dev/net/tun"
    expected = {(f"s{i}", rule): gluetun for i in range(33) for rule in ("privileged", "no-new-privileges")}
    expected[("s7", "privileged")] = expected[("s7", "no-new-privileges")] = None
    assert summaries == expected


def test_the_fix_scan_shows_is_the_one_fix_writes(tmp_path: Path) -> None:
    compose = (
        "services:\n"
        "  vpn:\n"
        "    image: qmcgaw/gluetun:v3\n"
        "    privileged: true\n"
        "  app:\n"
        "    image: example.org/app:1\n"
        "    user: '1000'\n"
    )
    _, report = scan(tmp_path, compose)
    shown = {f["service"]: f["fix"] for f in report["findings"] if f["fix"] is not None}
    assert set(shown) == {"vpn", "app"}
    written = invoke_in(tmp_path, "fix", "--all", "--no-inspect", "--min-confidence", "unknown", "--write")
    assert written.exit_code == 0, written.output
    services = yaml.safe_load((tmp_path / "compose.yaml").read_text())["services"]
    for name, fix in shown.items():
        expected: dict[str, Any] = dict(yaml.safe_load(compose)["services"][name])
        for edit in fix["edits"]:
            if edit["action"] == "remove":
                del expected[edit["key"]]
            else:
                expected.setdefault(edit["key"], []).append(edit["value"])
        assert services[name] == expected


def test_a_baselined_finding_keeps_its_fix_an_accepted_one_has_none(tmp_path: Path) -> None:
    """A baseline defers known debt (fix still changes it: it reads no baseline); an inline ignore
    accepts the privilege (fix leaves the service)."""
    compose = (
        "services:\n"
        "  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"
        "  ci:\n    image: qmcgaw/gluetun:v3\n    privileged: true  # leastcap: ignore[privileged] nested (OPS-1)\n"
    )
    (tmp_path / "compose.yaml").write_text(compose)
    recorded = invoke_in(tmp_path, "baseline", "-o", "baseline.json")
    assert recorded.exit_code == 0, recorded.output
    code, report = scan(tmp_path, compose, None, "--baseline", "baseline.json")
    assert code == 0
    by = {(f["service"], f["rule"]): f for f in report["findings"]}
    vpn, ci = by[("vpn", "privileged")], by[("ci", "privileged")]
    assert (vpn["suppressed"]["by"], ci["suppressed"]["by"]) == ("baseline", "inline")
    assert vpn["fix"]["summary"] == (
        "remove privileged; cap_add: NET_ADMIN; security_opt: no-new-privileges:true; devices: /dev/net/tun:/dev/net/tun"
    )
    assert ci["fix"] is None
