"""Conformance cases for interpolation and the boolean cast of privilege fields. Each case loads a
small project with leastcap and with the real `docker compose` v2 binary and asserts both privilege
views equal the literal expectation (see casekit.py); names follow compose-semantics.md §12.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from casekit import check, check_error, load_both, write_tree

pytestmark = pytest.mark.compose


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
