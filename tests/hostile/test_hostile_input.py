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


def _bomb_in_documents(path: Path) -> None:
    """Twenty documents, each under 100,000 alias nodes (82,000); the file as a whole is far over."""
    one = (
        'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"x-{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcd", "bcde", strict=True))
        + "services:\n  web:\n    image: x\n    labels: *d\n"
    )
    _write(path, "---\n".join([one] * 20))


def _env_bomb(path: Path) -> None:
    """Each variable doubles the previous one: A40 would be 10 TiB."""
    lines = ["A0=xxxxxxxxxx"] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 41)]
    _write(path.parent / ".env", "\n".join(lines) + "\n")
    _write(path, "services:\n  web:\n    image: x\n    privileged: true\n    labels: [a=${A40}]\n")


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
    "alias-bomb-across-documents": (_bomb_in_documents, 0, "nodes in one file (a YAML alias bomb?)"),
    "env-interpolation-bomb": (_env_bomb, 0, "the interpolated value is longer than 1048576 characters"),
    "symlink-to-itself": (_symlink_to_itself, 0, "Too many levels of symbolic links"),
    "symlink-loop-in-tree": (_directory_loop, 0, "Too many levels of symbolic links"),
}


# A scan covers every compose-named file: both files of an include cycle are projects of their own,
# and so are both names of a two-link symlink loop. Each gets its own error.
ERROR_PATHS = {
    "env-interpolation-bomb": ["bad/.env"],
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


def test_alias_budget_is_per_project_too(tmp_path: Path) -> None:
    """Sixteen included files, each under the per-file limit: together a bomb, refused as one."""
    one = (
        'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + "".join(f"x-{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcd", "bcde", strict=True))
        + "services:\n  web{n}:\n    image: x\n    labels: *d\n"
    )
    for n in range(16):
        _write(tmp_path / "bad" / f"part{n}.yaml", one.replace("{n}", str(n)))
    includes = ", ".join(f"part{n}.yaml" for n in range(16))
    _write(tmp_path / "bad" / "compose.yaml", f"include: [{includes}]\nservices: {{}}\n")
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    code, report = scan(tmp_path, ".")
    assert code == 2
    assert findings(report) == GOOD_FINDINGS
    assert [(e["path"], e["message"]) for e in report["errors"]] == [
        (
            "bad/part12.yaml",  # the thirteenth file crosses the line: 13 x 82,000 nodes
            "aliases in the project's files expand to more than 1000000 nodes (a YAML alias bomb?); refusing to expand",
        )
    ]


def test_include_lattice_loads_each_file_once(tmp_path: Path) -> None:
    """Thirty levels of diamonds: 2**30 include paths, 62 files. Each is loaded once."""
    depth = 30
    app = tmp_path / "app"
    for level in range(depth + 1):
        for side in "ab":
            below = f"include: [a{level + 1}.yaml, b{level + 1}.yaml]\n" if level < depth else ""
            extra = "    privileged: true\n" if level == depth else "    cap_drop: [ALL]\n"
            body = f"{below}services:\n  {side}{level}:\n    image: x\n    security_opt: [no-new-privileges:true]\n"
            _write(app / f"{side}{level}.yaml", body + extra)
    _write(app / "compose.yaml", "include: [a0.yaml, b0.yaml]\nservices: {}\n")
    code, report = scan(tmp_path, ".")
    assert report["errors"] == []
    assert code == 1
    assert findings(report) == [
        {"rule": "privileged", "path": f"app/{side}{depth}.yaml", "line": 5, "column": 5} for side in "ab"
    ]


def test_include_lattice_that_doubles_a_service_is_refused(tmp_path: Path) -> None:
    """Each level merges two differing copies of one service, doubling its lists: refused once
    the included model passes the node bound, instead of growing to 2**30 entries."""
    depth = 30
    bad = tmp_path / "bad"
    for level in range(depth + 1):
        for side in "ab":
            below = f"include: [a{level + 1}.yaml, b{level + 1}.yaml]\n" if level < depth else ""
            name = f"{side}{level}"
            body = (
                f"services:\n  s:\n    image: x\n    security_opt: ['label:type:{name}']\n"
                f"    environment: ['{name}=1']\n    labels: ['{name}=1']\n    volumes: ['/{name}:/{name}']\n"
            )
            _write(bad / f"{name}.yaml", below + body)
    _write(bad / "compose.yaml", "include: [a0.yaml, b0.yaml]\nservices: {}\n")
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    code, report = scan(tmp_path, ".")
    assert code == 2
    assert findings(report) == GOOD_FINDINGS
    assert [e["message"] for e in report["errors"]] == [
        "the included model has more than 500000 nodes (an include lattice?)"
    ]


def test_env_files_of_a_project_are_bounded_together(tmp_path: Path) -> None:
    """Six includes, each with an env file just under the per-file bound (13 MB of variables built
    by doubling): together past the project's 64 MiB, refused instead of held in memory."""
    env = ["A0=xxxxxxxxxx"] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 17)]
    env += [f"B{i}=${{A16}}" for i in range(20)]
    bad = tmp_path / "bad"
    for n in range(6):
        _write(bad / f"inc{n}" / "vars.env", "\n".join(env) + "\n")
        _write(bad / f"inc{n}" / "part.yaml", f"services:\n  s{n}:\n    image: x\n")
    entries = "".join(f"  - path: inc{n}/part.yaml\n    env_file: inc{n}/vars.env\n" for n in range(6))
    _write(bad / "compose.yaml", f"include:\n{entries}services: {{}}\n")
    _write(tmp_path / "good" / "compose.yaml", GOOD)
    code, report = scan(tmp_path, ".")
    assert code == 2
    assert findings(report) == GOOD_FINDINGS
    assert [(e["path"], e["message"]) for e in report["errors"]] == [
        ("bad/inc4/vars.env", "the project's env files define more than 67108864 characters of variables")
    ]
