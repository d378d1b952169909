"""``leastcap history``: every version of every Compose file in git history, and when each
privilege finding came and went.

Public API:
    run_history(HistoryOptions, evaluator=None) -> HistoryReport
"""

from __future__ import annotations

from leastcap.history.git import GitError
from leastcap.history.model import CommitRef, Event, HistoryReport, Timeline
from leastcap.history.runner import HistoryOptions
from leastcap.history.walk import Evaluator
from leastcap.progress import Tick, silent


def run_history(options: HistoryOptions, evaluator: Evaluator | None = None, tick: Tick = silent) -> HistoryReport:
    from leastcap.history.runner import run

    if evaluator is None:
        from leastcap.history.evaluate import LoaderEvaluator

        evaluator = LoaderEvaluator()
    return run(options, evaluator, tick)


__all__ = [
    "CommitRef",
    "Event",
    "GitError",
    "HistoryOptions",
    "HistoryReport",
    "Timeline",
    "run_history",
]
