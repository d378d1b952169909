"""Golden tests: each case directory holds input files; expected/<file> is the exact output.

The fix is run through the real loader and rules, written with --write semantics into a temp copy,
compared byte for byte, and run again to prove it changes nothing the second time.
Regenerate with ``python -m pytest --update-golden tests/fix/test_golden.py`` (then review the diff!).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from leastcap.fix.apply import fix_project, unified_diff, write_files
from leastcap.fix.grants import FixConfidence
from leastcap.knowledge.image_knowledge import load_knowledge
from leastcap.loader.api import LoadOptions
from support.golden import updating

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _inputs(case: Path) -> list[Path]:
    return sorted(p for p in case.iterdir() if p.is_file() and p.name != "expected.diff")


def _run(work: Path) -> tuple[str, list[str], dict[str, bytes]]:
    # These goldens test the editor: every answer is written, also the "unknown" ones (the CLI's
    # default --min-confidence inferred would only propose those; tests/fix/test_safety.py).
    result = fix_project(
        LoadOptions(working_dir=str(work)), load_knowledge(), cwd=str(work), min_confidence=FixConfidence.UNKNOWN
    )
    assert result.errors == []
    diff = unified_diff(result, str(work))
    write_files(result)
    return diff, result.problems, {os.path.relpath(p, work): b for p, b in result.edited.items()}


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path) -> None:
    case = GOLDEN / name
    work = tmp_path / name
    work.mkdir()
    for src in _inputs(case):
        shutil.copy2(src, work / src.name)
    diff, _problems, _edited = _run(work)
    expected_dir = case / "expected"
    if updating():
        shutil.rmtree(expected_dir, ignore_errors=True)
        expected_dir.mkdir()
        for src in _inputs(case):
            (expected_dir / src.name).write_bytes((work / src.name).read_bytes())
        (case / "expected.diff").write_bytes(diff.encode())
    for src in _inputs(case):
        assert (work / src.name).read_bytes() == (expected_dir / src.name).read_bytes(), src.name
    assert diff == (case / "expected.diff").read_bytes().decode()
    # Idempotence: a second run finds nothing to change.
    diff2, _, edited2 = _run(work)
    assert (diff2, edited2) == ("", {})
