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
from leastcap.report.rulemeta import DOCS_URL, catalogue
from leastcap.rules.base import CIS_VERSION, Rule
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


# Rules the CIS Docker Benchmark v1.6.0 has no item for: 5.32 names the Docker socket only and 5.6's
# sensitive directories are /, /boot, /dev, /etc, /lib, /proc, /sys and /usr, not /run.
NO_CIS_ITEM = {"host-socket"}
# Every rule's CIS items, numbered in CIS Docker Benchmark v1.6.0 (docker/docker-bench-security's
# tests/5_container_runtime.sh: 5.2 AppArmor, 5.3 SELinux, 5.4 capabilities, 5.5 privileged,
# 5.6 sensitive directories, 5.10 host network, 5.16 host PID, 5.17 host IPC, 5.18 devices,
# 5.20 mount propagation, 5.21 host UTS, 5.22 seccomp, 5.26 additional privileges, 5.31 host user
# namespace, 5.32 the Docker socket).
CIS_V1_6_0 = {
    "privileged": ("5.5",),
    "cap-add-all": ("5.4",),
    "dangerous-capability": ("5.4",),
    "missing-cap-drop": ("5.4",),
    "unconfined-profile": ("5.2", "5.3", "5.22"),
    "no-new-privileges": ("5.26",),
    "host-device": ("5.18",),
    "docker-socket": ("5.32",),
    "host-socket": (),
    "sensitive-mount": ("5.6", "5.20"),
    "host-namespace": ("5.10", "5.16", "5.17", "5.21", "5.31"),
}


def test_cis_items_are_of_one_benchmark_version() -> None:
    assert CIS_VERSION == "1.6.0"
    assert {rule.slug: rule.cis for rule in RULES} == CIS_V1_6_0
    assert {rule.cis_version for rule in ALL_RULES} == {CIS_VERSION}


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.slug)
def test_rule_is_complete(rule: Rule) -> None:
    assert isinstance(rule.severity, Severity)
    assert rule.summary and not rule.summary.endswith(".")
    found = sections(rule)
    assert list(found) == list(SECTIONS), f"{rule.slug}: sections {list(found)}"
    assert all(found.values()), f"{rule.slug}: an empty section"
    assert _YAML_BLOCK.search(found["Example"]), f"{rule.slug}: the Example needs a yaml block"
    if rule in RULES:
        assert rule.cis or rule.slug in NO_CIS_ITEM, f"{rule.slug}: which CIS Docker Benchmark items does it check?"
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


def test_every_rule_kind_has_its_docs_section() -> None:
    # SARIF's helpUri, `leastcap rules` and the text output link every rule to docs/rules.md#<slug>.
    headings = re.findall(r"^## (\S+)$", (ROOT / "docs" / "rules.md").read_text(), re.M)
    assert headings == list(slugs())
    assert {info.uri for info in catalogue(None).values()} == {f"{DOCS_URL}#{slug}" for slug in slugs()}


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


def test_every_rule_has_its_test_file() -> None:
    # One file per rule, of every kind: tests/rules/test_<slug>.py, exercising that rule.
    tests = {p.name for p in (ROOT / "tests" / "rules").glob("test_*.py")}
    for slug in slugs():
        name = f"test_{slug.replace('-', '_')}.py"
        assert name in tests, f"{slug}: no tests/rules/{name}"
        text = (ROOT / "tests" / "rules" / name).read_text()
        assert "def test_" in text and f'"{slug}"' in text, f"{slug}: no tests of it in tests/rules/{name}"
    # pytest imports test modules by their base name: a second test_<slug>.py elsewhere in tests/
    # stops the whole suite at collection.
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
