"""Every format validates against its published shape, and each validator is shown to reject a bad one."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from report_sample import RULES, clean_report, sample_report, source_line

import leastcap
from leastcap.report import render
from support.components import require_shared

HERE = Path(__file__).parent
REPORT_SCHEMA = Path(leastcap.__file__).parent / "schemas" / "report-v1.schema.json"
CODEQUALITY_SCHEMA = HERE / "schemas" / "gitlab-codequality.schema.json"
REPORTS = {"sample": sample_report, "clean": clean_report}


def _render(name: str, fmt: str) -> str:
    return render(REPORTS[name](), fmt, source_line=source_line, color=False, rules=RULES)


def _json_validator(path: Path, cls: Any) -> Any:
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls.check_schema(schema)
    return cls(schema)


# --- json v1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_json_v1_matches_its_schema(name: str) -> None:
    validator = _json_validator(REPORT_SCHEMA, jsonschema.Draft202012Validator)
    validator.validate(json.loads(_render(name, "json")))


def test_json_v1_schema_rejects_a_missing_key_and_an_extra_key() -> None:
    validator = _json_validator(REPORT_SCHEMA, jsonschema.Draft202012Validator)
    doc = json.loads(_render("sample", "json"))
    missing = copy.deepcopy(doc)
    del missing["findings"][0]["suppressed"]
    assert not validator.is_valid(missing)
    extra = copy.deepcopy(doc)
    extra["findings"][0]["fingerprint"] = "x"
    assert not validator.is_valid(extra)
    wrong = copy.deepcopy(doc)
    wrong["findings"][0]["severity"] = "severe"
    assert not validator.is_valid(wrong)


# --- sarif ----------------------------------------------------------------------------------------


def _sarif_validator() -> Any:
    shared = require_shared()
    return _json_validator(shared / "schemas" / "sarif-schema-2.1.0.json", jsonschema.Draft4Validator)


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_sarif_matches_the_oasis_schema(name: str) -> None:
    _sarif_validator().validate(json.loads(_render(name, "sarif")))


@pytest.mark.shared
def test_sarif_schema_rejects_a_bad_level() -> None:
    validator = _sarif_validator()
    doc = json.loads(_render("sample", "sarif"))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(doc)


@pytest.mark.shared
def test_sarif_with_the_real_rule_registry_is_valid() -> None:
    # The real rules' docstrings become help text; this fails if one of them breaks SARIF.
    doc = json.loads(render(sample_report(), "sarif", source_line=source_line, color=False))
    _sarif_validator().validate(doc)
    ids = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    assert {"privileged", "exception-unused"} <= set(ids)
    privileged = next(r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "privileged")
    assert privileged["properties"]["security-severity"] == "9.5"
    assert "## Why is this bad" in privileged["help"]["markdown"]


# --- codeclimate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_codeclimate_matches_gitlabs_shape(name: str) -> None:
    validator = _json_validator(CODEQUALITY_SCHEMA, jsonschema.Draft202012Validator)
    issues = json.loads(_render(name, "codeclimate"))
    validator.validate(issues)
    fingerprints = [i["fingerprint"] for i in issues]
    assert len(fingerprints) == len(set(fingerprints)), "GitLab deduplicates on fingerprint"


def test_codeclimate_schema_rejects_a_bad_severity() -> None:
    validator = _json_validator(CODEQUALITY_SCHEMA, jsonschema.Draft202012Validator)
    issues = json.loads(_render("sample", "codeclimate"))
    issues[0]["severity"] = "high"
    assert not validator.is_valid(issues)


# --- junit ----------------------------------------------------------------------------------------


def _xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(HERE / "schemas" / "junit.xsd"))


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_junit_matches_the_junit_xsd(name: str) -> None:
    _xsd().validate(_render(name, "junit"))


def test_junit_xsd_rejects_a_testcase_without_name() -> None:
    bad = _render("sample", "junit").replace('<testcase name="no findings" ', "<testcase ", 1)
    assert not _xsd().is_valid(bad)


def test_junit_counts_add_up() -> None:
    root = ET.fromstring(_render("sample", "junit"))
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        assert {k: int(suite.get(k, "-1")) for k in counted} == counted, suite.get("name")
        for k, v in counted.items():
            totals[k] += v
    assert {k: int(root.get(k, "-1")) for k in totals} == totals
    # 8 active findings fail, 2 suppressed are skipped, the unparsable file is an error.
    assert totals == {"tests": 12, "failures": 8, "errors": 1, "skipped": 2}
