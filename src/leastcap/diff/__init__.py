"""``leastcap diff BASE [HEAD]``: the findings a change adds and removes, by ``Finding.fingerprint``.

Public API:
    run_diff(DiffOptions) -> ChangeSet       (leastcap.diff.compare)
    render(ChangeSet, fmt) -> str            (leastcap.diff.render)
"""

from __future__ import annotations

from leastcap.diff.compare import ChangeSet, DiffOptions, Side, run_diff

__all__ = ["ChangeSet", "DiffOptions", "Side", "run_diff"]
