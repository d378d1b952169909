"""pylock.toml, the lock scripts/test installs from, covers every dependency pyproject.toml names,
at a version that satisfies it."""

from __future__ import annotations

import re
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
