"""Every rule is complete: unique slug, metadata, documented sections, fixtures, current docs, and
documentation examples that behave as they say (the Example fires, the Fix is better)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from leastcap.loader.api import LoadOptions, load_project
from leastcap.model import Severity
from leastcap.rules.base import Rule
from leastcap.rules.docs import SECTIONS, render, sections
from leastcap.rules.registry import ALL_RULES, META_RULES, RULES, check_project, rule_by_slug, slugs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "rules"
_SLUG = re.compile(r"^[a-z]+(-[a-z]+)*$")
_YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def test_slugs_unique_and_well_formed() -> None:
    assert len(set(slugs())) == len(ALL_RULES)
    assert all(_SLUG.match(s) for s in slugs())
    assert all(rule_by_slug(r.slug) is r for r in ALL_RULES)
    with pytest.raises(KeyError):
        rule_by_slug("nope")


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.slug)
def test_rule_is_complete(rule: Rule) -> None:
    assert isinstance(rule.severity, Severity)
    assert rule.summary and not rule.summary.endswith(".")
    found = sections(rule)
    assert list(found) == list(SECTIONS), f"{rule.slug}: sections {list(found)}"
    assert all(found.values()), f"{rule.slug}: an empty section"
    assert _YAML_BLOCK.search(found["Example"]), f"{rule.slug}: the Example needs a yaml block"
    if rule in RULES:
        assert rule.cis, f"{rule.slug}: which CIS Docker Benchmark items does it check?"
        assert list((FIXTURES / rule.slug).glob("positive_*.yml")), f"{rule.slug}: no positive fixture"
        assert list((FIXTURES / rule.slug).glob("negative_*.yml")), f"{rule.slug}: no negative fixture"


def test_meta_rules_are_exercised_by_the_suppression_tests() -> None:
    text = (ROOT / "tests" / "config" / "test_suppress.py").read_text()
    for rule in META_RULES:
        assert f'"{rule.slug}"' in text


def test_no_stray_fixture_directories() -> None:
    assert {p.name for p in FIXTURES.iterdir() if p.is_dir()} == {r.slug for r in RULES}


def test_docs_are_current() -> None:
    assert (ROOT / "docs" / "rules.md").read_text() == render(), "run: python scripts/gen_rule_docs.py"
    check = subprocess.run([sys.executable, "scripts/gen_rule_docs.py", "--check"], cwd=ROOT, check=False)
    assert check.returncode == 0


def _rule_findings(yaml_text: str, slug: str, tmp_path: Path) -> list[Severity]:
    (tmp_path / "compose.yml").write_text(yaml_text)
    result = load_project(LoadOptions(working_dir=str(tmp_path), environ={}))
    assert result.errors == () and result.project is not None, result.errors
    return [f.severity for f in check_project(result.project) if f.rule == slug]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.slug)
def test_doc_example_fires_and_fix_is_better(rule: Rule, tmp_path: Path) -> None:
    found = sections(rule)
    example = _YAML_BLOCK.findall(found["Example"])[0]
    fixes = _YAML_BLOCK.findall(found["Fix"])
    before = _rule_findings(example, rule.slug, tmp_path)
    assert before, f"{rule.slug}: its documented example gives no finding"
    assert fixes, f"{rule.slug}: the Fix needs a yaml block"
    after = _rule_findings(fixes[0], rule.slug, tmp_path)
    assert len(after) < len(before)
    assert max(after, default=Severity.INFO) <= max(before)
