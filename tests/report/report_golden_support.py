"""Golden files: compare exactly; regenerate with ``python -m pytest --update-golden tests/report``."""

from __future__ import annotations

from pathlib import Path

from leastcap import __version__
from support.golden import updating

GOLDEN_DIR = Path(__file__).parent / "golden"
VERSION_MARK = "@VERSION@"


def scrub_version(text: str) -> str:
    """The tool version appears in SARIF; goldens hold a mark so a release does not rewrite them."""
    for key in ("version", "semanticVersion"):
        text = text.replace(f'"{key}": "{__version__}"', f'"{key}": "{VERSION_MARK}"')
    return text


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN_DIR / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"golden file {path} is missing; run pytest with --update-golden to create it"
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, f"{name} differs from its golden file (pytest --update-golden regenerates it)"
