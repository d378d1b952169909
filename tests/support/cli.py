"""Running the leastcap CLI in-process from a given directory (click's runner, real code below it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result


def invoke_in(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
    """``leastcap ARGS`` run in ``cwd`` without colour (``env`` adds variables); the result keeps
    stdout, stderr and the exit code apart. An exception leastcap does not handle is raised, never
    turned into exit code 1 (which a test could mistake for "findings")."""
    from leastcap.cli.main import cli

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env={"NO_COLOR": "1", **(env or {})}, catch_exceptions=False)
    finally:
        os.chdir(old)
