"""Conformance cases for include (§12 19-20): project directories, env files, local definitions. Each
case loads a small project with leastcap and with the real `docker compose` v2 binary and asserts
both privilege views equal the literal expectation (see casekit.py); names follow compose-
semantics.md §12.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import BASE_OVERRIDE, check, check_error, load_both, write_tree

pytestmark = pytest.mark.compose


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
