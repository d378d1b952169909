"""Fixes belong to findings: the pipeline's fixer attaches one ``Fix`` per service to each finding it
answers, with a safety level, edits located where the loader found the values, and the editor
applies those fixes and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from leastcap.fix.apply import Planner, fix_project
from leastcap.fix.grants import FixConfidence
from leastcap.knowledge.image_knowledge import load_knowledge
from leastcap.loader.api import LoadOptions, load_project
from leastcap.model import Edit, EditAction, Fix, FixSafety, Location
from leastcap.pipeline import Context, evaluate
from leastcap.profile.format import profile_from_dict
from leastcap.rules.base import Fixable, Rule
from leastcap.rules.registry import RULES, fixable_slugs
from leastcap.tree import DiskTree
from support.profiles import verified_profile

NNP = Edit(EditAction.ADD, "security_opt", "no-new-privileges:true")
DROP_ALL = Edit(EditAction.ADD, "cap_drop", "ALL", "drop everything, add back only what is needed")


def _fix(tmp_path: Path, text: str, **kw: object) -> object:
    (tmp_path / "compose.yaml").write_text(text)
    return fix_project(LoadOptions(working_dir=str(tmp_path)), load_knowledge(), cwd=str(tmp_path), **kw)  # type: ignore[arg-type]


def test_a_known_answer_needs_verification_and_its_findings_share_one_fix(tmp_path: Path) -> None:
    result = _fix(
        tmp_path,
        "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n    cap_add: [ALL]\n    privileged: true\n",
        all_rules=True,
    )
    by_rule = {f.rule: f for f in result.findings}  # type: ignore[attr-defined]
    fix = by_rule["privileged"].fix
    assert fix == Fix(
        safety=FixSafety.NEEDS_VERIFICATION,
        confidence="known",
        at=Location("compose.yaml", 5, 5),
        edits=(
            Edit(EditAction.REMOVE, "privileged", at=Location("compose.yaml", 5, 5)),
            Edit(EditAction.REMOVE, "cap_add", "ALL", at=Location("compose.yaml", 4, 15)),
            # gluetun documents NET_ADMIN on top of Docker's defaults: those stay, no cap_drop: [ALL].
            Edit(EditAction.ADD, "cap_add", "NET_ADMIN", "VPN tunnel (image knowledge: gluetun)"),
            Edit(EditAction.ADD, "devices", "/dev/net/tun:/dev/net/tun", "VPN tunnel"),
            NNP,
        ),
    )
    # Every fixable finding of the service carries the same fix; the others carry none.
    assert sorted((f.rule, f.fix is not None) for f in result.findings) == [  # type: ignore[attr-defined]
        ("cap-add-all", True), ("no-new-privileges", True), ("privileged", True)
    ]  # fmt: skip
    assert all(f.fix is fix for f in result.findings if f.fix is not None)  # type: ignore[attr-defined]
    assert result.fixes == {"vpn": fix}  # type: ignore[attr-defined]
    assert result.problems == [] and list(result.edited) == [str(tmp_path / "compose.yaml")]  # type: ignore[attr-defined]


def test_without_all_only_the_primary_findings_get_the_fix(tmp_path: Path) -> None:
    result = _fix(tmp_path, "services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n")
    with_fix = sorted(f.rule for f in result.findings if f.fix is not None)  # type: ignore[attr-defined]
    without = sorted(f.rule for f in result.findings if f.fix is None)  # type: ignore[attr-defined]
    assert with_fix == ["privileged"]
    assert without == ["no-new-privileges"]
    fix = result.fixes["vpn"]  # type: ignore[attr-defined]
    assert fix.summary == (
        "remove privileged; cap_add: NET_ADMIN; security_opt: no-new-privileges:true; devices: /dev/net/tun:/dev/net/tun"
    )


def test_an_unknown_image_gets_an_unsafe_fix_that_is_only_proposed(tmp_path: Path) -> None:
    text = "services:\n  agent:\n    image: example.com/agent:1\n    privileged: true\n"
    result = _fix(tmp_path, text)
    (finding,) = [f for f in result.findings if f.rule == "privileged"]  # type: ignore[attr-defined]
    assert finding.fix is not None
    assert (finding.fix.safety, finding.fix.confidence) == (FixSafety.UNSAFE, "unknown")
    assert result.fixes == {} and result.edited == {}  # type: ignore[attr-defined]
    assert result.plans["agent"].action == "propose"  # type: ignore[attr-defined]
    # Asked for, the same fix is applied.
    result = _fix(tmp_path, text, min_confidence=FixConfidence.UNKNOWN)
    assert result.fixes["agent"] == finding.fix  # type: ignore[attr-defined]
    assert list(result.edited) == [str(tmp_path / "compose.yaml")]  # type: ignore[attr-defined]


def test_a_verified_profile_makes_the_fix_safe(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    profile = profile_from_dict(verified_profile(compose, "app", "CHOWN", "chown of /data\nby app"))
    result = _fix(tmp_path, "services:\n  app:\n    image: example.com/app:1\n    privileged: true\n", profile=profile)
    assert result.fixes["app"] == Fix(  # type: ignore[attr-defined]
        safety=FixSafety.SAFE,
        confidence="verified",
        at=Location("compose.yaml", 4, 5),
        edits=(
            Edit(EditAction.REMOVE, "privileged", at=Location("compose.yaml", 4, 5)),
            DROP_ALL,
            # The reason's newline is defused in the fix itself, before any editor sees it.
            Edit(
                EditAction.ADD,
                "cap_add",
                "CHOWN",
                "chown of /data\\x0aby app (measured and verified by leastcap profile)",
            ),
            NNP,
        ),
    )


def test_the_fix_starts_where_the_value_is_written_in_an_extends_base(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text("services:\n  common:\n    image: example.com/app:1\n    privileged: yes\n")
    text = "services:\n  app:\n    extends:\n      file: base.yml\n      service: common\n    user: '1000'\n"
    result = _fix(tmp_path, text)
    assert result.fixes["app"] == Fix(  # type: ignore[attr-defined]
        safety=FixSafety.NEEDS_VERIFICATION,
        confidence="inferred",
        at=Location("base.yml", 4, 5),
        edits=(Edit(EditAction.REMOVE, "privileged", at=Location("base.yml", 4, 5)), DROP_ALL, NNP),
    )


def test_a_suppressed_finding_gets_no_fix_and_its_service_is_left(tmp_path: Path) -> None:
    text = (
        "services:\n  ci:\n    image: example.com/ci:1\n"
        "    privileged: true  # leastcap: ignore[privileged] nested builds need it (OPS-12)\n"
    )
    result = _fix(tmp_path, text, min_confidence=FixConfidence.UNKNOWN)
    (finding,) = [f for f in result.findings if f.rule == "privileged"]  # type: ignore[attr-defined]
    assert finding.suppressed is not None and finding.fix is None
    assert result.fixes == {} and result.plans == {}  # type: ignore[attr-defined]
    assert result.suppressed == {  # type: ignore[attr-defined]
        "ci": "privileged: suppressed by inline ignore (nested builds need it (OPS-12))"
    }


def test_only_the_chosen_services_get_fixes(tmp_path: Path) -> None:
    text = (
        "services:\n  a:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"
        "  b:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n"
    )
    result = _fix(tmp_path, text, services=frozenset({"b"}))
    assert {(f.service, f.fix is not None) for f in result.findings if f.rule == "privileged"} == {  # type: ignore[attr-defined]
        ("a", False), ("b", True)
    }  # fmt: skip


def test_scan_s_pipeline_attaches_nothing_without_a_fixer_and_the_same_fix_with_one(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  vpn:\n    image: qmcgaw/gluetun:v3\n    privileged: true\n")
    project = load_project(LoadOptions(working_dir=str(tmp_path)), DiskTree(str(tmp_path))).project
    assert project is not None
    plain = evaluate([project], None, Context())
    assert [f.fix for f in plain.findings] == [None] * len(plain.findings)
    planner = Planner(load_knowledge())
    fixed = evaluate([project], None, Context(fixer=planner))
    # Only the fix differs: the findings, their order and their identities stay.
    assert [f.fingerprint for f in fixed.findings] == [f.fingerprint for f in plain.findings]
    assert [(f.rule, f.fix is not None) for f in fixed.findings if f.fix] == [("privileged", True)]
    assert json.dumps(sorted(planner.plans)) == '["vpn"]'


def test_every_service_rule_says_whether_fix_answers_it() -> None:
    assert all(isinstance(rule.fixable, Fixable) for rule in RULES)
    # The planner knows how to answer exactly these; a rule marked fixable without a plan for it
    # would get a fix that does not remove its finding (the fix's reload check would reject it).
    assert set(fixable_slugs()) == {"privileged", "cap-add-all"}
    assert set(fixable_slugs(with_all=True)) == {"privileged", "cap-add-all", "missing-cap-drop", "no-new-privileges"}
    assert Rule.fixable is Fixable.NO


def test_adding_only_no_new_privileges_is_known_only_when_something_says_what_it_disables(tmp_path: Path) -> None:
    text = "services:\n  app:\n    image: {image}\n    cap_drop: [ALL]\n"
    unknown = _fix(tmp_path, text.format(image="example.com/app:1"), all_rules=True)
    plan = unknown.plans["app"]  # type: ignore[attr-defined]
    assert (unknown.fixes["app"].confidence, unknown.fixes["app"].safety) == (  # type: ignore[attr-defined]
        "inferred", FixSafety.NEEDS_VERIFICATION
    )  # fmt: skip
    assert plan.messages[-1] == (
        "nothing says whether the image runs a setuid or file-capability helper that no-new-privileges "
        "would disable (confidence inferred): run the service once with it"
    )
    assert unknown.fixes["app"].edits == (NNP,)  # type: ignore[attr-defined]
    # The knowledge says openvpn drops to nobody with setuid calls, not a setuid binary: known.
    known = _fix(tmp_path, text.format(image="kylemanna/openvpn:2.4"), all_rules=True)
    assert known.fixes["app"].confidence == "known"  # type: ignore[attr-defined]
    assert known.fixes["app"].edits[-1] == NNP  # type: ignore[attr-defined]
