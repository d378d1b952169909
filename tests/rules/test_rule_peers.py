"""The KICS and semgrep fixtures (../shared/corpus/peers) for the rules leastcap covers.

For each peer file we compare the peer's expected lines with leastcap's findings of the matching
rule(s). Every place where they differ is listed in DISAGREEMENTS with the reason; the test fails on
any difference that is not listed (and on a listed one that no longer happens), so the list stays
exactly true. Where they differ, leastcap follows what Docker Compose v2 and the daemon really do.

Location conventions are not disagreements: KICS points at the key (``cap_add:``) where leastcap
points at the list item, or at the item's first key where leastcap points at the item; semgrep
reports a match as the whole node after its ``# ruleid:`` comment (often a whole service).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from leastcap.loader.api import LoadOptions, load_project
from leastcap.model import Finding
from leastcap.rules.registry import check_project
from support.components import SHARED, require_shared

KICS = SHARED / "corpus" / "peers" / "kics"
SEMGREP = SHARED / "corpus" / "peers" / "semgrep" / "security"

# peer query -> our rule and, optionally, a fact the finding must carry to be the same check.
KICS_QUERIES: dict[str, list[tuple[str, tuple[str, str] | None]]] = {
    "container_capabilities_unrestricted": [
        ("cap-add-all", None),
        ("missing-cap-drop", None),
        ("dangerous-capability", None),
    ],
    "default_seccomp_profile_disabled": [("unconfined-profile", ("option", "seccomp"))],
    "docker_socket_mounted_in_container": [("docker-socket", None)],
    "host_namespace_is_shared": [("host-namespace", ("namespace", "pid"))],
    "no_new_privileges_not_set": [("no-new-privileges", None)],
    "privileged_containers_enabled": [("privileged", None)],
    "security_opt_not_set": [("no-new-privileges", None)],
    "shared_host_ipc_namespace": [("host-namespace", ("namespace", "ipc"))],
    "shared_host_network_namespace": [("host-namespace", ("namespace", "network_mode"))],
    "shared_host_user_namespace": [("host-namespace", ("namespace", "userns_mode"))],
    "volume_has_sensitive_host_directory": [("sensitive-mount", None)],
}
SEMGREP_RULES: dict[str, list[tuple[str, tuple[str, str] | None]]] = {
    "exposing-docker-socket-volume": [("docker-socket", None)],
    "no-new-privileges": [("no-new-privileges", None)],
    "privileged-service": [("privileged", None)],
    "seccomp-confinement-disabled": [("unconfined-profile", ("option", "seccomp"))],
    "selinux-separation-disabled": [("unconfined-profile", ("option", "label"))],
}

ANONYMOUS = (
    "a single-path entry is an ANONYMOUS volume at that path in the container (type volume, "
    "no source), not a bind of the host's socket"
)
_STRING_SERVICE = (
    "compose refuses `services: {image: docker}`: a service named 'image' whose definition is a string "
    "(services.image must be a mapping); leastcap reports that error and judges the rest of the file"
)
_NO_TYPE = "compose refuses a long-syntax volume without `type:`: an error, and no finding for that entry"
# (peer file relative to its corpus dir) -> {(kind, line): reason}
#   missed:  the peer expects a finding on this line, leastcap reports none there
#   extra:   leastcap reports this rule here, the peer expects nothing
#   refused: docker compose refuses the whole file (leastcap reports a load error), at this line
#   error:   compose refuses the entry at this line; leastcap reports that error and judges the rest
DISAGREEMENTS: dict[str, dict[tuple[str, int], str]] = {
    "container_capabilities_unrestricted/test/positive1.yaml": {
        ("missed", 4): "with cap_add: [ALL] the service has every capability: cap-add-all (critical) reports "
        "it; a missing cap_drop is moot, so missing-cap-drop stays quiet",
    },
    "default_seccomp_profile_disabled/test/positive1.yaml": {
        ("missed", 13): "label:seccomp:unconfined is the SELinux label option 'seccomp:unconfined' (the "
        "daemon splits on the first ':'); seccomp stays on",
    },
    "security_opt_not_set/test/negative1.yaml": {
        ("extra", 13): "any security_opt is not enough: this one only switches AppArmor off "
        "(unconfined-profile) and no-new-privileges is still not set (reported at the security_opt "
        "key, where it will be added)",
    },
    "volume_has_sensitive_host_directory/test/negative2.yaml": {
        ("error", 4): _STRING_SERVICE,
    },
    "volume_has_sensitive_host_directory/test/positive1.yaml": {
        ("missed", 11): "`- /var/lib/backup/data` is an anonymous volume, nothing of the host is mounted",
    },
    "volume_has_sensitive_host_directory/test/positive2.yaml": {
        ("missed", 18): "a bind of /var/lib/backup/data exposes ordinary data, not the host's control "
        "surface (KICS treats all of /var/lib as sensitive; leastcap flags /var/lib/docker)",
    },
    "volume_has_sensitive_host_directory/test/positive3.yaml": {
        ("error", 4): _STRING_SERVICE,
        ("missed", 14): "the `mountpoint` of a `local-persist` volume (a third-party volume plugin) is "
        "/var/data: ordinary data, not the host's control surface",
    },
    "exposing-docker-socket-volume.test.yaml": {
        **{("missed", line): ANONYMOUS for line in (88, 93, 99, 105, 112, 117, 123, 129, 240, 250)},
        # Services 22-38 write long-syntax volumes without `type:`. compose refuses each of those
        # entries ("services.serviceN.volumes.0 must be a string"): leastcap reports an error on
        # every one and judges everything else in the file (the other services' sockets above).
        **{("missed", line): _NO_TYPE for line in (136, 141, 147, 153, 158, 164, 183, 189, 195, 202)},
        **{("missed", line): _NO_TYPE for line in (208, 214, 221, 227, 233)},
        **{
            ("error", line): _NO_TYPE
            for line in (137, 142, 148, 154, 159, 165, 171, 176, 178, 184, 185, 190, 191, 196, 197, 198)
        },
        **{("error", line): _NO_TYPE for line in (203, 204, 209, 210, 215, 216, 217, 222, 228, 235)},
    },
}


@dataclass(frozen=True)
class Spans:
    """Line spans of YAML nodes: for a key, the key with its value; for a list item, the item."""

    by_line: dict[int, list[tuple[int, int, int]]]  # start line -> [(end line, depth, kind 0 key/1 item)]

    @classmethod
    def of(cls, text: str) -> Spans:
        spans: dict[int, list[tuple[int, int, int]]] = {}

        def end(node: yaml.Node) -> int:
            mark = node.end_mark
            return mark.line + 1 if mark.column > 0 else mark.line

        def walk(node: yaml.Node, depth: int) -> None:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    spans.setdefault(key.start_mark.line + 1, []).append((end(value), depth, 0))
                    walk(value, depth + 1)
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    spans.setdefault(item.start_mark.line + 1, []).append((end(item), depth, 1))
                    walk(item, depth + 1)

        root = yaml.compose(text, Loader=yaml.CSafeLoader)
        if root is not None:
            walk(root, 0)
        return cls(spans)

    def widest(self, line: int, min_depth: int = 0) -> tuple[int, int]:
        ends = [e for e, depth, _ in self.by_line.get(line, []) if depth >= min_depth]
        return (line, max(ends, default=line))


def _load(path: Path) -> tuple[list[Finding] | None, set[tuple[str, int]]]:
    """Our findings for a file (None when it cannot be loaded at all) and its errors' lines: each
    an entry compose refuses ("error"), or the whole file ("refused")."""
    result = load_project(LoadOptions(working_dir=str(path.parent), files=(str(path),), environ={}), partial=True)
    if result.project is None:
        return None, {("refused", e.line) for e in result.errors}
    return check_project(result.project), {("error", e.line) for e in result.errors}


def _ours(findings: list[Finding], mapping: list[tuple[str, tuple[str, str] | None]]) -> set[int]:
    lines = set()
    for f in findings:
        for rule, fact in mapping:
            if f.rule == rule and (fact is None or fact in f.facts):
                lines.add(f.location.line)
    return lines


def _compare(peer_spans: list[tuple[int, int]], ours: set[int], spans: Spans) -> set[tuple[str, int]]:
    """Disagreements: peer spans with none of our lines, and our lines in no peer span (or item)."""
    out: set[tuple[str, int]] = set()
    covered: set[int] = set()
    for start, stop in peer_spans:
        hit = {line for line in ours if start <= line <= stop}
        # KICS sometimes names a key inside the item leastcap points at.
        hit |= {
            line for line in ours if any(line < start <= e for e, _, kind in spans.by_line.get(line, []) if kind == 1)
        }
        if hit:
            covered |= hit
        else:
            out.add(("missed", start))
    out |= {("extra", line) for line in ours - covered}
    return out


def _declared(key: str) -> set[tuple[str, int]]:
    return set(DISAGREEMENTS.get(key, {}))


def kics_cases() -> list[tuple[str, str]]:
    if not KICS.is_dir():
        return [("missing", "missing")]
    return [(query, p.name) for query in sorted(KICS_QUERIES) for p in sorted((KICS / query / "test").glob("*.yaml"))]


@pytest.mark.shared
@pytest.mark.parametrize(("query", "name"), kics_cases(), ids=lambda v: v)
def test_kics(query: str, name: str) -> None:
    require_shared()
    path = KICS / query / "test" / name
    key = f"{query}/test/{name}"
    text = path.read_text()
    expected = json.loads((KICS / query / "test" / "positive_expected_result.json").read_text())
    peer_lines = sorted({e["line"] for e in expected if e["filename"] == name})
    findings, errors = _load(path)
    if findings is None:
        assert errors == _declared(key)
        return
    spans = Spans.of(text)
    # A KICS line on a key inside a service covers that key's value; a service key line is exact.
    peer_spans = [spans.widest(line, min_depth=2) for line in peer_lines]
    assert _compare(peer_spans, _ours(findings, KICS_QUERIES[query]), spans) | errors == _declared(key)


_SEMGREP_MARK = re.compile(r"#\s*ruleid:\s*(?P<rule>[\w-]+)")


def semgrep_cases() -> list[str]:
    if not SEMGREP.is_dir():
        return ["missing"]
    return [f"{rule}.test.yaml" for rule in sorted(SEMGREP_RULES)]


@pytest.mark.shared
@pytest.mark.parametrize("name", semgrep_cases())
def test_semgrep(name: str) -> None:
    require_shared()
    rule = name.removesuffix(".test.yaml")
    path = SEMGREP / name
    text = path.read_text()
    findings, errors = _load(path)
    if findings is None:
        assert errors == _declared(name)
        return
    spans = Spans.of(text)
    lines = text.splitlines()
    peer_spans = []
    for number, line in enumerate(lines, start=1):
        mark = _SEMGREP_MARK.search(line)
        if mark is None or mark["rule"] != rule:
            continue
        target = next(
            n
            for n in range(number + 1, len(lines) + 1)
            if not lines[n - 1].strip().startswith("#") and lines[n - 1].strip()
        )
        peer_spans.append(spans.widest(target))
    assert peer_spans, "the semgrep file has ruleid markers"
    assert _compare(peer_spans, _ours(findings, SEMGREP_RULES[rule]), spans) | errors == _declared(name)
