"""Exact line and column of a flag inside every YAML scalar style (GitHub run steps and options)."""

from __future__ import annotations

import pytest
import yaml

from leastcap.scripts.ci import github_services, gitlab_services
from leastcap.scripts.positions import scalar_text


def _where(text: str) -> list[tuple[str, int, int]]:
    out = []
    for svc in github_services(text, "w.yml"):
        if svc.privileged is not None:
            out.append((svc.name, svc.privileged.origin.line, svc.privileged.origin.column))
        out.extend((svc.name, c.origin.line, c.origin.column) for c in svc.cap_add)
    return out


def test_literal_block_keeps_lines() -> None:
    wf = (
        "jobs:\n"
        "  j:\n"
        "    steps:\n"
        "      - run: |\n"
        "          echo hi\n"
        "\n"
        "          docker run \\\n"
        "              --privileged img\n"
    )
    assert _where(wf) == [("j/docker-run@L7", 8, 15)]


def test_literal_block_with_indentation_indicator_and_keep_chomping() -> None:
    wf = "jobs:\n  j:\n    steps:\n      - run: |2+\n           docker run --cap-add=ALL img\n\n"
    # indicator 2 is relative to the `run:` mapping's indentation (column 9): content starts at
    # column 11, and the extra space of this line is part of the value.
    assert _where(wf) == [("j/docker-run@L5", 5, 23)]


def test_folded_block_joins_lines() -> None:
    wf = "jobs:\n  j:\n    steps:\n      - run: >\n          docker run\n          --privileged\n          img\n"
    # Folded: the three lines are one command; the flag keeps its own line.
    assert _where(wf) == [("j/docker-run@L5", 6, 11)]


def test_plain_multiline_scalar() -> None:
    wf = "jobs:\n  j:\n    steps:\n      - run: docker run\n          --privileged img\n"
    assert _where(wf) == [("j/docker-run@L4", 5, 11)]


@pytest.mark.parametrize(
    ("scalar", "col"),
    [
        ("'docker run --privileged img'", 26),
        ('"docker run --privileged img"', 26),
        ("'echo ''x''; docker run --privileged img'", 38),
        ('"say \\"x\\"; docker run --privileged img"', 37),
    ],
)
def test_quoted_scalars(scalar: str, col: int) -> None:
    wf = f"jobs:\n  j:\n    steps:\n      - run: {scalar}\n"
    assert _where(wf) == [("j/docker-run@L4", 4, col)]


def test_container_options_folded_and_quoted() -> None:
    wf = (
        "jobs:\n"
        "  j:\n"
        "    container:\n"
        "      image: x\n"
        '      options: "--cpus 1 --privileged"\n'
        "    services:\n"
        "      s:\n"
        "        image: y\n"
        "        options: >-\n"
        "          --health-cmd 'pg_isready -q'\n"
        "          --cap-add=NET_ADMIN\n"
    )
    assert _where(wf) == [("j/container", 5, 26), ("j/services/s", 11, 11)]


def test_scalar_text_round_trips_the_value() -> None:
    doc = "a: |\n  one\n    two\n\n  three\nb: >\n  x\n  y\n\n  z\n"
    root = yaml.compose(doc)
    lines = doc.split("\n")
    for _, node in root.value:
        text, _ = scalar_text(node, lines)
        assert text.rstrip("\n") == node.value.rstrip("\n")


def test_gitlab_script_list_items_and_block() -> None:
    ci = (
        "job:\n"
        "  script:\n"
        "    - echo docker run --privileged no\n"
        "    - - docker run --pid=host nested\n"
        "    - >\n"
        "      docker run\n"
        "      --cap-add SYS_ADMIN img\n"
    )
    services, includes = gitlab_services(ci, "g.yml")
    assert includes == []
    got = [(s.name, (s.pid or s.cap_add[0]).origin.line, (s.pid or s.cap_add[0]).origin.column) for s in services]
    assert got == [("job/docker-run@L4", 4, 20), ("job/docker-run@L6", 7, 7)]
