"""The real pre-commit, on a temp git repository whose config points at this checkout's HEAD."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.components import REPO_ROOT, require

HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_hook_definition() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "leastcap"
    assert hook["entry"] == "leastcap scan"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    matched = [
        "compose.yaml", "docker-compose.yml", "app/compose.prod.yaml", "docker-compose.override.yml",
        ".github/workflows/ci.yml", ".gitlab-ci.yml", "Jenkinsfile", "Makefile", "build/rules.mk",
        "Dockerfile", "Dockerfile.dev", "app.dockerfile", "Containerfile", "deploy.sh", "x/run.bash",
        "systemd/agent.service",
    ]  # fmt: skip
    unmatched = ["README.md", "compose/main.py", "ci/build.yml", ".github/dependabot.yml", "setup.cfg"]
    assert [p for p in matched if not files.search(p)] == []
    assert [p for p in unmatched if files.search(p)] == []


PRIVILEGED = "services:\n  agent:\n    image: busybox\n    privileged: true\n"
FIXED = "services:\n  agent:\n    image: busybox\n    cap_drop: [ALL]\n"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pre_commit_fails_on_privileged_and_passes_once_fixed(tmp_path: Path) -> None:
    require(shutil.which("git") is not None, "git")
    head = _git("rev-parse", "HEAD", cwd=REPO_ROOT)
    require(head.returncode == 0, f"a git checkout at {REPO_ROOT}")
    # pre-commit installs the hook from a commit, so `leastcap scan` must be in the committed HEAD.
    has_scan = _git("cat-file", "-e", "HEAD:src/leastcap/cli/scan_cmd.py", cwd=REPO_ROOT).returncode == 0
    require(has_scan, "`leastcap scan` (src/leastcap/cli/scan_cmd.py) in the committed HEAD")
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _git("init", "-q", cwd=repo).returncode == 0
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO_ROOT}\n    rev: {head.stdout.strip()}\n    hooks:\n      - id: leastcap\n"
        # The github format has one line per finding with file, line and column: exact to assert on.
        "        args: [--format, github]\n"
    )
    (repo / "compose.yaml").write_text(PRIVILEGED)
    (repo / "deploy.sh").write_text("#!/bin/sh\ndocker run --privileged busybox\n")
    assert _git("add", ".", cwd=repo).returncode == 0
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    env.pop("LEASTCAP_CONFIG", None)
    command = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--show-diff-on-failure"]

    first = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=800, check=False)
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    assert "Traceback" not in out, out
    assert "::error file=compose.yaml,line=4,col=5,title=leastcap privileged (critical)::" in out, out
    assert "::error file=deploy.sh,line=2,col=12,title=leastcap privileged (critical)::" in out, out

    (repo / "compose.yaml").write_text(FIXED)
    (repo / "deploy.sh").write_text("#!/bin/sh\ndocker run --cap-drop=ALL busybox\n")
    assert _git("add", ".", cwd=repo).returncode == 0
    second = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=800, check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"leastcap .*Passed", second.stdout), second.stdout
