"""Running the leastcap CLI in-process from a given directory (click's runner, real code below it)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner, Result


def invoke_in(cwd: Path, *args: str) -> Result:
    """``leastcap ARGS`` run in ``cwd``; the result keeps stdout, stderr and the exit code apart."""
    from leastcap.cli.main import cli

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        os.chdir(old)
