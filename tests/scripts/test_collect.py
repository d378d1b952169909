"""The directory walk: kinds, switches, GitLab includes, broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

from leastcap.model import Location, Problem
from leastcap.scripts import KINDS, collect
from leastcap.scripts.collect import classify, is_script, is_shell_shebang
from leastcap.tree import DiskTree


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _names(tmp_path: Path, enabled: dict[str, bool] | None = None) -> tuple[list[str], list[Problem]]:
    projects, problems = collect([str(tmp_path)], DiskTree(str(tmp_path)), enabled or {})
    return sorted(f"{p.name}:{s.name}" for p in projects for s in p.services), problems


ALL_KINDS = {
    "a.sh": "docker run --privileged x\n",
    "b.bash": "docker run --privileged x\n",
    "Makefile": "r:\n\tdocker run --privileged x\n",
    "Dockerfile": "FROM x\nRUN --security=insecure true\n",
    "u.service": "[Service]\nExecStart=docker run --privileged x\n",
    "Jenkinsfile": "node { docker.image('x').inside('--privileged') { } }\n",
    ".github/workflows/w.yaml": "jobs:\n  j:\n    steps:\n      - run: docker run --privileged x\n",
    ".gitlab-ci.yml": "j:\n  script: docker run --privileged x\n",
}


def test_every_kind_and_its_switch(tmp_path: Path) -> None:
    _write(tmp_path, ALL_KINDS)
    names, problems = _names(tmp_path)
    assert problems == []
    assert names == [
        ".github/workflows/w.yaml:j/docker-run@L4",
        ".gitlab-ci.yml:j/docker-run@L2",
        "Dockerfile:RUN@L2",
        "Jenkinsfile:inside@L1",
        "Makefile:docker-run@L2",
        "a.sh:docker-run@L1",
        "b.bash:docker-run@L1",
        "u.service:docker-run@L2",
    ]
    off = {kind: False for kind in KINDS}
    assert _names(tmp_path, off) == ([], [])
    only_make = {**off, "makefile": True}
    assert _names(tmp_path, only_make)[0] == ["Makefile:docker-run@L2"]


def test_skips_git_and_node_modules(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".git/hooks/x.sh": "docker run --privileged x\n",
            "node_modules/p/y.sh": "docker run --privileged x\n",
        },
    )
    assert _names(tmp_path) == ([], [])


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ("#!/bin/sh", True),
        ("#!/usr/bin/env bash", True),
        ("#!/usr/bin/env -S bash -e", True),
        ("#! /bin/dash", True),
        ("#!/usr/bin/python3", False),
        ("#!/usr/bin/env node", False),
        ("echo hi", False),
    ],
)
def test_shebang(line: str, shell: bool) -> None:
    assert is_shell_shebang(line) is shell


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/r/.github/workflows/ci.yml", "github"),
        ("/r/.github/ci.yml", None),
        ("/r/Containerfile", "dockerfile"),
        ("/r/Dockerfile.prod", "dockerfile"),
        ("/r/app.dockerfile", "dockerfile"),
        ("/r/rules.mk", "makefile"),
        ("/r/bin/deploy", "shebang"),
        ("/r/compose.yaml", None),
        ("/r/x.jenkinsfile", "jenkins"),
    ],
)
def test_classify(path: str, kind: str | None) -> None:
    assert classify(path) == kind


def test_gitlab_local_includes_transitively_with_cycle_and_glob(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".gitlab-ci.yml": "include:\n  - local: /ci/a.yml\n  - 'ci/jobs/*.yml'\n  - remote: https://x/y.yml\n",
            "ci/a.yml": "include: ci/b.yml\na:\n  script: docker run --privileged x\n",
            "ci/b.yml": "include:\n  - local: ci/a.yml\nb:\n  services: [docker:dind]\n",
            "ci/jobs/one.yml": "one:\n  script: [docker run --pid=host x]\n",
            "ci/jobs/two.yaml": "two:\n  script: [docker run --pid=host x]\n",
        },
    )
    projects, problems = collect([str(tmp_path)], DiskTree(str(tmp_path)), {})
    assert problems == []
    assert sorted(f"{p.name}:{s.name}" for p in projects for s in p.services) == [
        "ci/a.yml:a/docker-run@L3",
        "ci/b.yml:b/services/docker:dind",
        "ci/jobs/one.yml:one/docker-run@L2",
    ]
    dind = next(p for p in projects if p.name == "ci/b.yml").services[0]
    assert dind.privileged is not None
    assert dind.privileged.origin == Location(
        "ci/b.yml",
        4,
        14,
        "the docker:dind service (Docker-in-Docker) only works on a runner that starts its containers "
        "privileged, so every job that uses it runs next to a privileged container",
    )
    # .gitlab-ci.yml -> ci/a.yml -> ci/b.yml: both include entries are on the path.
    assert dind.privileged.via == (
        Location(".gitlab-ci.yml", 2, 12, "include: /ci/a.yml"),
        Location("ci/a.yml", 1, 10, "include: ci/b.yml"),
    )
    assert ("script.reason", dind.privileged.origin.note) in dind.runtime_facts
    # A command in an included file carries the include chain too.
    run = next(p for p in projects if p.name == "ci/a.yml").services[0]
    assert run.privileged is not None
    assert run.privileged.origin == Location("ci/a.yml", 3, 22)
    assert run.privileged.via == (Location(".gitlab-ci.yml", 2, 12, "include: /ci/a.yml"),)


def test_gitlab_missing_include_is_a_problem(tmp_path: Path) -> None:
    _write(tmp_path, {".gitlab-ci.yml": "include: nope.yml\nj:\n  script: docker run --privileged x\n"})
    names, problems = _names(tmp_path)
    assert names == [".gitlab-ci.yml:j/docker-run@L3"]
    assert problems == [Problem(".gitlab-ci.yml", "include 'nope.yml': no such local file", 1, 10)]


def test_broken_files_are_problems_and_the_rest_is_scanned(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".github/workflows/bad.yml": "jobs:\n  j: [\n",
            "bad.sh": b"docker run --privileged \xff\xfe\n",
            "ok.sh": "docker run --privileged x\n",
            "bin/blob": b"\x7fELF\x00\x00binary",
        },
    )
    names, problems = _names(tmp_path)
    assert names == ["ok.sh:docker-run@L1"]
    assert [(p.path, p.line, p.column) for p in problems] == [
        (".github/workflows/bad.yml", 3, 1),
        ("bad.sh", 0, 0),
    ]
    assert problems[1].message == "not UTF-8 text (byte 24)"
    assert problems[0].message.startswith("invalid YAML: ")


def test_explicit_files_only_when_recognised(tmp_path: Path) -> None:
    _write(tmp_path, {"compose.yaml": "services: {}\n", "x.sh": "docker run --privileged a\n"})
    tree = DiskTree(str(tmp_path))
    projects, problems = collect([str(tmp_path / "compose.yaml"), str(tmp_path / "x.sh")], tree, {})
    assert [p.name for p in projects] == ["x.sh"]
    assert problems == []


def test_is_script(tmp_path: Path) -> None:
    _write(tmp_path, {"a.sh": "x\n", "run": "#!/bin/bash\n", "tool": "#!/usr/bin/python3\n", "compose.yaml": ""})
    tree = DiskTree(str(tmp_path))
    got = {name: is_script(str(tmp_path / name), tree) for name in ("a.sh", "run", "tool", "compose.yaml", "nope")}
    assert got == {"a.sh": True, "run": True, "tool": False, "compose.yaml": False, "nope": False}


def test_hostile_inputs_end_quickly(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
    bomb += "job:\n  script: *i\n  services: *i\n"
    _write(
        tmp_path,
        {
            ".gitlab-ci.yml": bomb,
            "deep.sh": "$(" * 50_000 + "docker run --privileged x\n",
            "quotes.sh": "'" * 100_001 + "\ndocker run --privileged y\n",
            "heredoc.sh": "cat <<EOF\n" + "docker run --privileged z\n" * 10_000,
        },
    )
    names, problems = _names(tmp_path)
    assert problems == []
    assert names == []
