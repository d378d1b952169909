"""Hostile and broken input: each bad file is one clear error, and the scan goes on.

Every case is a tree with a valid sibling project (``good/``) and one bad project (``bad/``). The
scan runs as a real `leastcap scan DIR --format json` subprocess with an address-space limit
(RLIMIT_AS), so a regression that tries to expand an alias bomb or read a huge file fails this
test instead of taking the machine down. The timeout only guards against hangs; nothing here
asserts timings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostilekit import findings, run_cli
from hostilekit import write as _write

GOOD = "services:\n  web:\n    image: busybox\n    privileged: true\n"
GOOD_FINDINGS = [
    {"rule": "no-new-privileges", "path": "good/compose.yaml", "line": 2, "column": 3},
    {"rule": "privileged", "path": "good/compose.yaml", "line": 4, "column": 5},
]

BOMB = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
services:
  web:
    image: x
    privileged: true
    labels: *i
"""


def scan(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli(root, "scan", *args, "--format", "json", "--no-scripts")
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _big(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = b"    - SYS_ADMIN_" + b"x" * 60 + b"\n"
    with path.open("wb") as fh:
        fh.write(b"services:\n  web:\n    image: x\n    cap_add:\n")
        fh.write(line * (50 * 1024 * 1024 // len(line) + 1))
    assert path.stat().st_size > 50 * 1024 * 1024


def _symlink_to_itself(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.name, path)


def _directory_loop(path: Path) -> None:
    # bad/compose.yaml is a loop of two symlinks; bad/sub/up points back at bad/.
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("compose.yml", path)
    os.symlink("compose.yaml", path.parent / "compose.yml")
    (path.parent / "sub").mkdir()
    os.symlink("..", path.parent / "sub" / "up")


# name -> (how to make bad/compose.yaml, expected line, text the error message contains)
CASES: dict[str, tuple[Callable[[Path], None], int, str]] = {
    "invalid-yaml": (lambda p: _write(p, "services:\n  web: [\n    image: x\n"), 4, "YAML syntax error"),
    "empty": (lambda p: _write(p, ""), 0, "empty compose file"),
    "only-comments": (lambda p: _write(p, "# services:\n#   web:\n#     privileged: true\n"), 0, "empty compose file"),
    "non-utf8": (
        lambda p: _write(p, b"services:\n  web:\n    image: \xff\xfe\xfa\n"),
        0,
        "invalid leading UTF-8 octet",
    ),
    "binary": (lambda p: _write(p, bytes(range(256)) * 64), 0, "binary file (NUL bytes), not YAML"),
    "50MB": (_big, 0, "over the 4194304-byte limit for a Compose file; not read"),
    "deep-flow-nesting": (
        lambda p: _write(p, "services:\n  web:\n    labels: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        3,
        "nesting deeper than 128 levels",
    ),
    "deep-mapping-nesting": (
        lambda p: _write(p, "x-deep: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\nservices: {}\n"),
        1,
        "nesting deeper than 128 levels",
    ),
    "extends-cycle": (
        lambda p: _write(p, "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n"),
        0,
        "Circular reference",
    ),
    "include-cycle": (
        lambda p: (
            _write(p, "include: [inc/compose.yaml]\nservices:\n  a:\n    image: x\n"),
            _write(p.parent / "inc" / "compose.yaml", "include: [../compose.yaml]\nservices:\n  b:\n    image: x\n"),
        ),
        0,
        "include cycle detected",
    ),
    "alias-bomb": (lambda p: _write(p, BOMB), 0, "alias bomb"),
    "symlink-to-itself": (_symlink_to_itself, 0, "Too many levels of symbolic links"),
    "symlink-loop-in-tree": (_directory_loop, 0, "Too many levels of symbolic links"),
}


# A scan covers every compose-named file: both files of an include cycle are projects of their own,
# and so are both names of a two-link symlink loop. Each gets its own error.
ERROR_PATHS = {
    "include-cycle": ["bad/compose.yaml", "bad/inc/compose.yaml"],
    "symlink-loop-in-tree": ["bad/compose.yaml", "bad/compose.yml"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_is_one_clear_error_and_the_sibling_is_still_scanned(tmp_path: Path, case: str) -> None:
    make, line, text = CASES[case]
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    make(tmp_path / "bad" / "compose.yaml")
    code, report = scan(tmp_path, ".")
    assert code == 2, report
    assert findings(report) == GOOD_FINDINGS
    errors = report["errors"]
    assert [e["path"] for e in errors] == ERROR_PATHS.get(case, ["bad/compose.yaml"]), errors
    assert all(text in e["message"] for e in errors), errors
    if line:
        assert errors[0]["line"] == line, errors


def test_compose_file_named_on_the_command_line_is_a_symlink_loop(tmp_path: Path) -> None:
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    _symlink_to_itself(tmp_path / "bad" / "compose.yaml")
    code, report = scan(tmp_path, "good", "bad/compose.yaml")
    assert code == 2
    assert findings(report) == GOOD_FINDINGS
    assert [e["path"] for e in report["errors"]] == ["bad/compose.yaml"]


def test_utf16_with_bom_is_read_like_compose_reads_it(tmp_path: Path) -> None:
    """docker compose decodes a UTF-16 file with a BOM (libyaml does), so leastcap scans it too."""
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    _write(tmp_path / "bad" / "compose.yaml", GOOD.encode("utf-16"))
    code, report = scan(tmp_path, ".")
    assert code == 1
    assert report["errors"] == []
    assert findings(report) == [
        {"rule": "no-new-privileges", "path": "bad/compose.yaml", "line": 2, "column": 3},
        {"rule": "privileged", "path": "bad/compose.yaml", "line": 4, "column": 5},
        *GOOD_FINDINGS,
    ]


def test_good_project_alone_gives_the_same_findings(tmp_path: Path) -> None:
    """The baseline the cases compare with: the sibling scanned on its own."""
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    code, report = scan(tmp_path, ".")
    assert code == 1
    assert report["errors"] == []
    assert findings(report) == GOOD_FINDINGS
