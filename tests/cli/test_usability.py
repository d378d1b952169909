"""--min-severity (a display filter, separate from --fail-on) and the nearest subcommand for a typo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.cli import invoke_in

COMPOSE = (
    "services:\n"
    "  vpn:\n"
    "    image: gluetun\n"
    "    cap_drop: [ALL]\n"
    "    cap_add: [NET_ADMIN]\n"  # 5: high
    "    devices: [/dev/net/tun]\n"  # 6: low
    "    security_opt: [no-new-privileges:true]\n"
    "  web:\n"  # 8: missing-cap-drop medium
    "    image: nginx\n"
    "    security_opt: [no-new-privileges:true]\n"
)


def scan(tmp_path: Path, *args: str) -> tuple[int, str]:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    result = invoke_in(tmp_path, "scan", ".", "--no-scripts", *args)
    return result.exit_code, result.stdout


def rows(out: str) -> list[tuple[str, int, int, str]]:
    return [
        (f["rule"], f["location"]["line"], f["location"]["column"], f["severity"]) for f in json.loads(out)["findings"]
    ]


def test_min_severity_hides_findings_but_not_the_exit_code(tmp_path: Path) -> None:
    code, out = scan(tmp_path, "--format", "json")
    assert code == 1
    assert rows(out) == [
        ("dangerous-capability", 5, 15, "high"),
        ("host-device", 6, 15, "low"),
        ("missing-cap-drop", 8, 3, "medium"),
    ]
    code, out = scan(tmp_path, "--format", "json", "--min-severity", "medium")
    assert (code, rows(out)) == (1, [("dangerous-capability", 5, 15, "high"), ("missing-cap-drop", 8, 3, "medium")])
    summary = json.loads(out)["summary"]
    assert (summary["findings"], summary["min_severity"], summary["not_shown"], summary["exit_code"]) == (
        2,
        "medium",
        1,
        1,
    )
    # Hidden findings still decide the exit code: --fail-on low fails on the hidden low finding.
    code, out = scan(tmp_path, "--format", "json", "--min-severity", "critical", "--fail-on", "low")
    assert (code, rows(out), json.loads(out)["summary"]["not_shown"]) == (1, [], 3)
    code, out = scan(tmp_path, "--min-severity", "high")
    assert code == 1
    assert out.splitlines()[-1] == "1 finding (1 high), 2 below --min-severity high not shown."
    assert "host-device" not in out and "missing-cap-drop" not in out


def test_min_severity_rejects_an_unknown_severity(tmp_path: Path) -> None:
    code, _ = scan(tmp_path, "--min-severity", "severe")
    assert code == 2


def _leastcap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leastcap", *args], capture_output=True, text=True, check=False)


def test_a_mistyped_subcommand_suggests_the_nearest_one() -> None:
    proc = _leastcap("scna", ".")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[-1] == (
        "Error: No such command 'scna'. Did you mean: scan? Run `leastcap --help` to list the commands."
    )
    assert (
        _leastcap("histroy")
        .stderr.splitlines()[-1]
        .startswith("Error: No such command 'histroy'. Did you mean: history?")
    )
    far = _leastcap("zzzz")
    assert far.returncode == 2
    assert far.stderr.splitlines()[-1] == "Error: No such command 'zzzz'. Run `leastcap --help` to list the commands."
    # A control character in the argument reaches the terminal escaped.
    hostile = _leastcap("\x1b[31mscan")
    assert hostile.returncode == 2 and "\x1b" not in hostile.stderr and "\\x1b[31mscan" in hostile.stderr


def test_a_service_discovered_as_its_own_project_and_through_an_include_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "db").mkdir()
    (tmp_path / "app" / "compose.yaml").write_text(
        "include:\n  - ../db/compose.yaml\nservices:\n  web:\n    image: nginx\n    cap_drop: [ALL]\n"
        "    security_opt: [no-new-privileges:true]\n"
    )
    (tmp_path / "db" / "compose.yaml").write_text("services:\n  db:\n    image: postgres\n    privileged: true\n")

    def findings(*paths: str) -> tuple[int, list[tuple[str, str, str, str, int, int]]]:
        result = invoke_in(tmp_path, "scan", *paths, "--no-scripts", "--format", "json")
        return result.exit_code, [
            (
                f["rule"],
                f["project"],
                f["service"],
                f["location"]["path"],
                f["location"]["line"],
                f["location"]["column"],
            )
            for f in json.loads(result.stdout)["findings"]
        ]

    # Both projects are discovered: db's findings once, under db, the project whose own file it is.
    assert findings(".") == (
        1,
        [
            ("no-new-privileges", "db", "db", "db/compose.yaml", 2, 3),
            ("privileged", "db", "db", "db/compose.yaml", 4, 5),
        ],
    )
    # Only the including project: its view of the included file is reported.
    assert findings("app") == (
        1,
        [
            ("no-new-privileges", "app", "db", "db/compose.yaml", 2, 3),
            ("privileged", "app", "db", "db/compose.yaml", 4, 5),
        ],
    )


def test_history_min_severity_hides_timelines_but_not_the_exit_code(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True, env=env)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")  # medium + low
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "-m", "c"], check=True, env=env)

    def history(*args: str) -> tuple[int, dict[str, object]]:
        result = invoke_in(tmp_path, "history", ".", "--format", "json", *args)
        return result.exit_code, json.loads(result.stdout)

    code, report = history()
    assert code == 0
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [  # type: ignore[union-attr]
        ("missing-cap-drop", "medium"),
        ("no-new-privileges", "low"),
    ]
    code, report = history("--min-severity", "medium", "--fail-on", "low")
    assert code == 1  # the hidden low finding still fails --fail-on low
    assert [f["rule"] for f in report["findings"]] == ["missing-cap-drop"]  # type: ignore[union-attr]
    assert {k: report["summary"][k] for k in ("findings", "active", "min_severity", "not_shown", "exit_code")} == {  # type: ignore[index]
        "findings": 1,
        "active": 1,
        "min_severity": "medium",
        "not_shown": 1,
        "exit_code": 1,
    }
    result = invoke_in(tmp_path, "history", ".", "--min-severity", "critical")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "2 active at tip below --min-severity critical not shown"
