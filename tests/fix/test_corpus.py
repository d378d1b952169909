"""fix over the real-world corpus: never crashes, never touches anything but the privilege fields.

Uses ../shared/corpus/real (require_shared) and, for the write test, the real docker compose binary.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leastcap.fix.apply import PRIVILEGE_FIELDS, fix_project, write_files
from leastcap.fix.grants import FixConfidence
from leastcap.knowledge.image_knowledge import load_knowledge
from leastcap.loader.api import LoadOptions, load_project
from leastcap.tree import DiskTree
from support.components import SHARED, require_compose, require_shared

REAL = SHARED / "corpus" / "real"


def _corpus() -> list[Path]:
    if not REAL.is_dir():
        return []
    return sorted(p for p in REAL.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def _privileged_files() -> list[Path]:
    index = REAL / "INDEX.tsv"
    if not index.is_file():
        return []
    rows = [line.split("\t") for line in index.read_text().splitlines()[1:]]
    return [REAL / r[0] for r in rows if r[2] == "1" or r[4] == "1"]


KEYS = "|".join(sorted(PRIVILEGE_FIELDS))
# A line the fix may remove or add: a privilege key, a list item of one, or a comment it wrote.
ALLOWED = re.compile(rf"^\s*((({KEYS}):.*)|(- .*)|(\S+: \S+.*))$")


def _fix_one(src: Path, work: Path, write: bool) -> tuple[bytes, bytes | None, object]:
    target = work / src.name
    opts = LoadOptions(working_dir=str(work), files=(str(target),))
    # Every answer is written, also the "unknown" ones: this tests the editor on real files.
    result = fix_project(opts, load_knowledge(), cwd=str(work), min_confidence=FixConfidence.UNKNOWN)
    before = src.read_bytes()
    after = result.edited.get(str(target))
    if write and result.edited:
        write_files(result)
    return before, after, result


def _effective(path: Path) -> dict[str, object] | None:
    res = load_project(LoadOptions(working_dir=str(path.parent), files=(str(path),)), DiskTree(str(path.parent)))
    return res.effective


def _strip(effective: dict[str, object] | None) -> dict[str, object]:
    services = (effective or {}).get("services", {})
    assert isinstance(services, dict)
    return {n: {k: v for k, v in s.items() if k not in PRIVILEGE_FIELDS} for n, s in services.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fix_changes_only_privilege_fields(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    require_shared()
    files = _privileged_files() or _corpus()
    src = data.draw(st.sampled_from(files))
    work = tmp_path_factory.mktemp("corpus")
    shutil.copyfile(src, work / src.name)  # not copy2: the shared corpus is read-only, fix refuses those
    effective_before = _effective(work / src.name)
    before, after, _ = _fix_one(src, work, write=True)
    if after is None:
        assert (work / src.name).read_bytes() == before
        return
    # Text: every removed or added line is a privilege line; everything else is byte-identical.
    old = before.decode().splitlines()
    new = after.decode().splitlines()
    for line in difflib.unified_diff(old, new, lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        assert ALLOWED.match(line[1:]), line
    # Model: only the privilege fields changed.
    assert _strip(_effective(work / src.name)) == _strip(effective_before)


@pytest.mark.slow
def test_fix_write_over_whole_corpus(tmp_path: Path) -> None:
    require_shared()
    compose = require_compose()
    copy = tmp_path / "real"
    shutil.copytree(REAL, copy, copy_function=shutil.copyfile)  # writable copies of the read-only corpus
    for directory in (copy, *(p for p in copy.rglob("*") if p.is_dir())):
        directory.chmod(0o755)  # copytree copies the corpus's read-only directory modes too
    written = crashes = 0
    unexplained: list[str] = []
    for src in _privileged_files():
        path = copy / src.relative_to(REAL)
        opts = LoadOptions(working_dir=str(path.parent), files=(str(path),))
        original = path.read_bytes()
        ok_before = _compose_ok(compose, path)
        try:
            result = fix_project(opts, load_knowledge(), cwd=str(path.parent), min_confidence=FixConfidence.UNKNOWN)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            crashes += 1
            unexplained.append(f"{src}: crash {exc!r}")
            continue
        write_files(result)
        if result.edited:
            written += 1
            if ok_before:
                assert _compose_ok(compose, path), f"{src}: compose no longer loads the fixed file"
        fixed = {o.service for o in result.outcomes if o.where != "skipped"}
        explained = set(result.unfixed) | {n for n, p in result.plans.items() if p.action != "fix"}
        for name, plan in result.plans.items():
            if "privileged" in plan.triggers and name not in fixed and name not in explained:
                unexplained.append(f"{src}: {name}")
        if not result.edited:
            assert path.read_bytes() == original
    assert crashes == 0, unexplained
    assert unexplained == []
    assert written > 20


def _compose_ok(compose: str, path: Path) -> bool:
    env = {**os.environ, "COMPOSE_PROJECT_NAME": "leastcapfix"}
    proc = subprocess.run(
        [compose, "-f", str(path), "--profile", "*", "config", "-q"],
        capture_output=True,
        cwd=path.parent,
        env=env,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0
