import sys
from pathlib import Path

# tests/support is imported as `support`.
sys.path.insert(0, str(Path(__file__).parent))

import pytest

from support.golden import set_updating


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files from the current output (then review git diff)",
    )


def pytest_configure(config: pytest.Config) -> None:
    set_updating(bool(config.getoption("--update-golden")))
