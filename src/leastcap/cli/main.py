"""The ``leastcap`` command. Subcommands are imported only when used, so start-up stays fast."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

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
    "history": "leastcap.cli.history_cmd:history",
    "audit": "leastcap.cli.audit_cmd:audit",
}

# Exit codes are a contract (README "Exit codes").
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = SUBCOMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None or not self._available(cmd_name):
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="leastcap")
def cli() -> None:
    """Find privileged Compose services, replace them with least privilege, and keep it that way."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="leastcap", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
