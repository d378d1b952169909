"""Every fixture under tests/fixtures/rules/<slug>/ is loaded by the real loader and checked against
its inline markers.

Marker convention, on the line where the finding's primary location must be::

    privileged: true  # expect: privileged@17:critical

``<slug>@<column>`` with an optional ``:<severity>``; several markers on one line are separated by
spaces. Only findings of the directory's own rule are compared (a positive fixture for ``pid: host``
also lacks ``cap_drop``, which is another rule's business). ``negative_*.yml`` files must give no
finding of their rule, and must carry no markers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from leastcap.loader.api import LoadOptions, load_project
from leastcap.rules.registry import check_project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"
_MARKER = re.compile(r"#\s*expect:\s*(?P<body>.*)$")
_TOKEN = re.compile(r"^(?P<slug>[a-z-]+)@(?P<col>\d+)(?::(?P<sev>[a-z]+))?$")

Expectation = tuple[str, int, int, str | None]  # slug, line, column, severity


def expectations(path: Path) -> list[Expectation]:
    out: list[Expectation] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _MARKER.search(line)
        if match is None:
            continue
        for token in match.group("body").split():
            parsed = _TOKEN.match(token)
            assert parsed is not None, f"{path.name}:{number}: bad marker {token!r}"
            out.append((parsed["slug"], number, int(parsed["col"]), parsed["sev"]))
    return out


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.yml"))


def findings_for(path: Path, slug: str) -> list[Expectation]:
    result = load_project(LoadOptions(working_dir=str(path.parent), files=(str(path),), environ={}))
    assert result.errors == (), result.errors
    assert result.project is not None
    found = []
    for f in check_project(result.project):
        if f.rule != slug:
            continue
        assert Path(f.location.path).name == path.name, f"{f.location} is not in the fixture"
        found.append((f.rule, f.location.line, f.location.column, f.severity.label))
    return found


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    slug = path.parent.name
    expected = expectations(path)
    found = findings_for(path, slug)
    if path.name.startswith("negative_"):
        assert expected == [], "negative fixtures carry no markers"
        assert found == []
        return
    assert path.name.startswith("positive_"), "fixtures are positive_*.yml or negative_*.yml"
    assert expected, "a positive fixture needs at least one marker"
    assert all(e[0] == slug for e in expected), "markers in <slug>/ name that rule"
    assert sorted(e[:3] for e in expected) == sorted(f[:3] for f in found)
    severity_at = {f[:3]: f[3] for f in found}
    for slug_, line, column, severity in expected:
        if severity is not None:
            assert severity_at[(slug_, line, column)] == severity, f"line {line}"
