"""Lists that scripts, CI and the JSON schemas rely on, each kept once: the exit codes and the
script kinds. (Output formats are ``leastcap.report.FORMATS``; severities and confidences are the
enums of ``leastcap.model``.) ``tests/test_contract.py`` holds the schemas to these lists.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """README "Exit codes". Every command uses these and no other."""

    OK = 0
    # Findings at or above --fail-on (scan, history, audit); services left unfixed (fix); a failed
    # recording or verification (profile).
    FINDINGS = 1
    # An input could not be read or loaded, a usage error, or the machine cannot do what was asked.
    ERROR = 2
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


# Script and CI formats the scripts scanner reads (``scripts:`` in .leastcap.yml switches each).
SCRIPT_KINDS: tuple[str, ...] = ("shell", "makefile", "dockerfile", "systemd", "jenkins", "github", "gitlab")
