"""Conformance cases for the !reset and !override tags (§12 7-12, 14), through anchors and merge keys
too. Each case loads a small project with leastcap and with the real `docker compose` v2 binary and
asserts both privilege views equal the literal expectation (see casekit.py); names follow compose-
semantics.md §12.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import BASE_OVERRIDE, check, check_error, load_both, write_tree

pytestmark = pytest.mark.compose


# --------------------------------------------------------------------------- !reset / !override (§12 7-12, 14)


def test_load_with_reset(compose: str, tmp_path: Path) -> None:
    """Test_LoadWithReset, with privilege fields: reset keys are gone from the merged service."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  foo:
                    image: foo
                    build: .
                    environment:
                      FOO: "1"
                    sysctls:
                      net.ipv4.ip_forward: 1
                      net.core.somaxconn: 1024
                    privileged: true
                    cap_add: [SYS_ADMIN]
                    security_opt: [seccomp:unconfined]
                """,
            "override.yaml": """
                services:
                  foo:
                    build: !reset
                    environment:
                      FOO: !reset
                    sysctls:
                      net.ipv4.ip_forward: !reset
                    privileged: !reset true
                    cap_add: !reset []
                    security_opt: !reset null
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"foo": {"sysctls": {"net.core.somaxconn": "1024"}}},
        files=BASE_OVERRIDE,
        extra=("build", "environment", "image"),
        extra_expected={"foo": {"image": "foo"}},
    )


def test_duplicate_key_is_an_error(compose: str, tmp_path: Path) -> None:
    """Test_DuplicateReset: duplicate mapping keys refuse the file (both tools)."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    command: a
                    command: b
                """
        },
    )
    ours = check_error(
        compose,
        tmp_path,
        'mapping key "command" already defined at line 4',
        'line 5: mapping key "command" already defined at line 4',
    )
    assert (ours.errors[0].path, ours.errors[0].line, ours.errors[0].column) == ("compose.yaml", 5, 5)


def test_duplicate_privileged_key_in_override_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n",
            "override.yaml": "services:\n  web:\n    privileged: false\n    privileged: true\n",
        },
    )
    check_error(
        compose,
        tmp_path,
        'mapping key "privileged" already defined at line 3',
        'mapping key "privileged" already defined at line 3',
        files=BASE_OVERRIDE,
    )


def test_reset_remove_and_override_replace_networks(compose: str, tmp_path: Path) -> None:
    """TestResetRemove / TestOverrideReplace on service networks and cap_add."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    networks: [front, back]
                    cap_add: [NET_ADMIN, SYS_TIME]
                networks: {front: {}, back: {}, test: {}}
                """,
            "override.yaml": """
                services:
                  web:
                    networks: !override [back]
                    cap_add: !override [CHOWN]
                networks:
                  test: !reset {}
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {"cap_add": ["CHOWN"]}},
        files=BASE_OVERRIDE,
        extra=("networks",),
        extra_expected={"web": {"networks": {"back": None}}},
    )


RESET_THROUGH_ANCHORS = {
    "merge-key": """
        x-reset: &reset
          cap_add: !reset []
          ports: !reset []
        services:
          a:
            <<: *reset
          b:
            <<: *reset
        """,
    "direct-alias": """
        x-empty: &empty !reset []
        services:
          a:
            cap_add: *empty
            ports: *empty
          b:
            cap_add: *empty
            ports: *empty
        """,
    "nested-merge": """
        x-inner: &inner
          cap_add: !reset []
          ports: !reset []
        x-outer: &outer
          <<: *inner
        services:
          a:
            <<: *outer
          b:
            <<: *outer
        """,
}


@pytest.mark.parametrize("form", sorted(RESET_THROUGH_ANCHORS))
def test_reset_tag_through_anchors(compose: str, tmp_path: Path, form: str) -> None:
    """TestResetTagWithSharedAlias / TestDirectAliasWithReset / TestNestedAliasReset, as docker
    compose 2.40 does them: an alias of a node that is itself `!reset` resets at every use, while
    `!reset` keys nested in an anchored mapping are consumed at the anchor's definition and reset
    nothing where the mapping is merged (compose-go >= 2.10 resets there too; keeping the base's
    capabilities is the conservative reading)."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  a:
                    image: x
                    cap_add: [SYS_ADMIN]
                    ports: ["80:80"]
                  b:
                    image: x
                    cap_add: [NET_ADMIN]
                    ports: ["81:81"]
                """,
            "override.yaml": RESET_THROUGH_ANCHORS[form],
        },
    )
    if form == "direct-alias":
        check(
            compose,
            tmp_path,
            {"a": {}, "b": {}},
            files=BASE_OVERRIDE,
            extra=("ports",),
            extra_expected={"a": {}, "b": {}},
        )
        return
    ports = {
        "a": {"ports": [{"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"}]},
        "b": {"ports": [{"mode": "ingress", "target": 81, "published": "81", "protocol": "tcp"}]},
    }
    theirs, _ = load_both(compose, tmp_path, files=BASE_OVERRIDE)
    assert theirs.effective is not None
    assert {k: {"ports": v["ports"]} for k, v in theirs.effective["services"].items()} == ports
    check(compose, tmp_path, {"a": {"cap_add": ["SYS_ADMIN"]}, "b": {"cap_add": ["NET_ADMIN"]}}, files=BASE_OVERRIDE)


@pytest.mark.parametrize(
    "merge",
    ["<<: *a", "<<: [*a, *b]", "<<: *both"],
    ids=["alias-to-map", "inline-list-of-aliases", "alias-to-sequence-of-maps"],
)
def test_merge_key_alias_targets(compose: str, tmp_path: Path, merge: str) -> None:
    """TestMergeKeyAliasTargets: explicit keys win, the first merge source wins."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": f"""
                x-a: &a
                  privileged: true
                  user: root
                x-b: &b
                  privileged: false
                  cap_add: [NET_ADMIN]
                  user: nobody
                x-both: &both [*a, *b]
                services:
                  web:
                    image: x
                    user: "1000"
                    {merge}
                """
        },
    )
    expected = {"privileged": True, "user": "1000"}
    if merge != "<<: *a":
        expected["cap_add"] = ["NET_ADMIN"]
    check(compose, tmp_path, {"web": expected})


def test_merge_key_alias_to_scalar_is_an_error(compose: str, tmp_path: Path) -> None:
    """TestMergeKeyAliasToScalarRejected."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                x-s: &s hello
                services:
                  web:
                    image: x
                    <<: *s
                """
        },
    )
    check_error(compose, tmp_path, "map merge requires map", "map merge requires map")


def test_extends_with_reset(compose: str, tmp_path: Path) -> None:
    """TestLoadExtendsWihReset: the extending service's !reset removes the base's volumes."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  bar:
                    image: x
                    volumes: [.:/src]
                    cap_add: [SYS_PTRACE]
                  foo:
                    extends: {service: bar}
                    volumes: !reset []
                """
        },
    )
    check(
        compose,
        tmp_path,
        {
            "bar": {"cap_add": ["SYS_PTRACE"], "volumes": [{"type": "bind", "source": "{dir}", "target": "/src"}]},
            "foo": {"cap_add": ["SYS_PTRACE"]},
        },
    )


def test_override_middle_chain(compose: str, tmp_path: Path) -> None:
    """TestOverrideMiddle: the middle file's !override drops the base volume and networks."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    volumes: [/foo:/foo]
                    networks: [foo]
                networks: {foo: {}, bar: {}, zot: {}}
                """,
            "middle.yaml": """
                services:
                  web:
                    volumes: !override [/bar:/bar]
                    networks: !override [bar]
                """,
            "last.yaml": """
                services:
                  web:
                    volumes: [/zot:/zot]
                    networks: !override [zot]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "volumes": [
                    {"type": "bind", "source": "/bar", "target": "/bar"},
                    {"type": "bind", "source": "/zot", "target": "/zot"},
                ]
            }
        },
        files=("compose.yaml", "middle.yaml", "last.yaml"),
        extra=("networks",),
        extra_expected={"web": {"networks": {"zot": None}}},
    )
