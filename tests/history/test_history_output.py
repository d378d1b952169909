"""`leastcap history` through the CLI: exact text, JSON and Markdown, exit codes, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from history_gitrepo import GitRepo

PRIV = "services:\n  web:\n    image: x\n    privileged: true\n"
PLAIN = "services:\n  web:\n    image: x\n"
MSG = (
    "service 'web' runs privileged: all capabilities, every host device, no seccomp or AppArmor, "
    "writable /sys and cgroups"
)
HISTORY_KEYS = ("file", "paths", "detail", "present_at_tip", "introduced", "removed", "reintroduced", "events")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leastcap", "history", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


@pytest.fixture
def renamed(tmp_path: Path) -> tuple[GitRepo, str, str]:
    repo = GitRepo(tmp_path / "r")
    add = repo.commit("add", {"compose.yaml": PRIV})
    repo.mv("compose.yaml", "docker-compose.yml", "rename")
    drop = repo.commit("drop", {"docker-compose.yml": PLAIN})
    return repo, add, drop


def test_text(renamed: tuple[GitRepo, str, str]) -> None:
    repo, add, drop = renamed
    proc = run(str(repo.path / "docker-compose.yml"), "--rule", "privileged")  # any path in the repository
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "docker-compose.yml  service web  privileged (critical)  gone at tip\n"
        f"  {MSG}\n"
        "  renamed: compose.yaml -> docker-compose.yml\n"
        f"  + 2024-01-01 {add[:7]} Ada: add\n"
        "      introduced  at compose.yaml:4:5\n"
        f"  - 2024-01-01 {drop[:7]} Ada: drop\n"
        "      removed\n"
        "\n"
        f"1 finding timeline(s), 0 present at tip ({drop[:7]}); 3 commit(s) walked, 3 evaluated\n"
    )


def commit_json(sha: str, subject: str, date: str) -> dict[str, object]:
    return {
        "hash": sha,
        "short": sha[:7],
        "author": "Ada",
        "email": "ada@example.com",
        "date": date,
        "subject": subject,
    }


def test_json(renamed: tuple[GitRepo, str, str]) -> None:
    repo, add, drop = renamed
    proc = run("--rule", "privileged", "--format", "json", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (finding,) = report["findings"]
    add_c = commit_json(add, "add", "2024-01-01T00:00:03+00:00")
    drop_c = commit_json(drop, "drop", "2024-01-01T00:00:09+00:00")
    assert {k: finding[k] for k in HISTORY_KEYS} == {
        "file": "docker-compose.yml",
        "paths": ["compose.yaml", "docker-compose.yml"],
        "detail": "service 'web' runs privileged",
        "present_at_tip": False,
        "introduced": {**add_c, "boundary": False},
        "removed": [drop_c],
        "reintroduced": [],
        "events": [
            {
                "kind": "introduced",
                "commit": add_c,
                "path": "compose.yaml",
                "merged_from": None,
                "boundary": False,
                "location": {"path": "compose.yaml", "line": 4, "column": 5},
                "suppressed": None,
            },
            # A removal shows where the finding was last seen.
            {
                "kind": "removed",
                "commit": drop_c,
                "path": "docker-compose.yml",
                "merged_from": None,
                "boundary": False,
                "location": {"path": "docker-compose.yml", "line": 4, "column": 5},
                "suppressed": None,
            },
        ],
    }
    # The shipped schema declares the history keys; without them, the report is exactly a JSON v1 report.
    schema = json.loads(resources.files("leastcap").joinpath("schemas/report-v1.schema.json").read_text())
    jsonschema.validate(report, schema)
    v1 = {k: v for k, v in report.items() if k != "history"}
    v1["findings"] = [{k: v for k, v in f.items() if k not in HISTORY_KEYS} for f in report["findings"]]
    v1["summary"] = {k: v for k, v in report["summary"].items() if k != "gone"}
    jsonschema.validate(v1, schema)
    assert v1["findings"] == [
        {
            "rule": "privileged",
            "severity": "critical",
            "confidence": "high",
            "project": "r",
            "service": "web",
            "message": MSG,
            "location": {"path": "docker-compose.yml", "line": 4, "column": 5, "note": ""},
            "related": [],
            "suppressed": None,
            "fix": None,  # history plans no fixes
        }
    ]
    assert v1["summary"] == {
        "findings": 1,
        "active": 0,
        "suppressed": 0,
        "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
        "errors": 0,
        "warnings": 0,
        "files_scanned": 2,
        "command": "history",
        "fail_on": "high",
        "min_severity": "info",
        "not_shown": 0,
        "exit_code": 0,
    }
    # Gone at the tip is neither active nor suppressed: findings = active + suppressed + gone.
    assert report["summary"]["gone"] == 1
    assert report["history"] == {
        "repository": str(repo.path),
        "tip": drop,
        "revs": ["HEAD"],
        "since": None,
        "shallow": False,
        "commits_walked": 3,
        "commits_evaluated": 3,
        "present_at_tip": 0,
        "suppressed_at_tip": 0,
        "compose_paths": ["compose.yaml", "docker-compose.yml"],
    }


def test_markdown(renamed: tuple[GitRepo, str, str]) -> None:
    repo, add, drop = renamed
    proc = run(str(repo.path), "--rule", "privileged", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "# Privilege history\n\n"
        f"Repository `{repo.path}`, tip `{drop[:7]}`: 3 commits walked, 3 evaluated.\n\n"
        "## Summary\n\n"
        "| File | Service | Rule | Severity | Introduced | Removed | At tip |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| `docker-compose.yml` | web | privileged | critical | `{add[:7]}` 2024-01-01 | `{drop[:7]}` | no |\n\n"
        "## Timelines\n\n"
        "### `docker-compose.yml`: web / privileged\n\n"
        f"{MSG}\n\n"
        "Renamed: `compose.yaml` → `docker-compose.yml`\n\n"
        "| Change | Commit | Date | Author | Subject | Where |\n"
        "|---|---|---|---|---|---|\n"
        f"| introduced | `{add[:7]}` | 2024-01-01 | Ada | add | `compose.yaml:4` |\n"
        f"| removed | `{drop[:7]}` | 2024-01-01 | Ada | drop |  |\n"
    )


def test_exit_codes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("caps", {"compose.yaml": PLAIN + "    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n"})
    # dangerous-capability NET_ADMIN is high: at the default --fail-on high the history fails.
    assert run(str(repo.path), "--rule", "dangerous-capability").returncode == 1
    assert run(str(repo.path), "--rule", "dangerous-capability", "--fail-on", "critical").returncode == 0
    repo.commit("privileged, then gone", {"compose.yaml": PRIV})
    repo.commit("clean", {"compose.yaml": PLAIN + "    cap_drop: [ALL]\n"})
    # Past findings do not fail the run: only what is present at the tip counts.
    assert run(str(repo.path), "--rule", "privileged").returncode == 0


def test_load_errors_past_and_tip(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("ok", {"compose.yaml": PRIV})
    broken = repo.commit("broken", {"compose.yaml": "services:\n  web: [\n"})
    repo.commit("fixed", {"compose.yaml": PRIV})
    proc = run(str(repo.path), "--rule", "privileged", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # privileged present at the tip
    report = json.loads(proc.stdout)
    assert report["errors"] == []
    (warning,) = report["warnings"]
    assert warning["path"] == "compose.yaml"
    assert warning["message"].startswith(f"at commit {broken[:7]}: ")
    # A version that cannot be loaded is not a removal: the finding carries over, with the warning.
    kinds = [(e["kind"], e["commit"]["subject"]) for e in report["findings"][0]["events"]]
    assert kinds == [("introduced", "ok")]
    repo.commit("broken at tip", {"compose.yaml": "services:\n  web: [\n"})
    proc = run(str(repo.path), "--rule", "privileged", "--format", "json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    (error,) = report["errors"]
    assert error["path"] == "compose.yaml"
    assert report["findings"][0]["present_at_tip"]


def test_usage_errors(tmp_path: Path) -> None:
    proc = run(str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"leastcap history: {tmp_path}: not inside a git work tree")
    proc = run(str(tmp_path), "--rule", "no-such-rule")
    assert (proc.returncode, proc.stderr) == (
        2,
        "leastcap history: unknown rule(s): no-such-rule (see `leastcap rules`)\n",
    )
    proc = run(str(tmp_path), "--env", "NOEQUALS")
    assert (proc.returncode, proc.stderr) == (2, "leastcap history: --env expects KEY=VALUE, got 'NOEQUALS'\n")
    repo = GitRepo(tmp_path / "r")
    repo.commit("one", {"compose.yaml": PLAIN})
    proc = run(str(repo.path), "--since", "banana")
    assert (proc.returncode, proc.stderr) == (
        2,
        "leastcap history: --since 'banana': not a date git understands (try 2024-01-31 or '2 weeks ago')\n",
    )
    assert run(str(repo.path), "--since", "2023-12-31").returncode == 0
    empty = GitRepo(tmp_path / "empty")
    proc = run(str(empty.path))
    assert (proc.returncode, proc.stderr) == (2, f"leastcap history: {empty.path}: the repository has no commits\n")


def test_all_branches_and_env(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("base", {"compose.yaml": PLAIN.replace("image: x", "image: x\n    privileged: ${PRIV:-false}")})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side: privileged", {"svc/compose.yaml": PRIV})
    repo.git("checkout", "-q", "main")
    head_only = json.loads(run(str(repo.path), "--rule", "privileged", "--format", "json").stdout)
    assert head_only["findings"] == []
    everything = json.loads(run(str(repo.path), "--rule", "privileged", "--format", "json", "--all-branches").stdout)
    assert [(f["file"], f["introduced"]["subject"], f["present_at_tip"]) for f in everything["findings"]] == [
        ("svc/compose.yaml", "side: privileged", False)
    ]
    # History ignores the shell's environment; --env sets interpolation variables.
    with_env = json.loads(run(str(repo.path), "--rule", "privileged", "--format", "json", "--env", "PRIV=true").stdout)
    assert [(f["file"], f["present_at_tip"]) for f in with_env["findings"]] == [("compose.yaml", True)]


def test_merge_and_suppression_rendering(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("init", {"compose.yaml": PLAIN})
    repo.git("checkout", "-q", "-b", "feature")
    feature = repo.commit("feature: priv", {"compose.yaml": PRIV})
    repo.git("checkout", "-q", "main")
    repo.commit("main: notes", {"notes": "x"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = repo.git("rev-parse", "HEAD").strip()
    cfg = (
        "exceptions:\n  - rule: privileged\n    service: web\n    justification: needs /dev/kvm for VM tests\n"
        "    approved_by: security@example.com\n    expires: '2030-01-01'\n"
    )
    accept = repo.commit("accept", {".leastcap.yml": cfg})
    f, m, a = feature[:7], merge[:7], accept[:7]
    text = run(str(repo.path), "--rule", "privileged")
    assert text.returncode == 0  # suppressed at the tip
    assert text.stdout == (
        "compose.yaml  service web  privileged (critical)  present at tip, suppressed (exception: needs /dev/kvm "
        "for VM tests)\n"
        f"  {MSG}\n"
        f"  + 2024-01-01 {f} Ada: feature: priv\n"
        "      introduced  at compose.yaml:4:5\n"
        f"  + 2024-01-01 {m} Ada: merge feature\n"
        f"      merged in (as on {f})  at compose.yaml:4:5\n"
        f"  ~ 2024-01-01 {a} Ada: accept\n"
        "      suppressed: needs /dev/kvm for VM tests  at compose.yaml:4:5\n"
        "\n"
        f"1 finding timeline(s), 1 present at tip ({a}); 5 commit(s) walked, 5 evaluated\n"
    )
    md = run(str(repo.path), "--rule", "privileged", "--format", "markdown").stdout
    assert md.split("## Timelines\n")[1] == (
        "\n### `compose.yaml`: web / privileged\n\n"
        f"{MSG}\n\n"
        "| Change | Commit | Date | Author | Subject | Where |\n"
        "|---|---|---|---|---|---|\n"
        f"| introduced | `{f}` | 2024-01-01 | Ada | feature: priv | `compose.yaml:4` |\n"
        f"| merged in (as on `{f}`) | `{m}` | 2024-01-01 | Ada | merge feature | `compose.yaml:4` |\n"
        f"| suppressed: needs /dev/kvm for VM tests | `{a}` | 2024-01-01 | Ada | accept | `compose.yaml:4` |\n"
    )
    report = json.loads(run(str(repo.path), "--rule", "privileged", "--format", "json").stdout)
    (finding,) = report["findings"]
    assert finding["suppressed"]["justification"] == "needs /dev/kvm for VM tests"
    assert (finding["introduced"]["hash"], finding["reintroduced"], finding["removed"]) == (feature, [], [])
    assert [(e["kind"], e["merged_from"]) for e in finding["events"]] == [
        ("introduced", None),
        ("reintroduced", feature),
        ("suppressed", None),
    ]
    assert report["summary"]["active"] == 0 and report["history"]["suppressed_at_tip"] == 1
