"""`leastcap fix --all`: missing cap_drop and no-new-privileges are fixed too, exactly and once."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from leastcap.cli.app import cli

BEFORE = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
  tool:
    image: example/unknown:1
"""

AFTER = (
    """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    cap_drop:
      - ALL  # drop everything, add back only what is needed
    cap_add:
      - CHOWN  # master process starting workers as user nginx (image knowledge: nginx)
      - SETUID  # master process starting workers as user nginx (image knowledge: nginx)
      - SETGID  # master process starting workers as user nginx (image knowledge: nginx)
    security_opt:
      - no-new-privileges:true
  tool:
    image: example/unknown:1
    cap_drop:
      - ALL  # drop everything, add back only what is needed
    cap_add:
"""
    + "".join(
        f"      - {cap}  # Docker default, not yet verified\n"
        for cap in (
            "CHOWN",
            "DAC_OVERRIDE",
            "FSETID",
            "FOWNER",
            "MKNOD",
            "NET_RAW",
            "SETGID",
            "SETUID",
            "SETFCAP",
            "SETPCAP",
            "NET_BIND_SERVICE",
            "SYS_CHROOT",
            "KILL",
            "AUDIT_WRITE",
        )
    )
    + """\
    security_opt:
      - no-new-privileges:true
"""
)


def invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, args, env={"NO_COLOR": "1"}, catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout


def test_fix_all_writes_cap_drop_and_no_new_privileges_then_has_nothing_left(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(BEFORE)
    code, out = invoke(["fix"], tmp_path)  # without --all: nothing privileged, nothing to do
    assert (code, out, compose.read_text()) == (0, "nothing to fix\n", BEFORE)
    # The unknown image's Docker defaults are an "unknown" answer: written only when allowed.
    code, out = invoke(["fix", "--all", "--write", "--min-confidence", "unknown"], tmp_path)
    assert code == 0
    assert compose.read_text() == AFTER
    assert "wrote compose.yaml" in out
    assert "run `leastcap profile tool --verify --minimize` to measure the minimal set" in out
    code, out = invoke(["fix", "--all"], tmp_path)
    assert (code, out) == (0, "nothing to fix\n")
    code, out = invoke(["scan", "--format", "json", "--no-scripts", "--fail-on", "low"], tmp_path)
    assert code == 0, out
