"""The GitLab CI job template: its structure, and its script run locally the way a runner runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from leastcap.scripts import collect
from leastcap.tree import DiskTree
from support.components import REPO_ROOT, require

TEMPLATE = REPO_ROOT / "ci" / "gitlab" / "leastcap.gitlab-ci.yml"
JOB = yaml.safe_load(TEMPLATE.read_text())[".leastcap"]


def test_template_structure() -> None:
    assert JOB["artifacts"]["when"] == "always"
    assert JOB["artifacts"]["reports"] == {
        "codequality": "gl-code-quality-report.json",
        "junit": "leastcap-junit.xml",
    }
    assert set(JOB["variables"]) == {"LEASTCAP_PATHS", "LEASTCAP_FAIL_ON", "LEASTCAP_ARGS", "LEASTCAP_PIP_SPEC"}


def test_template_is_clean_under_its_own_scan(tmp_path: Path) -> None:
    target = tmp_path / ".gitlab-ci.yml"
    shutil.copy(TEMPLATE, target)
    assert collect([str(tmp_path)], DiskTree(str(tmp_path)), {}) == ([], [])


def _run_script(workspace: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **JOB["variables"], **variables, "NO_COLOR": "1"}
    script = "\n".join(JOB["script"])
    # GitLab's bash executor runs the job script with errexit on.
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", script],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_job_script_writes_both_reports_and_fails_on_findings(tmp_path: Path) -> None:
    require(shutil.which("leastcap") is not None, "the leastcap command on PATH")
    scan_available = (REPO_ROOT / "src" / "leastcap" / "cli" / "scan_cmd.py").is_file()
    require(scan_available, "`leastcap scan` (src/leastcap/cli/scan_cmd.py)")
    (tmp_path / ".gitlab-ci.yml").write_text("build:\n  services: [docker:dind]\n  script: [make]\n")
    proc = _run_script(tmp_path, {})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    issues = json.loads((tmp_path / "gl-code-quality-report.json").read_text())
    places = {(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues}
    assert ("leastcap/privileged", ".gitlab-ci.yml", 2) in places
    root = ET.parse(tmp_path / "leastcap-junit.xml").getroot()
    privileged = next(s for s in root.iter("testsuite") if s.get("name") == "leastcap.privileged")
    failed = [
        c.get("file") + ":" + c.get("line", "") for c in privileged.iter("testcase") if c.find("failure") is not None
    ]
    assert failed == [".gitlab-ci.yml:2"]

    (tmp_path / ".gitlab-ci.yml").write_text("build:\n  services: [postgres:16]\n  script: [make]\n")
    proc = _run_script(tmp_path, {})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "gl-code-quality-report.json").read_text()) == []
