"""The ``leastcap`` command. Subcommands are imported only when used, so start-up stays fast.

``leastcap --version`` answers before click is even imported: it is what scripts and CI call
most, and it should cost no more than the interpreter's own start-up.
"""

from __future__ import annotations

import sys
from typing import Any

from leastcap import __version__
from leastcap.contract import ExitCode


def __getattr__(name: str) -> Any:
    # ``from leastcap.cli.main import cli`` builds the click group on first use.
    if name == "cli":
        from leastcap.cli.app import cli

        return cli
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        sys.stdout.write(f"leastcap, version {__version__}\n")
        return ExitCode.OK
    from leastcap.cli.app import cli

    try:
        return cli.main(args=args, prog_name="leastcap", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
