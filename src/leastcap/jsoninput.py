"""A JSON file given on the command line (a baseline, an audit, a previous report), read as hostile
input: a FIFO is never waited on, a link to a device is refused, size is bounded, and every failure
is one ``InputError`` naming the file."""

from __future__ import annotations

import json

from leastcap.tree import ReadRefused, read_regular_file

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class InputError(Exception):
    """The file cannot be used; the message names it and says why."""


def read_text(path: str, display: str, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    try:
        data = read_regular_file(path, max_bytes)
    except ReadRefused as exc:
        if exc.kind == "size":
            raise InputError(f"{what} {display} is {exc.size} bytes, over the {max_bytes}-byte limit") from None
        if exc.kind == "grew":
            raise InputError(f"{what} {display} grew past the {max_bytes}-byte limit while read") from None
        raise InputError(f"cannot read {what} {display}: {exc.reason}") from None
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
