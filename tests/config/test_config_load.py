""".leastcap.yml: shape, positions of errors, discovery, exceptions as written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leastcap.config import (
    Config,
    ConfigError,
    RuleSettings,
    ScriptsSettings,
    find_config,
    load_config,
    parse_config,
    resolve_config,
    schema,
    trivial_reason,
)
from leastcap.model import Location, Severity
from leastcap.rules.registry import slugs

FULL = """\
fail-on: medium
rules:
  missing-cap-drop:
    enabled: false
  no-new-privileges: {severity: high}
exceptions:
  - rule: privileged
    project: "ci-*"
    service: dind
    justification: Docker-in-Docker runner on an isolated build host
    approved_by: alice
    expires: 2027-01-31
    ticket: SEC-12
scripts:
  shell: false
images:
  - image: nginx
    caps: [CHOWN]
"""


def errors(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yml")
    return [(p.message, p.line, p.column) for p in info.value.problems]


def test_full_config() -> None:
    config = parse_config(FULL, "cfg.yml")
    assert config.path == "cfg.yml"
    assert config.fail_on is Severity.MEDIUM
    assert config.rules == (
        ("missing-cap-drop", RuleSettings(enabled=False)),
        ("no-new-privileges", RuleSettings(severity=Severity.HIGH)),
    )
    assert not config.rule_enabled("missing-cap-drop") and config.rule_enabled("privileged")
    assert config.severity_for("no-new-privileges", Severity.LOW) is Severity.HIGH
    (exc,) = config.exceptions
    assert (exc.rule, exc.project, exc.service, exc.approved_by, exc.expires, exc.ticket, exc.problems) == (
        "privileged",
        "ci-*",
        "dind",
        "alice",
        dt.date(2027, 1, 31),
        "SEC-12",
        (),
    )
    assert exc.location == Location("cfg.yml", 7, 5)
    assert exc.field_location("expires") == Location("cfg.yml", 12, 14)
    assert config.scripts == ScriptsSettings(shell=False)
    assert config.images[0].data == {"image": "nginx", "caps": ["CHOWN"]}
    assert config.images[0].location == Location("cfg.yml", 17, 5)


def test_empty_config_is_defaults() -> None:
    assert parse_config("", "c.yml") == Config(path="c.yml")
    assert parse_config("# only a comment\n", "c.yml").scripts == ScriptsSettings()


def test_unknown_keys_are_errors_with_positions() -> None:
    assert errors("fail-on: high\nfial-on: low\n") == [
        (
            "unknown key 'fial-on' in the top level (expected one of: approvers, exceptions, fail-on, images, rules, scripts)",
            2,
            1,
        )
    ]
    assert errors("exceptions:\n  - rule: privileged\n    servce: x\n") == [
        (
            "unknown key 'servce' in exceptions[0] "
            "(expected one of: approved_by, expires, justification, project, "
            "rule, service, ticket)",
            3,
            5,
        )
    ]
    assert errors("rules:\n  privileged: {enable: false}\n") == [
        ("unknown key 'enable' in rules.privileged (expected one of: enabled, severity)", 2, 16)
    ]
    assert errors("rules:\n  priviliged: {enabled: false}\n") == [("unknown rule 'priviliged' in rules", 2, 3)]
    assert errors("scripts:\n  powershell: true\n")[0][1:] == (2, 3)


def test_type_and_value_errors() -> None:
    assert errors("fail-on: severe\n") == [("fail-on: 'severe' is not one of info, low, medium, high, critical", 1, 10)]
    assert errors("exceptions:\n  - rule: privileged\n    expires: 31/01/2027\n") == [
        ("exceptions[0].expires: '31/01/2027' is not an ISO date (YYYY-MM-DD)", 3, 14)
    ]
    assert errors("rules:\n  privileged: {enabled: maybe}\n") == [
        ("rules.privileged.enabled: 'maybe' is not of type 'boolean'", 2, 25)
    ]
    assert errors("exceptions:\n  - service: x\n") == [("exceptions[0]: 'rule' is a required property", 2, 5)]
    assert errors("- 1\n") == [("the config must be a mapping", 1, 1)]


def test_yaml_problems() -> None:
    assert errors("a: 1\na: 2\n") == [("duplicate key 'a' (first defined at line 1)", 2, 1)]
    assert errors("rules: [\n")[0][0].startswith("invalid YAML:")
    assert errors("x: &a {rules: 1}\n<<: *a\n")[0][0] == "merge keys (<<) are not supported in the config"
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    assert errors(bomb) == [("config is too large (alias bomb?)", 1, 1)]


def test_exception_problems_are_kept_not_raised() -> None:
    config = parse_config(
        "exceptions:\n"
        "  - rule: privilegd\n"
        "    justification: todo\n"
        "  - rule: privileged\n"
        "    service: dind\n"
        "    justification: Docker-in-Docker runner on an isolated host\n"
        "    approved_by: bob\n"
        "    expires: 2027-02-30\n",
        "c.yml",
    )
    first, second = config.exceptions
    assert first.problems == (
        "rule 'privilegd' matches no leastcap rule",
        "it names neither a project nor a service (use '*' to mean all, explicitly)",
        "its justification is not acceptable: 'todo' is a placeholder",
        "approved_by is missing",
        "expires is missing",
    )
    assert second.problems == ("expires '2027-02-30' is not a valid date",)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("todo", "'todo' is a placeholder"),
        ("N/A", "'N/A' is a placeholder"),
        ("TODO later", "'TODO later' is a placeholder"),
        ("temp fix", "'temp fix' is too short to explain the risk"),
        ("legacy", "'legacy' is too short to explain the risk"),
        ("needs GPU passthrough", None),
        ("Docker-in-Docker CI runner", None),
    ],
)
def test_trivial_reason(text: str, verdict: str | None) -> None:
    assert trivial_reason(text) == verdict


def test_discovery_upward_and_explicit(tmp_path: Path) -> None:
    (tmp_path / ".leastcap.yml").write_text("fail-on: low\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "compose.yml").write_text("services: {}\n")
    assert find_config(deep) == tmp_path / ".leastcap.yml"
    assert find_config(deep / "compose.yml") == tmp_path / ".leastcap.yml"
    config = resolve_config([str(deep)], cwd=str(tmp_path))
    assert (config.path, config.fail_on) == (".leastcap.yml", Severity.LOW)
    other = tmp_path / "other.yml"
    other.write_text("fail-on: critical\n")
    assert resolve_config([str(deep)], explicit=str(other), cwd=str(tmp_path)).fail_on is Severity.CRITICAL
    (deep / ".leastcap.yaml").write_text("fail-on: info\n")
    assert resolve_config([str(deep)], cwd=str(tmp_path)).path == "a/b/.leastcap.yaml"


def test_no_config_found_gives_defaults(tmp_path: Path) -> None:
    # tmp dirs live under /tmp, which has no .leastcap.yml above it on this machine or in CI
    if find_config(tmp_path) is not None:
        pytest.fail(f"a stray config above the temp dir: {find_config(tmp_path)}")
    assert resolve_config([str(tmp_path)], cwd=str(tmp_path)) == Config()


def test_unreadable_and_binary_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yml", cwd=str(tmp_path))
    assert info.value.problems[0].message.startswith("cannot read config:")
    binary = tmp_path / ".leastcap.yml"
    binary.write_bytes(b"\xff\xfe\x00rules")
    with pytest.raises(ConfigError) as info:
        load_config(binary, cwd=str(tmp_path))
    assert (info.value.problems[0].path, info.value.message) == (".leastcap.yml", "config is not UTF-8 text")


def test_schema_is_valid_and_lists_every_rule() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$defs"]["rule-slug"]["enum"] == list(slugs())
    shipped = Path(__file__).resolve().parents[2] / "src/leastcap/schemas/leastcap-config.schema.json"
    assert json.loads(shipped.read_text()) == schema()


def test_tags_and_complex_keys_are_clean_errors() -> None:
    assert errors("a: !foo x\n") == [("invalid value: could not determine a constructor for the tag '!foo'", 1, 4)]
    assert errors("? [a, b]\n: 1\n") == [("keys must be plain scalars", 1, 3)]


_PIECES = st.sampled_from(
    [
        *"abr:- \n[]{}!&*#'\"0129.|>?%,",
        "rules",
        "exceptions",
        "fail-on",
        "privileged",
        "  - rule: ",
        "enabled",
        "\n  ",
        "!!binary ",
        "2027-01-01",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_any_text_gives_a_config_or_a_clean_error(text: str) -> None:
    try:
        parse_config(text, "c.yml")
    except ConfigError as exc:
        assert exc.problems and all(p.path == "c.yml" for p in exc.problems)
