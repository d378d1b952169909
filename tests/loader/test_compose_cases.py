"""Conformance cases with the real `docker compose` v2 binary as the oracle.

Each case writes a small project, loads it with leastcap and with `docker compose config --format
json` (same files, cwd and fixed environment), and asserts that both privilege views equal the
literal expectation. Case names follow compose-semantics.md §12 (the compose-go tests, "A".."H"
for the derived cases).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import check, check_error, load_both, write_tree

from differential.oracle import leastcap_views, privilege_views
from support.components import require_compose

pytestmark = pytest.mark.compose


@pytest.fixture
def compose() -> str:
    return require_compose()


BASE_OVERRIDE = ("compose.yaml", "override.yaml")


# --------------------------------------------------------------------------- merge rules (§12 1-6)


def test_merge_cap_sequence(compose: str, tmp_path: Path) -> None:
    """TestMergeCAPSequence: appended, exact-string dedup, first position kept."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    cap_add: [CAP_BPF, CAP_CHOWN]
                    cap_drop: [NET_ADMIN, SYS_ADMIN]
                """,
            "override.yaml": """
                services:
                  web:
                    cap_add: [CAP_KILL, CAP_CHOWN]
                    cap_drop: [NET_ADMIN, CAP_FOWNER]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "cap_add": ["CAP_BPF", "CAP_CHOWN", "CAP_KILL"],
                "cap_drop": ["NET_ADMIN", "SYS_ADMIN", "CAP_FOWNER"],
            }
        },
        files=BASE_OVERRIDE,
    )


def _dev(source: str, target: str, permissions: str = "rwm") -> dict[str, str]:
    return {"source": source, "target": target, "permissions": permissions}


def test_merge_devices_override_in_place(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlDevicesOverride: same targets are replaced in place, /dev/sdd kept."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    devices: [/dev/sda:/dev/sda, /dev/sdb:/dev/sdb, /dev/sdc:/dev/sdc, /dev/sdd:/dev/sdd]
                """,
            "override.yaml": """
                services:
                  web:
                    devices: ["/dev/nvme0n1p1:/dev/sda", "/dev/nvme1n1p1:/dev/sdb", "/dev/nvme2n1p1:/dev/sdc:r"]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "devices": [
                    _dev("/dev/nvme0n1p1", "/dev/sda"),
                    _dev("/dev/nvme1n1p1", "/dev/sdb"),
                    _dev("/dev/nvme2n1p1", "/dev/sdc", "r"),
                    _dev("/dev/sdd", "/dev/sdd"),
                ]
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_devices_distinct_targets_append(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlDevices: distinct targets are appended (long syntax too)."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    devices: [/dev/sda, "/dev/sdb:/dev/xvdb"]
                """,
            "override.yaml": """
                services:
                  web:
                    devices:
                      - source: /dev/nvme0
                        target: /dev/nvme0
                        permissions: r
                      - /dev/fuse
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "devices": [
                    _dev("/dev/sda", "/dev/sda"),
                    _dev("/dev/sdb", "/dev/xvdb"),
                    _dev("/dev/nvme0", "/dev/nvme0", "r"),
                    _dev("/dev/fuse", "/dev/fuse"),
                ]
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_ulimits_replaced_per_name(compose: str, tmp_path: Path) -> None:
    """Test_mergeYamlUlimits: each named ulimit is replaced wholesale."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    ulimits:
                      nproc: {soft: 10000, hard: 20000}
                      locks: {soft: 20000, hard: 40000}
                      nofile: 1024
                """,
            "override.yaml": """
                services:
                  web:
                    ulimits:
                      nproc: 65535
                      locks: {soft: 30000, hard: 65535}
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {}},
        files=BASE_OVERRIDE,
        extra=("ulimits",),
        extra_expected={"web": {"ulimits": {"nproc": 65535, "locks": {"soft": 30000, "hard": 65535}, "nofile": 1024}}},
    )


def test_merge_sysctls_mapping_and_list(compose: str, tmp_path: Path) -> None:
    """TestMergeSysctlsMixed/Numbers: map + list appended, the same key keeps the later value."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    sysctls:
                      net.ipv4.tcp_keepalive_time: 1
                      net.core.somaxconn: 1024
                """,
            "override.yaml": """
                services:
                  web:
                    sysctls:
                      - net.ipv4.tcp_keepalive_time=3
                      - net.ipv4.ip_forward=1
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "sysctls": {
                    "net.core.somaxconn": "1024",
                    "net.ipv4.tcp_keepalive_time": "3",
                    "net.ipv4.ip_forward": "1",
                }
            }
        },
        files=BASE_OVERRIDE,
    )


def test_merge_tmpfs_string_and_list(compose: str, tmp_path: Path) -> None:
    """TestMergeTmpfsMixed: `/foo` + `[/bar, /foo]` => [/foo, /bar]."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    tmpfs: /foo\n",
            "override.yaml": "services:\n  web:\n    tmpfs: [/bar, /foo]\n",
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {}},
        files=BASE_OVERRIDE,
        extra=("tmpfs",),
        extra_expected={"web": {"tmpfs": ["/foo", "/bar"]}},
    )


def test_override_same_volume_deduplicated(compose: str, tmp_path: Path) -> None:
    """TestOverrideVolume: the same ./src:/src in base and override is one volume; a new mode replaces."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    volumes: [./src:/src, /etc:/host/etc]
                """,
            "override.yaml": """
                services:
                  web:
                    volumes: [./src:/src, /etc:/host/etc:ro]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "volumes": [
                    {"type": "bind", "source": "{dir}/src", "target": "/src"},
                    {"type": "bind", "source": "/etc", "target": "/host/etc", "read_only": True},
                ]
            }
        },
        files=BASE_OVERRIDE,
    )


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


# --------------------------------------------------------------------------- extends (§12 13, 15-18)


def test_extends_same_file(compose: str, tmp_path: Path) -> None:
    """TestLoadExtends / TestLoadExtendsOverrideCommand."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  base:
                    image: busybox
                    command: ["/bin/true"]
                    privileged: true
                    cap_add: [NET_ADMIN]
                  inherit:
                    extends: base
                    image: alpine
                    cap_add: [SYS_TIME, NET_ADMIN]
                  replace:
                    extends: {service: base}
                    command: ["/bin/ash", "-c", "rm -rf /tmp/might-not-exist"]
                    privileged: false
                """
        },
    )
    check(
        compose,
        tmp_path,
        {
            "base": {"privileged": True, "cap_add": ["NET_ADMIN"]},
            "inherit": {"privileged": True, "cap_add": ["NET_ADMIN", "SYS_TIME"]},
            "replace": {"cap_add": ["NET_ADMIN"]},
        },
        extra=("image", "command"),
        extra_expected={
            "base": {"image": "busybox", "command": ["/bin/true"]},
            "inherit": {"image": "alpine", "command": ["/bin/true"]},
            "replace": {"image": "busybox", "command": ["/bin/ash", "-c", "rm -rf /tmp/might-not-exist"]},
        },
    )


def test_override_self_extends(compose: str, tmp_path: Path) -> None:
    """TestOverrideSelfExtends, on cap_add: main extends main_two extends main_one with !override."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  main_one:
                    image: x
                    cap_add: [CAP_ONE]
                    security_opt: [label:disable]
                  main_two:
                    extends: main_one
                    cap_add: !override [CAP_TWO]
                  main:
                    extends: main_two
                    cap_add: [CAP_BASE]
                """
        },
    )
    want = {
        "main": {"cap_add": ["CAP_TWO", "CAP_BASE"], "security_opt": ["label:disable"]},
        "main_one": {"cap_add": ["CAP_ONE"], "security_opt": ["label:disable"]},
        "main_two": {"cap_add": ["CAP_TWO"], "security_opt": ["label:disable"]},
    }
    # Known compose 2.40 bug: it resolves extends in Go map order, and when `main` is resolved
    # before `main_two` the !override is lost (CAP_ONE stays). compose-go fixed this
    # (TestOverrideSelfExtends); leastcap gives the fixed answer every time.
    lost_override = {
        "main": {"cap_add": ["CAP_ONE", "CAP_TWO", "CAP_BASE"], "security_opt": ["label:disable"]},
        "main_one": {"cap_add": ["CAP_ONE"], "security_opt": ["label:disable"]},
        "main_two": {"cap_add": ["CAP_ONE", "CAP_TWO"], "security_opt": ["label:disable"]},
    }
    theirs, ours = load_both(compose, tmp_path)
    assert leastcap_views(ours) == want
    assert privilege_views(theirs.effective) in (want, lost_override)


def test_extends_port_override_dedup(compose: str, tmp_path: Path) -> None:
    """TestExtendsPortOverride: appended then deduplicated (ports and volumes by target)."""
    write_tree(
        tmp_path,
        {
            "ports.yaml": """
                services:
                  test:
                    image: x
                    ports: ["8080:8080"]
                    volumes: [/var/run/docker.sock:/var/run/docker.sock]
                """,
            "compose.yaml": """
                services:
                  test:
                    extends: {file: ports.yaml, service: test}
                    ports: ["8080:8080"]
                    volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro"]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "test": {
                "volumes": [
                    {
                        "type": "bind",
                        "source": "/var/run/docker.sock",
                        "target": "/var/run/docker.sock",
                        "read_only": True,
                    }
                ]
            }
        },
    )


def test_extends_with_service_ref_undefined(compose: str, tmp_path: Path) -> None:
    """TestExtendsWithServiceRef: namespace references are copied, so the missing zot is reported."""
    write_tree(
        tmp_path,
        {
            "base.yaml": """
                services:
                  bar:
                    image: x
                    depends_on: [zot]
                    ipc: service:zot
                    network_mode: service:zot
                  zot:
                    image: x
                """,
            "compose.yaml": """
                services:
                  bar:
                    extends: {file: base.yaml, service: bar}
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"bar": {"ipc": "service:zot", "network_mode": "service:zot"}},
        warning='depends on undefined service "zot"',
    )


def test_extends_with_service_ref_defined(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "base.yaml": """
                services:
                  bar:
                    image: x
                    depends_on: [zot]
                    ipc: service:zot
                    pid: service:zot
                    network_mode: service:zot
                """,
            "compose.yaml": """
                services:
                  bar:
                    extends: {file: base.yaml, service: bar}
                  zot:
                    image: x
                    pid: host
                    ipc: host
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "bar": {"ipc": "service:zot", "pid": "service:zot", "network_mode": "service:zot"},
            "zot": {"ipc": "host", "pid": "host"},
        },
    )


def test_extends_file_interpolated_and_paths_relative_to_it(compose: str, tmp_path: Path) -> None:
    """TestLoadWithExtends: extends.file is interpolated; the base's paths are relative to its file."""
    write_tree(
        tmp_path,
        {
            "subdir/base.yaml": """
                services:
                  imported:
                    image: x
                    container_name: ${SOURCE:-imported}
                    env_file: ./extra.env
                    volumes: [./data:/data, "../shared:/shared:ro"]
                    privileged: ${PRIV:-false}
                """,
            "subdir/extra.env": "A=1\n",
            "compose.yaml": """
                services:
                  web:
                    extends:
                      file: ${DIR:-subdir}/base.yaml
                      service: imported
                    volumes: [./local:/local]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "volumes": [
                    {"type": "bind", "source": "{dir}/subdir/data", "target": "/data"},
                    {"type": "bind", "source": "{dir}/shared", "target": "/shared", "read_only": True},
                    {"type": "bind", "source": "{dir}/local", "target": "/local"},
                ]
            }
        },
        extra=("container_name",),
        extra_expected={"web": {"container_name": "imported"}},
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "privileged": True,
                "volumes": [
                    {"type": "bind", "source": "{dir}/subdir/data", "target": "/data"},
                    {"type": "bind", "source": "{dir}/shared", "target": "/shared", "read_only": True},
                    {"type": "bind", "source": "{dir}/local", "target": "/local"},
                ],
            }
        },
        env={"PRIV": "on", "SOURCE": "override"},
        extra=("container_name",),
        extra_expected={"web": {"container_name": "override"}},
    )


def test_extends_chain_across_files_with_relative_paths(compose: str, tmp_path: Path) -> None:
    """Inside an extended file, extends.file and binds are relative to that file (extends/withdir)."""
    write_tree(
        tmp_path,
        {
            "a/b/root.yaml": """
                services:
                  root:
                    image: x
                    cap_add: [SYS_ADMIN]
                    volumes: [./rootdata:/r]
                """,
            "a/mid.yaml": """
                services:
                  mid:
                    extends: {file: b/root.yaml, service: root}
                    volumes: [./middata:/m]
                    devices: [/dev/fuse]
                """,
            "compose.yaml": """
                services:
                  web:
                    extends: {file: a/mid.yaml, service: mid}
                    cap_add: [NET_ADMIN]
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
                "devices": [_dev("/dev/fuse", "/dev/fuse")],
                "volumes": [
                    {"type": "bind", "source": "{dir}/a/b/rootdata", "target": "/r"},
                    {"type": "bind", "source": "{dir}/a/middata", "target": "/m"},
                ],
            }
        },
    )


def test_extends_cycle_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  a:
                    image: x
                    extends: b
                  b:
                    extends: c
                  c:
                    extends: a
                """
        },
    )
    check_error(compose, tmp_path, "Circular reference", "Circular reference")


def test_extends_cycle_across_files_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    extends: {file: other.yaml, service: b}\n",
            "other.yaml": "services:\n  b:\n    image: x\n    extends: {file: compose.yaml, service: a}\n",
        },
    )
    check_error(compose, tmp_path, "Circular reference", "Circular reference")


def test_extends_missing_service_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n    extends: nothere\n"})
    check_error(compose, tmp_path, 'service "nothere" not found', 'service "nothere" not found')


def test_extends_missing_file_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n    extends: {file: gone.yaml, service: b}\n"}
    )
    check_error(compose, tmp_path, "gone.yaml", "gone.yaml")


def test_derived_d_extends_sees_base_as_written_in_its_document(compose: str, tmp_path: Path) -> None:
    """D: a later file making base privileged does not reach web, which extended it earlier."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  base:\n    image: x\n  web:\n    extends: base\n",
            "override.yaml": "services:\n  base:\n    privileged: true\n    cap_add: [ALL]\n",
        },
    )
    check(compose, tmp_path, {"base": {"privileged": True, "cap_add": ["ALL"]}, "web": {}}, files=BASE_OVERRIDE)


def test_override_cannot_extend_a_service_of_the_main_file(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  base:\n    image: x\n    privileged: true\n",
            "override.yaml": "services:\n  web:\n    extends: base\n",
        },
    )
    check_error(compose, tmp_path, 'service "base" not found', 'service "base" not found', files=BASE_OVERRIDE)


# --------------------------------------------------------------------------- include (§12 19-20)


def test_include_env_file_and_parent_env_precedence(compose: str, tmp_path: Path) -> None:
    """TestLoadWithInclude / TestLoadWithIncludeEnv: the include's env_file feeds only the included
    model, and the parent environment beats it."""
    write_tree(
        tmp_path,
        {
            "inc/compose.yaml": """
                services:
                  b:
                    image: x
                    container_name: ${SOURCE}
                    privileged: ${PRIV}
                    user: ${WHO:-nobody}
                """,
            "inc/vars.env": "SOURCE=extends\nPRIV=yes\nWHO=root\n",
            "compose.yaml": """
                include:
                  - path: inc/compose.yaml
                    env_file: inc/vars.env
                services:
                  a:
                    image: x
                    user: ${WHO:-local}
                """,
        },
    )
    check(
        compose,
        tmp_path,
        {"a": {"user": "local"}, "b": {"privileged": True, "user": "root"}},
        extra=("container_name",),
        extra_expected={"a": {}, "b": {"container_name": "extends"}},
    )
    check(
        compose,
        tmp_path,
        {"a": {"user": "admin"}, "b": {"user": "admin"}},
        env={"SOURCE": "override", "PRIV": "off", "WHO": "admin"},
        extra=("container_name",),
        extra_expected={"a": {}, "b": {"container_name": "override"}},
    )


def test_include_short_syntax_uses_its_own_dir_and_dotenv(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "sub/compose.yaml": """
                services:
                  agent:
                    image: x
                    volumes: [./conf:/conf, "${SOCK:-/run/docker.sock}:/var/run/docker.sock"]
                    cap_add: [$CAP]
                """,
            "sub/.env": "CAP=SYS_ADMIN\n",
            "compose.yaml": "include: [sub/compose.yaml]\nservices:\n  web:\n    image: x\n    cap_add: [$CAP]\n",
            ".env": "CAP=NET_RAW\n",
        },
    )
    check(
        compose,
        tmp_path,
        {
            "agent": {
                "cap_add": ["NET_RAW"],
                "volumes": [
                    {"type": "bind", "source": "{dir}/sub/conf", "target": "/conf"},
                    {"type": "bind", "source": "/run/docker.sock", "target": "/var/run/docker.sock"},
                ],
            },
            "web": {"cap_add": ["NET_RAW"]},
        },
    )


def test_include_long_syntax_project_directory(compose: str, tmp_path: Path) -> None:
    """TestIncludeWithProjectDirectory: relative paths in the included file resolve against it."""
    write_tree(
        tmp_path,
        {
            "lib/svc.yaml": "services:\n  agent:\n    image: x\n    volumes: [./data:/data, ../up:/up]\n",
            "compose.yaml": """
                include:
                  - path: [lib/svc.yaml, lib/svc-override.yaml]
                    project_directory: proj
                services:
                  web:
                    image: x
                """,
            "lib/svc-override.yaml": "services:\n  agent:\n    privileged: true\n",
            "proj/.keep": "",
        },
    )
    check(
        compose,
        tmp_path,
        {
            "agent": {
                "privileged": True,
                "volumes": [
                    {"type": "bind", "source": "{dir}/proj/data", "target": "/data"},
                    {"type": "bind", "source": "{dir}/up", "target": "/up"},
                ],
            },
            "web": {},
        },
    )


def test_include_local_definition_merged_over_imported(compose: str, tmp_path: Path) -> None:
    """TestLoadWithMultipleIncludeConflict / TestLoadWithIncludeOverride. docker compose 2.40
    refuses the clash ("conflicts with imported resource"); leastcap merges as compose-go >= 2.10
    does and passes the objection on as a warning."""
    write_tree(
        tmp_path,
        {
            "inc.yaml": """
                services:
                  bar:
                    image: busybox
                    environment: [ZOT=ZOT, FOO=BAR]
                    cap_add: [SYS_ADMIN]
                    security_opt: [apparmor:unconfined]
                """,
            "compose.yaml": """
                include: [inc.yaml]
                services:
                  bar:
                    environment: !override [ZOT=QIX]
                    cap_add: [NET_ADMIN]
                """,
            "override.yaml": "services:\n  bar:\n    image: alpine\n    cap_drop: [ALL]\n",
        },
    )
    check(
        compose,
        tmp_path,
        {
            "bar": {
                "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
                "cap_drop": ["ALL"],
                "security_opt": ["apparmor:unconfined"],
            }
        },
        files=BASE_OVERRIDE,
        extra=("image", "environment"),
        extra_expected={"bar": {"image": "alpine", "environment": {"ZOT": "QIX"}}},
        warning="services.bar conflicts with imported resource",
    )
    theirs, _ = load_both(compose, tmp_path, files=BASE_OVERRIDE)
    assert "services.bar conflicts with imported resource" in theirs.stderr


def test_include_identical_local_definition_and_override_layer(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "inc.yaml": "services:\n  bar:\n    image: busybox\n    cap_add: [SYS_ADMIN]\n",
            "compose.yaml": "include: [inc.yaml]\nservices:\n  bar:\n    image: busybox\n    cap_add: [SYS_ADMIN]\n",
            "override.yaml": "services:\n  bar:\n    image: alpine\n    cap_add: [NET_ADMIN]\n",
        },
    )
    ours = check(compose, tmp_path, {"bar": {"cap_add": ["SYS_ADMIN"]}})
    assert ours.warnings == ()
    check(compose, tmp_path, {"bar": {"cap_add": ["SYS_ADMIN", "NET_ADMIN"]}}, files=BASE_OVERRIDE)


def test_include_then_local_extends_included_service(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "inc.yaml": "services:\n  base:\n    image: x\n    pid: host\n",
            "compose.yaml": "include: [inc.yaml]\nservices:\n  web:\n    extends: base\n",
        },
    )
    # docker compose 2.40 resolves extends before include and refuses; compose-go >= 2.10 loads it.
    check(
        compose,
        tmp_path,
        {"base": {"pid": "host"}, "web": {"pid": "host"}},
        warning='service "web" extends "base", which comes from an include',
    )
    theirs, _ = load_both(compose, tmp_path)
    assert 'service "base" not found' in theirs.stderr


def test_include_cycle_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "include: [a/compose.yaml]\nservices:\n  web:\n    image: x\n",
            "a/compose.yaml": "include: [../b/compose.yaml]\nservices:\n  a:\n    image: x\n",
            "b/compose.yaml": "include: [../a/compose.yaml]\nservices:\n  b:\n    image: x\n",
        },
    )
    check_error(compose, tmp_path, "include cycle detected", "include cycle detected")


def test_include_missing_file_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "include: [nope.yaml]\nservices:\n  web:\n    image: x\n"})
    check_error(compose, tmp_path, "nope.yaml", "nope.yaml")


# --------------------------------------------------------------------------- interpolation and booleans


def test_interpolation_cast_full(compose: str, tmp_path: Path) -> None:
    """TestLoadWithInterpolationCastFull / TestLoadLegacyBoolean."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    privileged: $thebool
                    read_only: ${thebool}
                    tty: $thebool
                    init: yes
                    volumes:
                      - type: bind
                        source: /srv
                        target: /srv
                        read_only: ${RO:-on}
                """
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "privileged": True,
                "read_only": True,
                "volumes": [{"type": "bind", "source": "/srv", "target": "/srv", "read_only": True}],
            }
        },
        env={"thebool": "TRUE"},
        extra=("tty", "init"),
        extra_expected={"web": {"tty": True, "init": True}},
    )


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("yes", True),
        ("on", True),
        ("y", True),
        ("TRUE", True),
        ("True", True),
        ('"true"', True),
        ("'Yes'", True),
        ("no", False),
        ("off", False),
        ("N", False),
        ("FALSE", False),
        ('"false"', False),
    ],
)
def test_boolean_cast_on_privileged(compose: str, tmp_path: Path, literal: str, expected: bool) -> None:
    write_tree(tmp_path, {"compose.yaml": f"services:\n  web:\n    image: x\n    privileged: {literal}\n"})
    check(compose, tmp_path, {"web": {"privileged": True} if expected else {}})


@pytest.mark.parametrize("literal", ['"1"', '"0"', '""', '" true"', "'t'", "enabled", "1"])
def test_boolean_cast_errors_on_privileged(compose: str, tmp_path: Path, literal: str) -> None:
    """A string that does not cast points at the value; an unquoted int (a schema error) at the key."""
    write_tree(tmp_path, {"compose.yaml": f"services:\n  web:\n    image: x\n    privileged: {literal}\n"})
    theirs, ours = load_both(compose, tmp_path)
    assert theirs.returncode != 0, theirs
    assert ours.project is None
    assert len(ours.errors) == 1
    assert "privileged" in ours.errors[0].message
    assert (ours.errors[0].line, ours.errors[0].column) == ((4, 5) if literal == "1" else (4, 17))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"PRIV": ""}, {}),  # set but empty: the `:-` default applies
        ({"PRIV": "true"}, {"privileged": True}),
        ({"PRIV": "Yes"}, {"privileged": True}),
        ({"PRIV": "off"}, {}),
    ],
)
def test_derived_f_privileged_from_variable_with_default(
    compose: str, tmp_path: Path, env: dict[str, str], expected: dict[str, bool]
) -> None:
    write_tree(tmp_path, {"compose.yaml": 'services:\n  web:\n    image: x\n    privileged: "${PRIV:-false}"\n'})
    ours = check(compose, tmp_path, {"web": expected}, env=env)
    assert ours.project is not None
    priv = ours.project.service("web").privileged
    assert priv is not None and priv.variables == ("PRIV",)


def test_derived_f_dotenv_true_shell_false(compose: str, tmp_path: Path) -> None:
    """F: .env PRIV=true => true; the shell's PRIV=false beats .env."""
    write_tree(
        tmp_path,
        {"compose.yaml": 'services:\n  web:\n    image: x\n    privileged: "${PRIV:-false}"\n', ".env": "PRIV=true\n"},
    )
    check(compose, tmp_path, {"web": {"privileged": True}})
    check(compose, tmp_path, {"web": {}}, env={"PRIV": "false"})


@pytest.mark.parametrize(
    ("value", "env"),
    [("${PRIV:-false}", {"PRIV": "1"}), ("${PRIV}", {}), ("${PRIV:?must be set}", {})],
    ids=["one", "unset-plain", "required"],
)
def test_derived_f_errors(compose: str, tmp_path: Path, value: str, env: dict[str, str]) -> None:
    write_tree(tmp_path, {"compose.yaml": f'services:\n  web:\n    image: x\n    privileged: "{value}"\n'})
    theirs, ours = load_both(compose, tmp_path, env=env)
    assert theirs.returncode != 0
    assert ours.project is None and len(ours.errors) == 1


def test_interpolation_operators(compose: str, tmp_path: Path) -> None:
    """TestValidUnexistentInterpolation, TestEscaped, TestPrecedence, TestNonBraced, on privilege fields."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    cgroup_parent: ${FOO:-${BAR:-${ZOT:-qix}}}
                    user: ${FOO:-${BAR:-x}_test_${BAR:-y}}
                    userns_mode: $${foo}
                    ipc: ${A-x?y}
                    uts: ${EMPTY-host}
                    pid: ${EMPTY:+container:x}
                    network_mode: ${SET:+host}
                    cap_add: [$SET-bar, "${A:-/non:-alnum}", "cost $5", "${SET+plus}", "${EMPTY+plus}"]
                    security_opt: ['${SET}']
                """
        },
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "cgroup_parent": "qix",
                "user": "x_test_y",
                "userns_mode": "${foo}",
                "ipc": "x?y",
                "network_mode": "host",
                "cap_add": ["yes-bar", "/non:-alnum", "cost $5", "plus"],
                "security_opt": ["yes"],
            }
        },
        env={"SET": "yes", "EMPTY": ""},
    )


def test_invalid_template_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    user: ${ foo}\n"})
    check_error(compose, tmp_path, "invalid interpolation format", "invalid interpolation format")


def test_required_variable_on_privilege_field_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    cap_add: ['${FOO:?foo} ${BAR:?bar}']\n"}
    )
    check_error(
        compose,
        tmp_path,
        "required variable FOO is missing a value: foo",
        "required variable FOO is missing a value: foo",
    )


def test_required_variable_outside_privilege_fields_is_a_warning(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {"compose.yaml": "services:\n  web:\n    image: x\n    container_name: ${NAME:?set NAME}\n    pid: host\n"},
    )
    check(compose, tmp_path, {"web": {"pid": "host"}}, warning="required variable NAME is missing a value: set NAME")


def test_keys_are_not_interpolated_and_single_quotes_are(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    sysctls:
                      ${KEY}: '${VAL}'
                    user: '$WHO'
                """
        },
    )
    check(compose, tmp_path, {"web": {"sysctls": {"${KEY}": "1"}, "user": "root"}}, env={"VAL": "1", "WHO": "root"})


# --------------------------------------------------------------------------- derived cases A, B, C, E, G, H


def test_derived_a_cap_add_all_with_cap_drop_all(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    cap_add: [ALL]\n",
            "override.yaml": "services:\n  web:\n    cap_drop: [ALL]\n",
        },
    )
    check(compose, tmp_path, {"web": {"cap_add": ["ALL"], "cap_drop": ["ALL"]}}, files=BASE_OVERRIDE)


def test_derived_b_duplicate_security_opt_across_files(compose: str, tmp_path: Path) -> None:
    """B: compose refuses (uniqueItems); leastcap keeps scanning and reports compose's objection."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    security_opt: [no-new-privileges:true]\n",
            "override.yaml": "services:\n  web:\n    security_opt: [no-new-privileges:true]\n",
        },
    )
    theirs, _ = load_both(compose, tmp_path, files=BASE_OVERRIDE)
    assert "services.web.security_opt items at 0 and 1 are equal" in theirs.stderr
    check(
        compose,
        tmp_path,
        {"web": {"security_opt": ["no-new-privileges:true", "no-new-privileges:true"]}},
        files=BASE_OVERRIDE,
        warning="services.web.security_opt array items[0,1] must be unique",
    )


def test_derived_c_different_security_opts_both_kept(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    security_opt: [no-new-privileges:true]\n",
            "override.yaml": "services:\n  web:\n    security_opt: [no-new-privileges:false]\n",
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {"security_opt": ["no-new-privileges:true", "no-new-privileges:false"]}},
        files=BASE_OVERRIDE,
    )


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("cap_drop: []", {"cap_drop": ["ALL"], "read_only": True}),
        ("cap_drop:", {"cap_drop": ["ALL"], "read_only": True}),
        ("cap_drop: !reset []\n    read_only: !reset", {}),
        ("read_only: false\n    cap_drop: !override [NET_RAW]", {"cap_drop": ["NET_RAW"]}),
    ],
    ids=["empty-list", "null", "reset", "override"],
)
def test_derived_e_empty_null_reset(compose: str, tmp_path: Path, override: str, expected: dict[str, object]) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    cap_drop: [ALL]\n    read_only: true\n",
            "override.yaml": f"services:\n  web:\n    {override}\n",
        },
    )
    check(compose, tmp_path, {"web": expected}, files=BASE_OVERRIDE)


def test_derived_g_merge_key_explicit_wins(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                x-base: &b
                  privileged: true
                  cap_add: [SYS_ADMIN]
                services:
                  explicit:
                    <<: *b
                    image: x
                    privileged: false
                  merged:
                    <<: *b
                    image: x
                """
        },
    )
    check(
        compose,
        tmp_path,
        {"explicit": {"cap_add": ["SYS_ADMIN"]}, "merged": {"privileged": True, "cap_add": ["SYS_ADMIN"]}},
    )


def test_derived_h_device_directory(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    devices: [/dev:/dev]\n"})
    check(compose, tmp_path, {"web": {"devices": [_dev("/dev", "/dev")]}})


# --------------------------------------------------------------------------- files, env, discovery, profiles


PRIV_WEB = "services:\n  web:\n    image: x\n    privileged: true\n"


def test_compose_file_variable_and_path_separator(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "base.yaml": PRIV_WEB,
            "extra.yaml": "services:\n  web:\n    cap_add: [NET_ADMIN]\n",
            "compose.yaml": "services:\n  ignored:\n    image: x\n    pid: host\n",
        },
    )
    expected = {"web": {"privileged": True, "cap_add": ["NET_ADMIN"]}}
    check(compose, tmp_path, expected, env={"COMPOSE_FILE": "base.yaml:extra.yaml"})
    check(compose, tmp_path, expected, env={"COMPOSE_FILE": "base.yaml;extra.yaml", "COMPOSE_PATH_SEPARATOR": ";"})


def test_compose_file_and_separator_from_dotenv(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "base.yaml": PRIV_WEB,
            "extra.yaml": "services:\n  web:\n    cap_add: [NET_ADMIN]\n",
            ".env": "COMPOSE_FILE=base.yaml,extra.yaml\nCOMPOSE_PATH_SEPARATOR=,\nCOMPOSE_PROJECT_NAME=fromdotenv\n",
        },
    )
    ours = check(compose, tmp_path, {"web": {"privileged": True, "cap_add": ["NET_ADMIN"]}})
    assert ours.project is not None and ours.project.name == "fromdotenv"


def test_missing_compose_file_entry_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"base.yaml": PRIV_WEB})
    check_error(compose, tmp_path, "gone.yaml", "gone.yaml", env={"COMPOSE_FILE": "base.yaml:gone.yaml"})


def test_f_beats_compose_file_and_no_automatic_override(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": PRIV_WEB,
            "compose.override.yaml": "services:\n  web:\n    cap_add: [NET_ADMIN]\n",
            "other.yaml": "services:\n  web:\n    image: x\n    pid: host\n",
        },
    )
    check(compose, tmp_path, {"web": {"privileged": True}}, files=("compose.yaml",), env={"COMPOSE_FILE": "other.yaml"})
    check(compose, tmp_path, {"web": {"pid": "host"}}, env={"COMPOSE_FILE": "other.yaml"})


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("compose.yaml", "compose.override.yml", "compose.override.yaml"), ["FROM_OVERRIDE_YML"]),
        (("docker-compose.yml", "compose.override.yaml"), ["FROM_OVERRIDE_YAML"]),
        (("compose.yaml", "compose.yml", "docker-compose.override.yml"), ["FROM_DOCKER_OVERRIDE_YML"]),
        (("docker-compose.yml", "docker-compose.yaml"), []),
    ],
    ids=["override-yml-beats-yaml", "docker-compose-with-compose-override", "compose-yaml-first", "no-override"],
)
def test_discovery_main_and_override(compose: str, tmp_path: Path, names: tuple[str, ...], expected: list[str]) -> None:
    labels = {
        "compose.override.yml": "FROM_OVERRIDE_YML",
        "compose.override.yaml": "FROM_OVERRIDE_YAML",
        "docker-compose.override.yml": "FROM_DOCKER_OVERRIDE_YML",
    }
    files: dict[str, str] = {}
    for index, name in enumerate(names):
        if name in labels:
            files[name] = f"services:\n  web:\n    cap_add: [{labels[name]}]\n"
        else:
            # Only the first main file counts: the others would add a user.
            files[name] = PRIV_WEB if index == 0 else f"services:\n  web:\n    image: x\n    user: {name}\n"
    write_tree(tmp_path, files)
    want: dict[str, object] = {"privileged": True}
    if expected:
        want["cap_add"] = expected
    check(compose, tmp_path, {"web": want})


def test_discovery_walks_up_and_project_directory(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    volumes: [./data:/data]\n    user: $WHO\n",
            ".env": "WHO=parent\n",
            "deep/down/.keep": "",
            "elsewhere/.env": "WHO=elsewhere\n",
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {"user": "parent", "volumes": [{"type": "bind", "source": "{dir}/data", "target": "/data"}]}},
        cwd="deep/down",
    )
    check(
        compose,
        tmp_path,
        {
            "web": {
                "user": "elsewhere",
                "volumes": [{"type": "bind", "source": "{dir}/elsewhere/data", "target": "/data"}],
            }
        },
        files=("compose.yaml",),
        project_directory="elsewhere",
    )


def test_env_file_replaces_dotenv_and_later_wins(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    user: ${WHO:-default}\n    pid: ${PID:-private}\n",
            ".env": "WHO=dotenv\nPID=host\n",
            "one.env": "WHO=one\n",
            "two.env": "WHO=two\n",
        },
    )
    check(compose, tmp_path, {"web": {"user": "dotenv", "pid": "host"}})
    check(compose, tmp_path, {"web": {"user": "one", "pid": "private"}}, env_files=("one.env",))
    check(compose, tmp_path, {"web": {"user": "two", "pid": "private"}}, env_files=("one.env", "two.env"))
    check(compose, tmp_path, {"web": {"user": "shell", "pid": "host"}}, env={"WHO": "shell"})


def test_profiles_select_services(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    pid: host
                  debug:
                    image: x
                    profiles: [debug]
                    privileged: true
                  tools:
                    image: x
                    profiles: [tools, ops]
                    cap_add: [SYS_PTRACE]
                """
        },
    )
    web = {"pid": "host"}
    debug = {"privileged": True}
    tools = {"cap_add": ["SYS_PTRACE"]}
    check(compose, tmp_path, {"web": web}, profiles=None)
    check(compose, tmp_path, {"debug": debug, "web": web}, profiles=("debug",))
    check(compose, tmp_path, {"debug": debug, "tools": tools, "web": web}, profiles=("debug", "ops"))
    check(compose, tmp_path, {"tools": tools, "web": web}, profiles=None, env={"COMPOSE_PROFILES": "ops, x"})
    check(compose, tmp_path, {"debug": debug, "tools": tools, "web": web}, profiles=None, env={"COMPOSE_PROFILES": "*"})


def test_multi_document_file_is_layers(compose: str, tmp_path: Path) -> None:
    """TestLoadMulmtiDocumentYaml: each document overrides the previous one."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    cap_add: [NET_ADMIN]
                    privileged: true
                ---
                services:
                  web:
                    image: y
                    cap_add: [SYS_TIME]
                    privileged: !reset
                """
        },
    )
    check(
        compose,
        tmp_path,
        {"web": {"cap_add": ["NET_ADMIN", "SYS_TIME"]}},
        extra=("image",),
        extra_expected={"web": {"image": "y"}},
    )


def test_x_keys_under_services_are_services(compose: str, tmp_path: Path) -> None:
    """TestXService: x-foo under services is a service; x- at top level and in a service is not."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                x-top: {privileged: true}
                services:
                  x-foo:
                    image: x
                    privileged: true
                    x-note: {cap_add: [ALL]}
                """
        },
    )
    check(compose, tmp_path, {"x-foo": {"privileged": True}})


def test_non_string_key_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    123: true\n"})
    check_error(compose, tmp_path, "non-string key", "non-string key")


def test_empty_file_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": "# nothing here\n"})
    check_error(compose, tmp_path, "empty compose file", "empty compose file")


# --------------------------------------------------------------------------- would not start: warnings


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "services:\n  web:\n    image: ${IMG}\n    pid: host\n",
            'service "web" has neither an image nor a build context',
        ),
        (
            "services:\n  web:\n    image: x\n    pid: host\n    container_name: same\n"
            "  db:\n    image: x\n    container_name: same\n",
            'container name "same" is already in use',
        ),
        (
            "services:\n  web:\n    image: x\n    pid: host\n    links: [db]\n  db:\n    image: x\n"
            "    depends_on: [web]\n",
            "dependency cycle detected",
        ),
        (
            "services:\n  web:\n    image: x\n    pid: host\n    build:\n      context: .\n"
            "      args: ['TAG=${TAG:?set TAG}']\n",
            "required variable TAG is missing a value: set TAG",
        ),
    ],
    ids=["empty-image", "container-name", "depends-cycle", "build-args-required"],
)
def test_would_not_start_is_a_warning(compose: str, tmp_path: Path, text: str, warning: str) -> None:
    write_tree(tmp_path, {"compose.yaml": text})
    expected = {"web": {"pid": "host"}}
    if "db:" in text:
        expected["db"] = {}
    check(compose, tmp_path, expected, warning=warning)


def test_volume_type_from_unset_variable_is_an_error(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  web:
                    image: x
                    volumes:
                      - type: ${SOCKET_TYPE}
                        source: /var/run/docker.sock
                        target: /var/run/docker.sock
                """
        },
    )
    ours = check_error(compose, tmp_path, "type value must be one of", "type must be one of")
    assert (ours.errors[0].line, ours.errors[0].column) == (5, 9)


def test_windows_absolute_bind_source_is_not_joined(compose: str, tmp_path: Path) -> None:
    """cli/testdata/simple/compose-with-paths.yaml: C:\\ paths are absolute for compose-go."""
    write_tree(
        tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    volumes: ['C:\\docker\\project:/test']\n"}
    )
    check(
        compose, tmp_path, {"web": {"volumes": [{"type": "bind", "source": "C:\\docker\\project", "target": "/test"}]}}
    )


def test_merge_key_over_an_extending_service_with_override(compose: str, tmp_path: Path) -> None:
    """TestParseYAMLFilesMergeOverride, on cap_add: y merges x, which extends base with !override."""
    write_tree(
        tmp_path,
        {
            "compose.yaml": """
                services:
                  base:
                    image: x
                    cap_add: [SYS_ADMIN]
                  x: &x
                    extends: base
                    cap_add: !override [NET_BIND_SERVICE]
                  y:
                    <<: *x
                """
        },
    )
    check(
        compose,
        tmp_path,
        {
            "base": {"cap_add": ["SYS_ADMIN"]},
            "x": {"cap_add": ["NET_BIND_SERVICE"]},
            "y": {"cap_add": ["NET_BIND_SERVICE"]},
        },
    )


def test_compose_disable_env_file_and_compose_env_files(compose: str, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "compose.yaml": "services:\n  web:\n    image: x\n    user: ${WHO:-default}\n    pid: ${PID:-private}\n",
            ".env": "WHO=dotenv\nPID=host\n",
            "one.env": "WHO=one\n",
            "two.env": "WHO=two\nPID=host\n",
        },
    )
    # COMPOSE_DISABLE_ENV_FILE skips the default .env.
    check(compose, tmp_path, {"web": {"user": "default", "pid": "private"}}, env={"COMPOSE_DISABLE_ENV_FILE": "true"})
    # COMPOSE_ENV_FILES is the default of --env-file (comma-separated, later wins, .env replaced).
    check(compose, tmp_path, {"web": {"user": "two", "pid": "host"}}, env={"COMPOSE_ENV_FILES": "one.env,two.env"})
    check(compose, tmp_path, {"web": {"user": "one", "pid": "private"}}, env={"COMPOSE_ENV_FILES": "one.env"})
