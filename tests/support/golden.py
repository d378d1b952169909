"""The one switch that regenerates every golden file (reporters, CLI, fix):

    python -m pytest --update-golden tests/report tests/cli tests/fix

then review ``git diff`` of the golden files. Without the switch, goldens are only compared.
"""

from __future__ import annotations

from pathlib import Path

_update = False


def set_updating(value: bool) -> None:
    global _update  # noqa: PLW0603 - set once, by tests/conftest.py from the command line
    _update = value


def updating() -> bool:
    return _update


def check_golden(path: Path, actual: str) -> None:
    """``actual`` must equal the golden file byte for byte (``--update-golden`` rewrites it)."""
    if _update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing: run pytest --update-golden and review it"
    assert actual == path.read_text(encoding="utf-8"), f"output differs from {path} (pytest --update-golden)"
