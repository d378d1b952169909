"""Inline ignores in scripts go through the shared suppression pass (leastcap.suppress) unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from golden import finding_lines

from leastcap.model import Finding
from leastcap.rules.registry import check_project
from leastcap.scripts import collect
from leastcap.suppress import apply
from leastcap.tree import DiskTree


def _scan(tmp_path: Path, script: str) -> list[Finding]:
    (tmp_path / "s.sh").write_text(script)
    projects, _ = collect([str(tmp_path)], DiskTree(str(tmp_path)), {})
    findings = [f for p in projects for f in check_project(p)]
    lines = {"s.sh": script.splitlines()}
    result = apply(findings, None, lines.get, dt.date(2026, 1, 1), projects)
    return [f for f in result if f.rule not in ("no-new-privileges", "missing-cap-drop")]


def test_same_line(tmp_path: Path) -> None:
    script = (
        "docker run --privileged a  # leastcap: ignore[privileged] the agent loads kernel modules, SEC-12\n"
        "docker run --cap-add=ALL b  # leastcap: ignore[privileged] x\n"
    )
    result = _scan(tmp_path, script)
    assert finding_lines(result) == [
        "s.sh:1:12 privileged critical [docker-run@L1] suppressed",
        "s.sh:2:12 cap-add-all critical [docker-run@L2]",
        "s.sh:2:29 exception-invalid medium []",
    ]
    assert result[0].suppressed is not None
    assert result[0].suppressed.justification == "the agent loads kernel modules, SEC-12"


def test_line_above_a_multiline_command(tmp_path: Path) -> None:
    script = "# leastcap: ignore[host-namespace] the exporter reads every PID, SEC-99\ndocker run \\\n  --pid=host b\n"
    expected = ["s.sh:3:3 host-namespace high [docker-run@L2] suppressed"]
    assert finding_lines(_scan(tmp_path, script)) == expected
