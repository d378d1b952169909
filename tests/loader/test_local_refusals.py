"""Values compose refuses for a reason local to them: an error, and the rest is still loaded.

Each case is checked against the real `docker compose` binary: compose refuses the project with
the message leastcap repeats. A plain load then returns no project (as before: callers that act
on a project, like ``fix`` and ``config``, must not act on one compose refuses), while a partial
load (what ``scan`` and ``history`` use) returns the same error and a project holding everything
else: the other entries of the service and the other services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from casekit import check, load_both, write_tree

from leastcap.loader import LoadOptions, load_project
from leastcap.model import Problem, Service
from leastcap.tree import DiskTree
from support.components import require_compose

pytestmark = pytest.mark.compose


@pytest.fixture
def compose() -> str:
    return require_compose()


def _kept(service: Service) -> dict[str, Any]:
    """What a rule sees of a service, in a few comparable fields."""
    view: dict[str, Any] = {}
    if service.privileged is not None:
        view["privileged"] = service.privileged.value
    if service.cap_add:
        view["cap_add"] = [c.value for c in service.cap_add]
    if service.volumes:
        view["volumes"] = [(v.value.type, v.value.source, v.value.target) for v in service.volumes]
    if service.devices:
        view["devices"] = [d.value.source for d in service.devices]
    if service.user is not None:
        view["user"] = service.user.value
    return view


# name -> (compose.yaml, what compose says, leastcap's error, what is still loaded per service)
CASES: dict[str, tuple[str, str, Problem, dict[str, dict[str, Any]]]] = {
    "volume-without-type": (
        "services:\n  a:\n    image: x\n    cap_add: [SYS_ADMIN]\n    volumes:\n"
        "      - source: /var/run/docker.sock\n        target: /var/run/docker.sock\n"
        "      - /var/run/docker.sock:/docker.sock\n",
        "services.a.volumes.0 must be a string",
        Problem(
            "compose.yaml",
            "services.a.volumes.0 must be a string: a long-syntax volume needs `type:` (compose refuses the file)",
            6,
            9,
        ),
        {"a": {"cap_add": ["SYS_ADMIN"], "volumes": [("bind", "/var/run/docker.sock", "/docker.sock")]}},
    ),
    "volume-without-target": (
        "services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        source: /var/run/docker.sock\n"
        "      - /etc:/host-etc\n",
        "service volume services.a.volumes.[0] is missing a mount target",
        Problem("compose.yaml", "service volume services.a.volumes.[0] is missing a mount target", 5, 9),
        {"a": {"volumes": [("bind", "/etc", "/host-etc")]}},
    ),
    "bad-cast-on-one-service": (
        "services:\n  a:\n    image: x\n    privileged: '1'\n    cap_add: [NET_ADMIN]\n"
        "  b:\n    image: x\n    privileged: true\n",
        "error while interpolating services.a.privileged: failed to cast to expected type: invalid boolean: 1",
        Problem(
            "compose.yaml",
            "error while interpolating services.a.privileged: failed to cast to expected type: invalid boolean: 1",
            4,
            17,
        ),
        {"a": {"cap_add": ["NET_ADMIN"]}, "b": {"privileged": True}},
    ),
    "unset-variable-in-one-volume": (
        "services:\n  a:\n    image: x\n    volumes: ['${SRC:?need SRC}:/data', '/:/host']\n",
        "error while interpolating services.a.volumes.[]: required variable SRC is missing a value: need SRC",
        Problem(
            "compose.yaml",
            "error while interpolating services.a.volumes.[]: required variable SRC is missing a value: need SRC",
            4,
            15,
        ),
        {"a": {"volumes": [("bind", "/", "/host")]}},
    ),
    "bad-cast-inside-a-long-volume": (
        "services:\n  a:\n    image: x\n    volumes:\n      - type: bind\n        source: /run/docker.sock\n"
        "        target: /run/docker.sock\n        read_only: ${RO}\n      - /proc:/host-proc\n",
        "error while interpolating services.a.volumes.[].read_only: failed to cast to expected type: invalid boolean: ",
        Problem(
            "compose.yaml",
            "error while interpolating services.a.volumes.[].read_only: failed to cast to expected type: "
            "invalid boolean: ",
            8,
            20,
        ),
        {"a": {"volumes": [("bind", "/proc", "/host-proc")]}},
    ),
    "undefined-network": (
        "services:\n  a:\n    image: x\n    networks: [front]\n    privileged: true\n",
        'service "a" refers to undefined network front: invalid compose project',
        Problem("compose.yaml", 'service "a" refers to undefined network front: invalid compose project', 2, 3),
        {"a": {"privileged": True}},
    ),
    "confusing-device": (
        "services:\n  a:\n    image: x\n    devices: ['/a:/b:c:d', /dev/mem]\n",
        "confusing device mapping, please use long syntax: /a:/b:c:d",
        Problem("compose.yaml", "confusing device mapping, please use long syntax: /a:/b:c:d", 4, 15),
        {"a": {"devices": ["/dev/mem"]}},
    ),
    "unquoted-user": (
        "services:\n  a:\n    image: x\n    user: 0\n    cap_add: [ALL]\n",
        "services.a.user must be a string",
        Problem("compose.yaml", "services.a.user must be a string", 4, 5),
        {"a": {"cap_add": ["ALL"]}},
    ),
    "service-that-is-a-string": (
        "services:\n  a: busybox\n  b:\n    image: x\n    privileged: true\n",
        "services.a must be a mapping",
        Problem("compose.yaml", "services.a must be a mapping", 2, 3),
        {"b": {"privileged": True}},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_local_refusal_is_an_error_and_the_rest_still_loads(compose: str, tmp_path: Path, case: str) -> None:
    text, compose_says, error, kept = CASES[case]
    write_tree(tmp_path, {"compose.yaml": text})
    theirs, ours = load_both(compose, tmp_path)
    assert theirs.returncode != 0, "compose loaded a project it was expected to refuse"
    assert compose_says in theirs.stderr, theirs.stderr
    assert ours.project is None
    assert ours.errors == (error,)

    options = LoadOptions(working_dir=str(tmp_path), environ={"HOME": str(tmp_path)})
    partial = load_project(options, DiskTree(str(tmp_path)), partial=True)
    assert partial.errors == (error,)
    assert partial.effective is None
    assert partial.project is not None
    assert {s.name: _kept(s) for s in partial.project.services} == kept


def test_untyped_volume_replaced_by_a_later_same_target_entry_loads(compose: str, tmp_path: Path) -> None:
    """compose de-duplicates volumes by target before its schema check: the later short-syntax
    entry replaces the untyped one, and the project loads (so it is no error here either)."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    volumes:\n"
            "      - source: /var/run/docker.sock\n        target: /var/run/docker.sock\n"
            "      - /var/run/docker.sock:/var/run/docker.sock\n"
        },
    )
    check(
        compose,
        tmp_path,
        {"a": {"volumes": [{"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}]}},
    )
