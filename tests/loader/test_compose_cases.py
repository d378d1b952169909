"""Conformance cases with the real `docker compose` v2 binary as the oracle.

Each case writes a small project, loads it with leastcap and with `docker compose config --format
json` (same files, cwd and fixed environment), and asserts that both privilege views equal the
literal expectation. Case names follow compose-semantics.md §12 (the compose-go tests, "A".."H"
for the derived cases).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import BASE_OVERRIDE, check, check_error, device, load_both, write_tree

pytestmark = pytest.mark.compose


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
    check(compose, tmp_path, {"web": {"devices": [device("/dev", "/dev")]}})


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
