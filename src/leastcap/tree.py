"""Where input files come from: the disk, or a git commit's tree.

The loader reads only through a ``Tree``, so scanning a file on disk and a file version in git
history is the same code (``leastcap history`` supplies a ``Tree`` over one commit).
Paths given to a Tree are absolute POSIX paths; a git tree maps its repository root to a
directory path chosen by the caller.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Literal, Protocol

# Input files larger than this are refused before they are read: no Compose file is this big, and
# reading a 50 MB file into a YAML parser is how a scanner is made to hang.
MAX_FILE_BYTES = 4 * 1024 * 1024


class ReadRefused(OSError):
    """Why ``read_regular_file`` gave no bytes. ``kind``: ``open`` (the system refused: ``errno``
    and ``reason`` are its own), ``type`` (not a regular file), ``size`` (over the limit before
    reading: ``size`` is the file's) or ``grew`` (past the limit while read). Callers word it."""

    def __init__(self, kind: Literal["open", "type", "size", "grew"], reason: str, size: int = 0) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.size = size


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """All of a regular file, at most ``max_bytes``, read as hostile input. O_NONBLOCK: opening a
    FIFO never waits for a writer; a symlink loop fails with ELOOP. The type and size are checked
    on the open descriptor, and the read stops one byte past the limit (a file that grows, or a
    size that lies, as in /proc)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        refused = ReadRefused("open", exc.strerror or str(exc))
        refused.errno = exc.errno
        raise refused from None
    # The type is checked before the descriptor becomes a file object: io refuses a directory
    # with its own error (IsADirectoryError), which no caller expects.
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadRefused("type", "not a regular file")
        raise ReadRefused("size", f"{st.st_size} bytes, over the {max_bytes}-byte limit", st.st_size)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ReadRefused("grew", f"grew past the {max_bytes}-byte limit while read")
    return data


class TreeError(OSError):
    """A path could not be read (missing, too large, not a regular file, a symlink loop...).

    ``errno`` is the system's error where there was one (EACCES: the path exists, but leastcap may
    not read it; a scan must say so rather than pass it over)."""


DENIED = (errno.EACCES, errno.EPERM)


class Tree(Protocol):
    def read_bytes(self, path: str) -> bytes: ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def list_dir(self, path: str) -> list[str]: ...

    def display(self, path: str) -> str:
        """The path as findings show it (relative to the cwd, or ``path@commit``)."""
        ...


class DiskTree:
    """The real file system. Relative display paths are relative to ``cwd``."""

    def __init__(self, cwd: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.cwd = os.path.abspath(cwd or os.getcwd())
        self.max_bytes = max_bytes
        self._display: dict[str, str] = {}
        # Directories that exist but could not be listed (permissions): path -> the system's
        # reason. A walk sees them as empty; the scan reports each as an error.
        self.unreadable: dict[str, str] = {}

    def read_bytes(self, path: str) -> bytes:
        try:
            return read_regular_file(path, self.max_bytes)
        except ReadRefused as exc:
            shown = self.display(path)
            if exc.kind == "size":
                message = (
                    f"{shown} is {exc.size} bytes, over the {self.max_bytes}-byte limit for a Compose file; not read"
                )
            elif exc.kind == "grew":
                message = f"{shown} grew past the {self.max_bytes}-byte limit while read"
            else:
                message = f"cannot read {shown}: {exc.reason}"
            error = TreeError(message)
            error.errno = exc.errno
            raise error from None

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def list_dir(self, path: str) -> list[str]:
        try:
            names = sorted(os.listdir(path))
            if names:
                # A directory with read but no search permission lists its names, and then every
                # stat of them fails: without this a walk would pass over its files in silence.
                os.lstat(os.path.join(path, names[0]))
        except OSError as exc:
            if exc.errno in DENIED:
                entered = exc.filename != path and exc.filename is not None
                reason = exc.strerror or str(exc)
                self.unreadable[path] = f"{reason} (it can be listed, not entered)" if entered else reason
            return []
        return names

    def display(self, path: str) -> str:
        shown = self._display.get(path)
        if shown is None:
            shown = self._display[path] = self._relative(path)
        return shown

    def _relative(self, path: str) -> str:
        try:
            rel = os.path.relpath(path, self.cwd)
        except ValueError:
            return path
        return path if rel == ".." or rel.startswith("../") else rel
