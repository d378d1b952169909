"""Exact positions of the values the loader hands to the rules.

``origin`` is where the value was written (the key for a scalar setting, the item for a list
entry); ``via`` is how it reached the service: the alias use, the ``extends:`` line, the
``include:`` entry. Positions are 1-based line and column, paths relative to the tree's cwd.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from casekit import write_tree

from leastcap.loader import LoadOptions, LoadResult, load_project
from leastcap.model import Location
from leastcap.tree import DiskTree

PROJECT = {
    "compose.yaml": """
        x-priv: &priv
          privileged: true
          cap_add:
            - SYS_ADMIN
        x-caps: &caps [SYS_PTRACE, NET_ADMIN]
        include:
          - path: inc/svc.yaml
        services:
          base:
            image: x
            volumes:
              - /var/run/docker.sock:/var/run/docker.sock
          web:
            <<: *priv
            image: x
          direct:
            image: x
            cap_add: *caps
            pid: ${PID_MODE:-host}
          ext:
            extends: base
            cap_add: [NET_ADMIN]
        """,
    "inc/svc.yaml": """
        services:
          agent:
            image: x
            privileged: true
            devices: [/dev/kmsg]
        """,
    "override.yaml": """
        services:
          web:
            cap_add:
              - NET_RAW
            volumes:
              - type: bind
                source: /
                target: /host
                read_only: true
          base:
            privileged: yes
        """,
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    root: Path = tmp_path_factory.mktemp("locations")
    write_tree(root, PROJECT)
    options = LoadOptions(
        working_dir=str(root), files=(str(root / "compose.yaml"), str(root / "override.yaml")), environ={}
    )
    result = load_project(options, DiskTree(str(root)))
    assert result.errors == ()
    return result


def _svc(result: LoadResult, name: str):  # type: ignore[no-untyped-def]
    assert result.project is not None
    return result.project.service(name)


def test_service_keys(loaded: LoadResult) -> None:
    keys = {s.name: s.key for s in loaded.project.services}  # type: ignore[union-attr]
    assert keys == {
        "agent": Location("inc/svc.yaml", 2, 3),
        "base": Location("compose.yaml", 9, 3),
        "direct": Location("compose.yaml", 16, 3),
        "ext": Location("compose.yaml", 20, 3),
        "web": Location("compose.yaml", 13, 3),
    }


def test_merge_key_values_point_at_the_anchor_and_carry_the_alias_use(loaded: LoadResult) -> None:
    web = _svc(loaded, "web")
    alias = Location("compose.yaml", 14, 9, "alias *priv")
    assert web.privileged.value is True
    assert (web.privileged.origin, web.privileged.via) == (Location("compose.yaml", 2, 3), (alias,))
    assert [(c.value, c.origin, c.via) for c in web.cap_add] == [
        ("SYS_ADMIN", Location("compose.yaml", 4, 7), (alias,)),
        ("NET_RAW", Location("override.yaml", 4, 9), ()),
    ]


def test_override_file_values_originate_in_the_override(loaded: LoadResult) -> None:
    web = _svc(loaded, "web")
    assert [(v.value.source, v.value.target, v.value.read_only, v.origin, v.via) for v in web.volumes] == [
        ("/", "/host", True, Location("override.yaml", 6, 9), ()),
    ]
    base = _svc(loaded, "base")
    assert (base.privileged.value, base.privileged.origin) == (True, Location("override.yaml", 11, 5))


def test_direct_alias_items(loaded: LoadResult) -> None:
    direct = _svc(loaded, "direct")
    alias = Location("compose.yaml", 18, 14, "alias *caps")
    assert [(c.value, c.origin, c.via) for c in direct.cap_add] == [
        ("SYS_PTRACE", Location("compose.yaml", 5, 16), (alias,)),
        ("NET_ADMIN", Location("compose.yaml", 5, 28), (alias,)),
    ]
    assert (direct.pid.value, direct.pid.origin, direct.pid.variables) == (
        "host",
        Location("compose.yaml", 19, 5),
        ("PID_MODE",),
    )


def test_extends_values_carry_the_extends_line(loaded: LoadResult) -> None:
    ext = _svc(loaded, "ext")
    extends = Location("compose.yaml", 21, 5, "extends: base")
    assert [(v.value.source, v.origin, v.via) for v in ext.volumes] == [
        ("/var/run/docker.sock", Location("compose.yaml", 12, 9), (extends,)),
    ]
    assert [(c.value, c.origin, c.via) for c in ext.cap_add] == [("NET_ADMIN", Location("compose.yaml", 22, 15), ())]
    # extends sees base as written in its own document: the override's privileged does not reach ext.
    assert ext.privileged is None


def test_included_values_carry_the_include_entry(loaded: LoadResult) -> None:
    agent = _svc(loaded, "agent")
    include = Location("compose.yaml", 7, 5, "include")
    assert (agent.privileged.origin, agent.privileged.via) == (Location("inc/svc.yaml", 4, 5), (include,))
    assert [(d.value.source, d.origin, d.via) for d in agent.devices] == [
        ("/dev/kmsg", Location("inc/svc.yaml", 5, 15), (include,)),
    ]


def test_every_location_is_inside_its_file(loaded: LoadResult) -> None:
    lines = {name: textwrap.dedent(text).lstrip("\n").split("\n") for name, text in PROJECT.items()}
    for service in loaded.project.services:  # type: ignore[union-attr]
        for field in ("privileged", "cap_add", "volumes", "devices", "pid"):
            value = getattr(service, field)
            for located in value if isinstance(value, tuple) else (value,) if value else ():
                for loc in (located.origin, *located.via):
                    text = lines[loc.path]
                    assert 1 <= loc.line <= len(text)
                    assert 1 <= loc.column <= len(text[loc.line - 1]) + 1
