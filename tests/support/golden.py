"""The one switch that regenerates every golden file (reporters, CLI, fix):

    python -m pytest --update-golden tests/report tests/cli tests/fix

then review ``git diff`` of the golden files. Without the switch, goldens are only compared.
"""

from __future__ import annotations

_update = False


def set_updating(value: bool) -> None:
    global _update  # noqa: PLW0603 - set once, by tests/conftest.py from the command line
    _update = value


def updating() -> bool:
    return _update
