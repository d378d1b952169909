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
from typing import Protocol

# Input files larger than this are refused before they are read: no Compose file is this big, and
# reading a 50 MB file into a YAML parser is how a scanner is made to hang.
MAX_FILE_BYTES = 4 * 1024 * 1024


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
            # O_NONBLOCK: opening a FIFO named compose.yaml must not hang; a symlink loop fails
            # here with ELOOP. The type and size are checked on the open descriptor.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            error = TreeError(f"cannot read {self.display(path)}: {exc.strerror or exc}")
            error.errno = exc.errno
            raise error from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise TreeError(f"cannot read {self.display(path)}: not a regular file")
            if st.st_size > self.max_bytes:
                raise TreeError(
                    f"{self.display(path)} is {st.st_size} bytes, over the {self.max_bytes}-byte limit "
                    "for a Compose file; not read"
                )
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise TreeError(f"{self.display(path)} grew past the {self.max_bytes}-byte limit while read")
        return data

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
