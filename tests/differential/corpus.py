"""Run leastcap and the real `docker compose` over a set of Compose files and classify the outcome.

Outcomes, per file:
* ``agree`` / ``differ``: compose loads the file; leastcap's privilege view equals compose's or not.
* compose refuses: its stderr is classified into
  - ``UNDERSTOOD_NOT``: the file cannot be understood (YAML syntax, duplicate keys, a bad cast on a
    privilege field, cycles, interpolation errors on privilege fields, missing extends/include
    targets). leastcap must return an error.
  - ``WOULD_NOT_START``: the file is understood but would not start (no image, undefined
    volume/network/service, missing env_file or secret file, interpolation errors outside privilege
    fields). leastcap must load it and report a warning.
  - ``SCHEMA_ONLY``: schema objections leastcap does not replicate (unknown keys, wrong types of
    non-privilege fields, features newer than compose 2.40.3). Listed per file as known disagreements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from differential.oracle import fixed_env, leastcap_views, privilege_views, run_compose, run_leastcap

UNDERSTOOD_NOT = "cannot be understood"
WOULD_NOT_START = "would not start"
SCHEMA_ONLY = "schema only"
UNCLASSIFIED = "unclassified"

PRIVILEGE_KEYS = (
    "privileged|cap_add|cap_drop|security_opt|devices|volumes|pid|ipc|network_mode|userns_mode|uts|cgroup"
    "|cgroup_parent|user|group_add|read_only|sysctls|device_cgroup_rules|use_api_socket|volumes_from"
)

# Order matters: the first matching pattern classifies the message.
_RULES: tuple[tuple[str, str], ...] = (
    (
        r"\byaml: (line \d+|unmarshal|control characters|invalid|did not find|mapping values|found|could not)"
        r"|did not find expected|mapping values are not allowed|found character that cannot",
        UNDERSTOOD_NOT,
    ),
    (r"already defined at line", UNDERSTOOD_NOT),
    (r"non-string key|map merge requires map|empty compose file|Top-level object must be a mapping", UNDERSTOOD_NOT),
    (r"Circular reference|include cycle detected", UNDERSTOOD_NOT),
    (r"invalid interpolation format", UNDERSTOOD_NOT),
    (rf"services\.[^ ]+\.({PRIVILEGE_KEYS})(\.|\[| |:)[^\n]*(invalid boolean|must be a boolean)", UNDERSTOOD_NOT),
    (r"failed to cast to expected type: invalid boolean[^\n]*", UNDERSTOOD_NOT),
    (r"cannot extend service|extends\..*\.service is required", UNDERSTOOD_NOT),
    (r"(open|stat) \S+\.ya?ml: no such file", UNDERSTOOD_NOT),
    (r"invalid spec: .*empty section between colons", UNDERSTOOD_NOT),
    (r"refers to undefined network", UNDERSTOOD_NOT),
    (r"services\.[^ ]+\.volumes\.\d+\.type value must be one of", UNDERSTOOD_NOT),
    (r"dependency cycle detected", WOULD_NOT_START),
    (r"container name \S+ is already in use", WOULD_NOT_START),
    (r"required variable \w+ is missing a value", WOULD_NOT_START),
    (r"has neither an image nor a build context", WOULD_NOT_START),
    (r"refers to undefined (volume|network|secret|config)", WOULD_NOT_START),
    (r"depends on undefined service|undefined service", WOULD_NOT_START),
    (r"env file .* not found|couldn't find env file", WOULD_NOT_START),
    (r"secret .* (file|not found)|no such file or directory", WOULD_NOT_START),
    (r"items at \d+ and \d+ are equal|must be unique", WOULD_NOT_START),
    (r"conflicts with imported resource", WOULD_NOT_START),
    (
        r"Additional property|additional properties|must be a|does not match|is not allowed|must be one of"
        r"|doesn't match|must be valid|is required|expected",
        SCHEMA_ONLY,
    ),
)


def is_local_refusal(message: str) -> bool:
    """A leastcap error about one value it leaves out (the rest of the project still loads)."""
    return bool(re.search(r"refers to undefined network", message))


def classify(stderr: str) -> str:
    for pattern, kind in _RULES:
        if re.search(pattern, stderr):
            return kind
    return UNCLASSIFIED


@dataclass(frozen=True)
class Outcome:
    path: str  # relative to the corpus root
    compose_ok: bool
    compose_stderr: str
    kind: str  # "agree", "differ", or the refusal class
    leastcap_errors: tuple[str, ...]
    leastcap_warnings: tuple[str, ...]
    theirs: dict[str, Any]
    ours: dict[str, Any]


def run_one(binary: str, root: Path, rel: str, home: Path) -> Outcome:
    file = root / rel
    env = fixed_env(home)
    theirs = run_compose(binary, ["-f", str(file), "--profile", "*"], file.parent, env)
    ours = run_leastcap(file.parent, env, files=(str(file),), profiles=("*",))
    errors = tuple(p.message for p in ours.errors)
    warnings = tuple(p.message for p in ours.warnings)
    if theirs.ok:
        their_view = privilege_views(theirs.effective)
        our_view = leastcap_views(ours) if not ours.errors else {}
        kind = "agree" if (not ours.errors and our_view == their_view) else "differ"
        return Outcome(rel, True, theirs.stderr, kind, errors, warnings, their_view, our_view)
    our_view = leastcap_views(ours) if not ours.errors else {}
    return Outcome(rel, False, theirs.stderr, classify(theirs.stderr), errors, warnings, {}, our_view)


def run_all(binary: str, root: Path, rels: Iterable[str], home: Path, workers: int = 2) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda rel: run_one(binary, root, rel, home), rels))


def corpus_files(root: Path) -> list[str]:
    index = root / "INDEX.tsv"
    lines = index.read_text().splitlines()[1:]
    return [line.split("\t", 1)[0] for line in lines if line.strip()]


def yaml_files_under(root: Path, subdirs: Sequence[str]) -> list[str]:
    out: list[str] = []
    for sub in subdirs:
        out += sorted(str(p.relative_to(root)) for p in (root / sub).rglob("*.y*ml") if p.is_file())
    return out
