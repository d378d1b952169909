"""The ``leastcap`` command. Subcommands are imported only when used, so start-up stays fast.

``leastcap --version`` answers before click is even imported: it is what scripts and CI call
most, and it should cost no more than the interpreter's own start-up.
"""

from __future__ import annotations

import sys
from typing import Any

from leastcap import __version__

# name -> "module:attribute". Each subcommand lives in its own module under leastcap.cli.
SUBCOMMANDS: dict[str, str] = {
    "scan": "leastcap.cli.scan_cmd:scan",
    "config": "leastcap.cli.scan_cmd:config",
    "rules": "leastcap.cli.rules_cmd:rules",
    "explain": "leastcap.cli.rules_cmd:explain",
    "fix": "leastcap.cli.fix_cmd:fix",
    "explain-image": "leastcap.cli.fix_cmd:explain_image",
    "profile": "leastcap.cli.profile_cmd:profile",
    "doctor": "leastcap.cli.doctor_cmd:doctor",
    "history": "leastcap.cli.history_cmd:history",
    "audit": "leastcap.cli.audit_cmd:audit",
}

# Exit codes are a contract (README "Exit codes").
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


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
        return EXIT_OK
    from leastcap.cli.app import cli

    try:
        return cli.main(args=args, prog_name="leastcap", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
