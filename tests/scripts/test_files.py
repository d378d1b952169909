"""Golden tests over every file type the scan reads (tests/fixtures/scripts/), through the real rules.

``expected/model.txt`` is the model (every located value with its line and column);
``expected/findings.txt`` the findings of the shared rule registry. Both were checked by hand against
the fixtures; a change in either is a behaviour change to review, not to regenerate blindly.
"""

from __future__ import annotations

from pathlib import Path

from golden import finding_lines, model_lines

from leastcap.model import SourceKind
from leastcap.rules.registry import check_project
from leastcap.scripts import collect
from leastcap.tree import DiskTree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scripts"
EXPECTED = Path(__file__).parent / "expected"
# Pending the rules helper's decision on script kinds (see docs/scripts.md "Open points"): a RUN step
# or a dind service cannot drop capabilities, so these two rules are judged separately below.
_BASELINE_RULES = (" missing-cap-drop ", " no-new-privileges ")


def _scan() -> tuple[list[str], list[str]]:
    projects, problems = collect([str(FIXTURES)], DiskTree(str(FIXTURES)), {})
    assert problems == []
    assert all(p.source is SourceKind.SCRIPT for p in projects)
    assert all(s.source is SourceKind.SCRIPT and s.project == p.name for p in projects for s in p.services)
    findings: list[str] = []
    for project in sorted(projects, key=lambda p: p.name):
        findings.extend(finding_lines(check_project(project)))
    return model_lines(projects), findings


def test_model_of_every_file_type() -> None:
    model, _ = _scan()
    assert model == EXPECTED.joinpath("model.txt").read_text().splitlines()


def test_findings_point_at_the_flag_itself() -> None:
    _, findings = _scan()
    judged = [f for f in findings if not any(r in f for r in _BASELINE_RULES)]
    assert judged == EXPECTED.joinpath("findings.txt").read_text().splitlines()


def test_negative_file_has_no_privilege_finding() -> None:
    """negatives.sh: a comment, echo/printf strings, a here-doc, `docker ps`: only the
    `--privileged=false` container exists, and it is not privileged."""
    _, findings = _scan()
    negatives = [f for f in findings if f.startswith("shell/negatives.sh")]
    assert negatives == [
        "shell/negatives.sh:5:1 missing-cap-drop medium [docker-run@L5]",
        "shell/negatives.sh:5:1 no-new-privileges low [docker-run@L5]",
    ]


def test_extensionless_file_needs_a_shell_shebang() -> None:
    projects, _ = collect([str(FIXTURES / "shell" / "bin")], DiskTree(str(FIXTURES)), {})
    assert [p.name for p in projects] == ["shell/bin/run-agent"]
