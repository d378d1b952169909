"""Writing a command's ``-o FILE``: never through a symlink, never into a FIFO or a device."""

from __future__ import annotations

import os
import stat
import sys
from typing import NoReturn

import click

from leastcap.contract import ExitCode
from leastcap.report.common import defuse


def write_output(path: str, text: str, command: str) -> None:
    """Write ``text`` to ``path`` (created or truncated). A link, a FIFO, a directory or an
    unwritable place is a clear error and exit 2, naming the file."""
    try:
        # O_NOFOLLOW: a link planted at the output name is refused, not written through;
        # O_NONBLOCK: opening a FIFO does not wait for a reader. The type is checked before writing.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        _fail(command, f"cannot write {path}: {exc.strerror or exc}")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _fail(command, f"cannot write {path}: not a regular file")
        os.ftruncate(fd, 0)
        fh.write(text)


def _fail(command: str, message: str) -> NoReturn:
    click.echo(f"leastcap {command}: {defuse(message)}", err=True)
    sys.exit(ExitCode.ERROR)
