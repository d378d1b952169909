"""Progress of long runs, on standard error and only when it is a terminal.

Reports go to standard output and must stay byte-for-byte what a pipe would get, so progress never
touches it; when standard error is not a terminal (CI logs, ``2>file``) nothing at all is printed.
On a terminal a rich progress display (transient: it is erased when the run ends) shows one line
per task: what is counted, done/total and the time left.

Code that does the work takes a ``Tick`` and calls ``tick(task, done, total)``; it never imports
rich. The display is redrawn at most every ``_INTERVAL`` seconds and on a task's last step, from
the caller's thread: no refresh thread, so forking workers while it is shown is safe. A task that
reaches its total leaves the display. Messages written while it is shown go through ``echo``,
which prints them above it (a plain write to standard error would be drawn over).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# tick(task, done, total): ``task`` names what is counted ("Compose projects"), ``done`` how many
# are finished, ``total`` how many there are (None when unknown).
Tick = Callable[[str, int, int | None], None]
_INTERVAL = 0.1


def silent(task: str, done: int, total: int | None) -> None:
    """A Tick that shows nothing (stderr is not a terminal, or nobody asked)."""


class Reporter:
    """What ``progress()`` gives its caller: ``tick`` for the work, ``echo`` for messages."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def tick(self, task: str, done: int, total: int | None) -> None:
        """Nothing to draw: standard error is not a terminal."""

    def echo(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()


def on_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class _Display(Reporter):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
            auto_refresh=False,
        )
        self._tasks: dict[str, Any] = {}
        self._drawn = 0.0

    def __enter__(self) -> _Display:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def tick(self, task: str, done: int, total: int | None) -> None:
        task_id = self._tasks.get(task)
        if task_id is None:
            task_id = self._tasks[task] = self._progress.add_task(task, total=total)
        self._progress.update(task_id, completed=done, total=total)
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self._drawn >= _INTERVAL or finished:
            self._drawn = now
            self._progress.refresh()
        if finished:
            self._progress.remove_task(self._tasks.pop(task))

    def echo(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False, emoji=False, soft_wrap=True)


@contextmanager
def progress(stream: TextIO | None = None) -> Iterator[Reporter]:
    """A Reporter that draws on ``stream`` (default: standard error) when it is a terminal."""
    stream = sys.stderr if stream is None else stream
    if not on_terminal(stream):
        yield Reporter(stream)
        return
    with _Display(stream) as display:
        yield display
