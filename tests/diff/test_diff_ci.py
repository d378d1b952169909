"""`leastcap diff` in the GitHub Action (action.yml) and the GitLab template, their scripts run
locally the way a runner runs them, on a real git repository with a change to review."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from history.history_gitrepo import GitRepo
from support.components import REPO_ROOT, require

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
GITLAB = yaml.safe_load((REPO_ROOT / "ci" / "gitlab" / "leastcap.gitlab-ci.yml").read_text())

BASE = "services:\n  web:\n    image: nginx\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n"
PR = (
    BASE + "  vpn:\n    image: example/vpn\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n"
    "    cap_add: [SYS_MODULE]\n"
)


@pytest.fixture
def change(tmp_path: Path) -> tuple[GitRepo, str]:
    require(shutil.which("leastcap") is not None, "the leastcap command on PATH")
    repo = GitRepo(tmp_path / "app")
    base = repo.commit("base", {"compose.yaml": BASE})
    repo.commit("add a vpn", {"compose.yaml": PR})
    return repo, base


def _step(name: str) -> dict[str, object]:
    return next(dict(s) for s in ACTION["runs"]["steps"] if s.get("id") == name)


def _run_action_step(
    step: dict[str, object], inputs: dict[str, str], workspace: Path, temp: Path
) -> tuple[int, dict[str, str], str]:
    values = {f"inputs.{k}": str(v["default"]) for k, v in ACTION["inputs"].items()}
    values.update({f"inputs.{k}": v for k, v in inputs.items()})
    env = dict(os.environ)
    for key, value in dict(step["env"]).items():  # type: ignore[call-overload]
        expr = str(value).removeprefix("${{").removesuffix("}}").strip()
        env[key] = values[expr]
    output = temp / "output"
    output.write_text("")
    summary = temp / "summary"
    summary.write_text("")
    env.update(GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary), RUNNER_TEMP=str(temp))
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step["run"])],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if line)
    return proc.returncode, outputs, summary.read_text() + proc.stdout + proc.stderr


def test_action_reviews_the_change(change: tuple[GitRepo, str], tmp_path: Path) -> None:
    repo, base = change
    step = _step("diff")
    assert step["if"] == "inputs.diff-base != ''"
    code, outputs, log = _run_action_step(step, {"diff-base": base}, repo.path, tmp_path)
    assert code == 1, log
    assert outputs == {"diff-file": "leastcap-diff.md", "diff-exit-code": "1"}
    review = (repo.path / "leastcap-diff.md").read_text()
    expected = subprocess.run(
        ["leastcap", "diff", base, "--format", "markdown"], cwd=repo.path, capture_output=True, text=True, check=False
    ).stdout
    assert review == expected
    assert "#### `app/vpn`" in review
    assert "**critical** [dangerous-capability]" in review
    assert log.startswith(review)  # the job summary got the review
    assert "::error::this change adds privilege at or above 'high'" in log

    # the scan step does not fail on findings when the review decides
    code, outputs, log = _run_action_step(_step("scan"), {"diff-base": base, "paths": "."}, repo.path, tmp_path)
    assert (code, outputs["exit-code"]) == (0, "1"), log


def test_action_review_passes_when_nothing_is_added(change: tuple[GitRepo, str], tmp_path: Path) -> None:
    repo, _ = change
    code, outputs, log = _run_action_step(_step("diff"), {"diff-base": "HEAD"}, repo.path, tmp_path)
    assert code == 0, log
    assert outputs["diff-exit-code"] == "0"
    assert "No privilege added or removed." in (repo.path / "leastcap-diff.md").read_text()


def test_gitlab_review_job(change: tuple[GitRepo, str]) -> None:
    repo, base = change
    job = GITLAB[".leastcap-diff"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job["artifacts"]["paths"] == ["leastcap-diff.md"]
    env = {**os.environ, **job["variables"], "CI_MERGE_REQUEST_DIFF_BASE_SHA": base, "NO_COLOR": "1"}
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", "\n".join(job["script"])],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    review = (repo.path / "leastcap-diff.md").read_text()
    assert proc.stdout == review
    assert review.splitlines()[2] == (
        f"`{base[:12]}` → `working tree`: 1 finding added, 0 removed, 0 unchanged; 1 added at or above high. "
        "This change **fails the gate** (`--fail-on high`)."
    )
