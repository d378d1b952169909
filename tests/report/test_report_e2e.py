"""Real loader, real rules, real files on disk, then the reporters: the path every scan takes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from leastcap.loader.api import LoadOptions, load_project
from leastcap.model import Report
from leastcap.report import render
from leastcap.rules.registry import check_project
from support.components import require_shared

COMPOSE = (
    "x-caps: &caps\n  cap_add: [SYS_ADMIN]\nservices:\n  web:\n    image: nginx\n    privileged: true\n    <<: *caps\n"
)


def _report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    monkeypatch.chdir(tmp_path)
    result = load_project(LoadOptions(working_dir=".", files=("compose.yaml",)))
    assert result.project is not None and result.errors == ()
    return Report(findings=tuple(check_project(result.project)), scanned_files=("compose.yaml",))


def test_text_shows_each_finding_at_its_source_with_a_caret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report(tmp_path, monkeypatch)
    lines = render(report, "text", color=False).splitlines()
    # Rule messages belong to the rules; positions, snippets and carets are the reporter's.
    heads = [line for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert [" ".join(h.split()[:3]) for h in heads] == [
        "2:13 critical dangerous-capability",
        "4:3 low no-new-privileges",
        "6:5 critical privileged",
    ]
    assert lines[0] == "compose.yaml"
    i = lines.index("    2 |   cap_add: [SYS_ADMIN]")
    assert lines[i + 1] == "      |             ^"
    assert lines[i + 2] == "    via compose.yaml:7:9 (alias *caps)"
    i = lines.index("    6 |     privileged: true")
    assert lines[i + 1] == "      |     ^"
    assert lines[-1] == "3 findings (2 critical, 1 low)."


@pytest.mark.shared
def test_sarif_and_json_of_a_real_scan_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = require_shared()
    report = _report(tmp_path, monkeypatch)
    sarif = json.loads(render(report, "sarif"))
    schema = json.loads((shared / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]) for r in results] == [
        ("dangerous-capability", {"startLine": 2, "startColumn": 13}),
        ("no-new-privileges", {"startLine": 4, "startColumn": 3}),
        ("privileged", {"startLine": 6, "startColumn": 5}),
    ]
    related = results[0]["relatedLocations"][0]["physicalLocation"]
    assert related["region"] == {"startLine": 7, "startColumn": 9}
    doc = json.loads(render(report, "json"))
    assert doc["summary"]["exit_code"] == 1
    assert doc["summary"]["by_severity"] == {"critical": 2, "high": 0, "medium": 0, "low": 1, "info": 0}
