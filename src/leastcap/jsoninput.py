"""A JSON file given on the command line (a baseline, an audit, a previous report), read as hostile
input: a FIFO is never waited on, a link to a device is refused, size is bounded, and every failure
is one ``InputError`` naming the file."""

from __future__ import annotations

import json
import os
import stat

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class InputError(Exception):
    """The file cannot be used; the message names it and says why."""


def read_text(path: str, display: str, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer; the type is checked on the descriptor.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read {what} {display}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"cannot read {what} {display}: not a regular file")
        if st.st_size > max_bytes:
            raise InputError(f"{what} {display} is {st.st_size} bytes, over the {max_bytes}-byte limit")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{what} {display} grew past the {max_bytes}-byte limit while read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{display}: not a leastcap {what}: not UTF-8 (byte {exc.start})") from None


def parse(text: str, display: str, what: str) -> object:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = str(exc)
        message = message if len(message) <= 120 else message[:117] + "..."
        raise InputError(f"{display}: not a leastcap {what}: invalid JSON ({message})") from None


def read_json(path: str, display: str, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> object:
    return parse(read_text(path, display, what, max_bytes), display, what)
