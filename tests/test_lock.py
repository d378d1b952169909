"""pylock.toml, the lock scripts/test installs from, covers every dependency pyproject.toml names,
at a version that satisfies it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement  # pytest's own dependency, locked with it

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]
    lock = tomllib.loads((ROOT / "pylock.toml").read_text())
    assert lock["lock-version"] == "1.0"
    pinned = {_norm(p["name"]): p["version"] for p in lock["packages"]}
    for req in declared:
        assert _norm(req.name) in pinned, f"{req.name} is not in pylock.toml: regenerate it (README)"
        assert req.specifier.contains(pinned[_norm(req.name)], prereleases=True), (req, pinned[_norm(req.name)])
    # Every locked file is pinned by hash.
    for p in lock["packages"]:
        files = [*p.get("wheels", []), *([p["sdist"]] if "sdist" in p else [])]
        assert files and all(f["hashes"]["sha256"] for f in files), p["name"]


def test_scripts_test_installs_the_lock_into_the_python_that_runs_the_suite(tmp_path: Path) -> None:
    # scripts/test runs pytest, ruff and mypy with `python`: the lock must land in that interpreter's
    # environment, also when it is a virtual environment (uv's --system would pick the first
    # non-virtual python on PATH instead, and the suite would run without its dependencies).
    install = [ln for ln in (ROOT / "scripts" / "test").read_text().splitlines() if "uv pip install" in ln]
    assert len(install) == 1, install
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    proc = subprocess.run(
        ["bash", "-c", f"set -euo pipefail; {install[0].replace('--quiet', '')} --dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"environment at: {venv}\n" in proc.stderr, proc.stderr
