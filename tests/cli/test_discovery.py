"""Which projects a directory scan finds (leastcap.loader.discovery), on real directory trees."""

from __future__ import annotations

import os
from pathlib import Path

from leastcap.loader import discover_projects
from leastcap.tree import DiskTree

SERVICE = "services:\n  a:\n    image: x\n"


def make(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SERVICE)


def found(root: Path, *paths: str) -> list[tuple[str, ...]]:
    options, problems = discover_projects([str(root / p) for p in paths or (".",)], DiskTree(str(root)))
    assert problems == []
    return [tuple(os.path.relpath(f, root) for f in o.files) for o in options]


def test_main_override_and_variants(tmp_path: Path) -> None:
    make(
        tmp_path,
        "app/docker-compose.yml",
        "app/compose.override.yaml",
        "app/docker-compose.prod.yml",
        "app/compose.ci.yaml",
        "other/compose.dev.yml",
        "other/compose.test.yml",
    )
    assert found(tmp_path) == [
        ("app/docker-compose.yml", "app/compose.override.yaml"),  # what `docker compose` loads there
        ("app/docker-compose.yml", "app/compose.ci.yaml"),  # variants layer on the main file
        ("app/docker-compose.yml", "app/docker-compose.prod.yml"),
        ("other/compose.dev.yml",),  # no main file: each alone
        ("other/compose.test.yml",),
    ]


def test_override_precedence_and_second_main_file(tmp_path: Path) -> None:
    make(tmp_path, "compose.yaml", "docker-compose.yml", "compose.override.yml", "compose.override.yaml")
    assert found(tmp_path) == [
        ("compose.yaml", "compose.override.yml"),  # compose.override.yml beats .yaml
        ("compose.yaml", "compose.override.yaml"),
        ("docker-compose.yml",),  # the main file compose would not pick, scanned on its own
    ]


def test_skips_git_node_modules_and_leastcapignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        "compose.yaml",
        ".git/compose.yaml",
        "web/node_modules/pkg/compose.yaml",
        "vendor/compose.yaml",
        "fixtures/bad/compose.yaml",
        "fixtures/keep/compose.yaml",
        "docs/docker-compose.example.yml",
    )
    (tmp_path / ".leastcapignore").write_text("# third-party\nvendor/\nfixtures/*\n!fixtures/keep\n*.example.yml\n")
    assert found(tmp_path) == [("compose.yaml",), ("fixtures/keep/compose.yaml",)]


def test_named_file_gives_its_project(tmp_path: Path) -> None:
    make(tmp_path, "compose.yaml", "compose.override.yaml", "compose.prod.yaml")
    assert found(tmp_path, "compose.yaml") == [("compose.yaml", "compose.override.yaml")]
    assert found(tmp_path, "compose.prod.yaml") == [("compose.yaml", "compose.prod.yaml")]
    make(tmp_path, "stack.yml")
    assert found(tmp_path, "stack.yml") == [("stack.yml",)]  # any name, when named explicitly


def test_symlink_loops_do_not_hang(tmp_path: Path) -> None:
    make(tmp_path, "a/compose.yaml")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    assert found(tmp_path) == [("a/compose.yaml",)]


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    options, problems = discover_projects([str(tmp_path / "nope")], DiskTree(str(tmp_path)))
    assert options == []
    assert [(p.path, p.message) for p in problems] == [("nope", "no such file or directory")]
