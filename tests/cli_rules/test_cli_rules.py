"""`leastcap rules` and `leastcap explain` through the real CLI and the real rule registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from leastcap.cli.main import cli
from leastcap.rules import registry
from leastcap.rules.privileged import Privileged

DOCS = "https://github.com/leastcap/leastcap/blob/main/docs/rules.md"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_rules_lists_every_registered_rule_in_registry_order() -> None:
    code, out, err = run("rules")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    rules = registry.ALL_RULES
    slug_w = max(len(r.slug) for r in rules)
    sev_w = len("SEVERITY")
    assert lines[0] == f"{'RULE':<{slug_w}}  {'SEVERITY':<{sev_w}}  SUMMARY"
    meta = {r.slug for r in registry.META_RULES}
    expected = [
        f"{r.slug:<{slug_w}}  {r.severity.label:<{sev_w}}  {r.summary}"
        + (" (about suppressions)" if r.slug in meta else "")
        for r in rules
    ]
    assert lines[1 : 1 + len(rules)] == expected
    assert lines[1 + len(rules) :] == [
        "",
        f"{len(rules)} rules. `leastcap explain RULE` shows a rule's documentation.",
    ]
    assert "\x1b[" not in out  # not a terminal: plain text


def test_rules_privileged_row_is_exact() -> None:
    _, out, _ = run("rules")
    row = next(line for line in out.splitlines() if line.startswith("privileged "))
    assert row.split("  ")[0] == "privileged"
    assert row.endswith("  critical  A service, its build or a lifecycle hook runs privileged")


def test_rules_json() -> None:
    code, out, err = run("rules", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["version"] == 1
    assert [r["slug"] for r in doc["rules"]] == [r.slug for r in registry.ALL_RULES]
    first = doc["rules"][0]
    assert first == {
        "slug": "privileged",
        "severity": "critical",
        "confidence": "high",
        "summary": Privileged.summary,
        "cis": ["5.5"],
        "cis_version": "1.6.0",
        "meta": False,
        "fix": "yes",
        "help_uri": f"{DOCS}#privileged",
    }
    assert {r["slug"]: r["fix"] for r in doc["rules"] if r["fix"] != "no"} == {
        "privileged": "yes",
        "cap-add-all": "yes",
        "missing-cap-drop": "with --all",
        "no-new-privileges": "with --all",
    }
    assert {r["slug"] for r in doc["rules"] if r["meta"]} == {
        "exception-invalid",
        "exception-expired",
        "exception-unused",
    }


def test_rules_rejects_an_unknown_format() -> None:
    code, _, err = run("rules", "--format", "yaml")
    assert code == 2
    assert "Invalid value for '--format'" in err


def test_explain_privileged_prints_the_rule_docs() -> None:
    code, out, err = run("explain", "privileged")
    assert (code, err) == (0, "")
    head = f"privileged (critical, high confidence)  CIS Docker Benchmark v1.6.0 5.5\n{Privileged.summary}\n\n"
    assert out.startswith(head)
    body = out[len(head) :]
    positions = [body.index(f"## {name}\n") for name in ("What it does", "Why is this bad", "Example", "Fix")]
    assert positions == sorted(positions)
    assert "privileged: true" in body
    assert out.endswith(f"\n\nMore: {DOCS}#privileged\n")


@pytest.mark.parametrize("spelling", ["HOST_NAMESPACE", "Host-Namespace", " host-namespace "])
def test_explain_accepts_other_spellings(spelling: str) -> None:
    code, out, _ = run("explain", spelling)
    assert code == 0
    assert out.startswith("host-namespace (high, high confidence)")


def test_explain_a_meta_rule() -> None:
    code, out, _ = run("explain", "exception-expired")
    assert code == 0
    assert out.startswith("exception-expired (medium, high confidence)\n")


def test_explain_markdown() -> None:
    code, out, _ = run("explain", "privileged", "--format", "markdown")
    assert code == 0
    assert out.startswith(f"# privileged\n\n**{Privileged.summary}**\n\n")
    assert "\n## Fix\n\n" in out


def test_explain_unknown_rule_exits_2_with_suggestions() -> None:
    code, out, err = run("explain", "privilegd")
    assert (code, out) == (2, "")
    assert err == (
        "leastcap explain: unknown rule 'privilegd'. Did you mean: privileged, no-new-privileges? "
        "Run `leastcap rules` to list the rules.\n"
    )


def test_explain_unknown_rule_without_close_match() -> None:
    code, _, err = run("explain", "zzz")
    assert code == 2
    assert err == "leastcap explain: unknown rule 'zzz'. Run `leastcap rules` to list the rules.\n"


def _leastcap(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "leastcap", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_explain_through_the_installed_entry_point() -> None:
    # The real process: lazy subcommand loading and the exit code as a shell sees it.
    ok = _leastcap("explain", "docker-socket")
    assert ok.returncode == 0
    assert ok.stdout.startswith("docker-socket (critical, ")
    bad = _leastcap("explain", "nope")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "unknown rule 'nope'" in bad.stderr
