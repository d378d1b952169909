"""action.yml's shell steps, run locally the way a GitHub runner runs a composite action.

Each ``run:`` step goes to ``bash --noprofile --norc -eo pipefail`` with its ``env:`` (inputs
substituted), and the runner's files ``GITHUB_OUTPUT``/``GITHUB_ENV``/``GITHUB_PATH`` are honoured
between steps. The install step really installs this checkout into a fresh venv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from support.components import REPO_ROOT, require

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
_EXPR = re.compile(r"\$\{\{\s*([a-z_.-]+)\s*\}\}")


@dataclass
class Runner:
    workspace: Path
    temp: Path
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)

    def run_step(self, step: dict[str, object], inputs: dict[str, str]) -> tuple[int, dict[str, str], str]:
        values = {f"inputs.{k}": v["default"] for k, v in ACTION["inputs"].items()}
        values.update({f"inputs.{k}": v for k, v in inputs.items()})
        values["github.action_path"] = str(REPO_ROOT)
        step_env = {k: _EXPR.sub(lambda m: values[m.group(1)], str(v)) for k, v in dict(step.get("env", {})).items()}
        files = {name: self.temp / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for f in files.values():
            f.write_text("")
        env = {**os.environ, **self.env, **step_env, "RUNNER_TEMP": str(self.temp)}
        env.update({k: str(v) for k, v in files.items()})
        env["PATH"] = os.pathsep.join([*self.path, os.environ["PATH"]])
        script = self.temp / "step.sh"
        script.write_text(str(step["run"]))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if line)
        self.env.update(dict(line.split("=", 1) for line in files["GITHUB_ENV"].read_text().splitlines() if line))
        self.path[:0] = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        return proc.returncode, outputs, proc.stdout + proc.stderr


def _step(step_id_or_name: str) -> dict[str, object]:
    for step in ACTION["runs"]["steps"]:
        if step_id_or_name in (step.get("id"), step.get("name")):
            return dict(step)
    raise KeyError(step_id_or_name)


def test_action_metadata() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"paths", "fail-on", "sarif-file", "args", "version", "diff-base", "diff-file"}
    assert ACTION["outputs"]["sarif-file"]["value"] == "${{ steps.scan.outputs.sarif-file }}"
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash"
        # Inputs reach scripts only through env: an input spliced into `run:` is a script injection.
        assert "${{" not in step["run"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    scan_available = (REPO_ROOT / "src" / "leastcap" / "cli" / "scan_cmd.py").is_file()
    require(scan_available, "`leastcap scan` (src/leastcap/cli/scan_cmd.py)")
    temp = tmp_path_factory.mktemp("runner")
    workspace = tmp_path_factory.mktemp("workspace")
    runner = Runner(workspace, temp)
    code, _, out = runner.run_step(_step("Install leastcap"), {})
    assert code == 0, out
    assert runner.env["LEASTCAP_BIN"] == str(temp / "leastcap-venv" / "bin" / "leastcap")
    assert runner.path == [str(temp / "leastcap-venv" / "bin")]
    return runner


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scan_step_writes_sarif_and_fails_on_findings(installed: Runner) -> None:
    ws = installed.workspace
    (ws / "deploy.sh").write_text("#!/bin/sh\ndocker run --privileged busybox\n")
    code, outputs, out = installed.run_step(_step("scan"), {})
    assert code == 1, out
    assert outputs == {"sarif-file": "leastcap.sarif", "exit-code": "1"}
    assert "::error::leastcap found findings at or above 'high'" in out
    sarif = json.loads((ws / "leastcap.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    places = set()
    for run in sarif["runs"]:
        for result in run["results"]:
            physical = result["locations"][0]["physicalLocation"]
            region = physical["region"]
            uri = physical["artifactLocation"]["uri"]
            places.add((result["ruleId"], uri, region["startLine"], region["startColumn"]))
    assert ("privileged", "deploy.sh", 2, 12) in places

    code, outputs, out = installed.run_step(_step("scan"), {"fail-on": "none", "sarif-file": "out.sarif"})
    assert code == 0, out
    assert outputs == {"sarif-file": "out.sarif", "exit-code": "1"}
    assert (ws / "out.sarif").is_file()

    (ws / "deploy.sh").write_text("#!/bin/sh\ndocker run --cap-drop=ALL busybox\n")
    code, outputs, out = installed.run_step(_step("scan"), {"paths": "."})
    assert code == 0, out
    assert outputs == {"sarif-file": "leastcap.sarif", "exit-code": "0"}
