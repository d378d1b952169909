"""`leastcap baseline` and `leastcap scan --baseline`: through the CLI, on a real project on disk."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from support.cli import invoke_in
from support.golden import check_golden

GOLDEN = Path(__file__).parent / "golden"

COMPOSE = """\
services:
  vpn:
    image: example/vpn
    privileged: true
  agent:
    image: example/agent
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
"""

# The same services reformatted and reordered, with comments: no finding is new.
MOVED = """\
# reordered, reformatted
services:
  agent:
    image: example/agent
    security_opt: ["no-new-privileges:true"]
    volumes: ["/var/run/docker.sock:/var/run/docker.sock"]
    cap_drop: [ ALL ]

  vpn:
    # still privileged, moved down
    image: example/vpn
    privileged: true
"""


def _today(text: str) -> str:
    return text.replace(dt.date.today().isoformat(), "TODAY")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text(COMPOSE)
    return tmp_path


def _record(project: Path) -> str:
    result = invoke_in(project, "baseline", "app", "-o", ".leastcap-baseline.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("wrote .leastcap-baseline.json: 3 findings recorded (3 findings (2 critical, 1 low).)\n")
    return (project / ".leastcap-baseline.json").read_text()


def test_baseline_file_one_entry_per_line(project: Path) -> None:
    text = _record(project)
    check_golden(GOLDEN / "baseline.json", _today(text))
    document = json.loads(text)
    assert document["version"] == 1
    assert document["created"] == dt.date.today().isoformat()
    lines = text.splitlines()
    # each entry is one line, so a stale one can be shown at its line
    assert [i for i, line in enumerate(lines, 1) if '"fingerprint"' in line] == [7, 8, 9]


def test_scan_with_baseline_suppresses_recorded_findings(project: Path) -> None:
    _record(project)
    result = invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json")
    assert result.exit_code == 0, result.output
    check_golden(GOLDEN / "scan-baselined.txt", _today(result.stdout))
    assert result.stdout.endswith("No findings, 3 suppressed (3 by baseline).\n")

    as_json = json.loads(
        invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json", "--format", "json").stdout
    )
    rows = [
        (f["rule"], f["service"], f["suppressed"]["by"], f["suppressed"]["location"]["line"])
        for f in as_json["findings"]
    ]
    by_line = {
        json.loads(line)["rule"] + "/" + json.loads(line)["service"]: n
        for n, line in enumerate((project / ".leastcap-baseline.json").read_text().splitlines(), 1)
        if line.startswith("    {")
        for line in [line.strip().rstrip(",")]
    }
    assert sorted(rows) == sorted(
        [
            ("privileged", "vpn", "baseline", by_line["privileged/vpn"]),
            ("docker-socket", "agent", "baseline", by_line["docker-socket/agent"]),
            ("no-new-privileges", "vpn", "baseline", by_line["no-new-privileges/vpn"]),
        ]
    )
    assert as_json["summary"]["suppressed"] == 3
    assert as_json["summary"]["active"] == 0
    assert as_json["summary"]["exit_code"] == 0

    sarif = json.loads(
        invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json", "--format", "sarif").stdout
    )
    suppressions = [r["suppressions"][0] for r in sarif["runs"][0]["results"]]
    assert {
        (s["kind"], s["status"], s["location"]["physicalLocation"]["artifactLocation"]["uri"]) for s in suppressions
    } == {("external", "accepted", ".leastcap-baseline.json")}
    github = invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json", "--format", "github")
    assert github.stdout == "leastcap: No findings, 3 suppressed (3 by baseline).\n"


def test_moved_and_reformatted_findings_stay_baselined_new_ones_fail(project: Path) -> None:
    _record(project)
    (project / "app" / "compose.yaml").write_text(MOVED)
    result = invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("No findings, 3 suppressed (3 by baseline).\n")

    (project / "app" / "compose.yaml").write_text(
        MOVED.replace("    cap_drop: [ ALL ]\n", "    cap_drop: [ ALL ]\n    cap_add: [SYS_ADMIN]\n")
    )
    result = invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    active = [
        (f["rule"], f["service"], f["location"]["line"], f["location"]["column"])
        for f in report["findings"]
        if f["suppressed"] is None
    ]
    assert active == [("dangerous-capability", "agent", 8, 15)]


def test_baseline_matches_from_any_directory(project: Path) -> None:
    # CI may run from the repository's root while the baseline was written from a subdirectory (or
    # the other way round): paths are taken relative to the baseline file, not to the cwd.
    recorded = _record(project)
    app = project / "app"
    for cwd, args in (
        (app, ("--baseline", "../.leastcap-baseline.json")),
        (Path("/"), (str(app), "--baseline", str(project / ".leastcap-baseline.json"))),
    ):
        result = invoke_in(cwd, "scan", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.endswith("No findings, 3 suppressed (3 by baseline).\n"), (cwd, result.stdout)
    (project / ".leastcap-baseline.json").unlink()
    result = invoke_in(app, "baseline", "-o", "../.leastcap-baseline.json")
    assert result.exit_code == 0, result.output
    assert (project / ".leastcap-baseline.json").read_text() == recorded


def test_stale_entry_is_reported_at_its_line(project: Path) -> None:
    text = _record(project)
    stale_line = next(n for n, line in enumerate(text.splitlines(), 1) if '"rule": "privileged"' in line)
    (project / "app" / "compose.yaml").write_text(COMPOSE.replace("    privileged: true\n", "    cap_drop: [ALL]\n"))
    result = invoke_in(project, "scan", "app", "--baseline", ".leastcap-baseline.json", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    active = [
        (f["rule"], f["location"]["path"], f["location"]["line"], f["location"]["column"], f["message"])
        for f in report["findings"]
        if f["suppressed"] is None
    ]
    assert active == [
        (
            "exception-unused",
            ".leastcap-baseline.json",
            stale_line,
            1,
            "baseline entry for rule 'privileged' (project 'app', service 'vpn') matches no finding; delete it so the "
            "baseline only shrinks (or write it again with `leastcap baseline`)",
        ),
    ]
    assert report["summary"]["suppressed"] == 2  # docker-socket and no-new-privileges, still there


HOSTILE = {
    "bad-json.json": ('{"version": 1, "findings": [', "not a leastcap baseline: invalid JSON"),
    "version.json": ('{"version": 7, "findings": []}', "baseline version 7 is not supported"),
    "list.json": ("[1, 2]", "not a leastcap baseline: the top level is not an object"),
    "entry.json": (
        '{"version": 1, "findings": [{"fingerprint": "../../etc"}]}',
        "findings[0]: 'fingerprint' must be 32 lower-case hex digits, got \"../../etc\"",
    ),
    "latin1.json": (b'{"version": 1, "findings": [], "x": "\xff"}', "not UTF-8 (byte 37)"),
    "deep.json": ("[" * 100_000 + "]" * 100_000, "invalid JSON"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_broken_baseline_is_a_clean_error_and_findings_stay(project: Path, name: str) -> None:
    content, message = HOSTILE[name]
    path = project / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    result = invoke_in(project, "scan", "app", "--baseline", name, "--format", "json")
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert len(report["errors"]) == 1
    assert report["errors"][0]["path"] == name
    assert message in report["errors"][0]["message"]
    # the scan went on without the baseline: every finding is reported, active
    assert sorted(f["rule"] for f in report["findings"]) == ["docker-socket", "no-new-privileges", "privileged"]
    assert all(f["suppressed"] is None for f in report["findings"])


def test_fifo_huge_and_missing_baselines_are_clean_errors(project: Path) -> None:
    os.mkfifo(project / "fifo.json")
    with open(project / "huge.json", "wb") as fh:
        fh.truncate(65 * 1024 * 1024)  # sparse: nothing is written
    (project / "link.json").symlink_to("/dev/zero")
    expected = {
        "fifo.json": "cannot read baseline fifo.json: not a regular file",
        "huge.json": "baseline huge.json is 68157440 bytes, over the 67108864-byte limit",
        "link.json": "cannot read baseline link.json: not a regular file",
        "missing.json": "cannot read baseline missing.json: No such file or directory",
    }
    for name, message in expected.items():
        result = invoke_in(project, "scan", "app", "--baseline", name)
        assert result.exit_code == 2, (name, result.output)
        assert f"  {name}  {message}\n" in result.stdout


def test_baseline_output_never_written_through_a_link(project: Path) -> None:
    victim = project / "victim.txt"
    victim.write_text("keep me\n")
    (project / "out.json").symlink_to(victim)
    result = invoke_in(project, "baseline", "app", "-o", "out.json")
    assert result.exit_code == 2
    assert result.stderr == "leastcap baseline: cannot write out.json: Too many levels of symbolic links\n"
    assert victim.read_text() == "keep me\n"
