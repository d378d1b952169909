"""The real ``docker compose`` v2 binary, the oracle of the conformance cases."""

from __future__ import annotations

import pytest

from support.components import require_compose


@pytest.fixture
def compose() -> str:
    return require_compose()
