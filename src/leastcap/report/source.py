"""Source lines for snippets. The default reads files from disk; other inputs pass their own callable."""

from __future__ import annotations

import re
from pathlib import Path

# Line breaks as PyYAML counts them (its Mark.line), so line N here is the loader's line N.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

# Past this, a file is not read for a snippet: a 50 MB input must not slow the report down.
MAX_SNIPPET_FILE_BYTES = 8 * 1024 * 1024


class DiskSourceLines:
    """``source_line(path, line)`` over the file system, reading each file at most once."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._cache: dict[str, list[str] | None] = {}

    def _load(self, path: str) -> list[str] | None:
        file = Path(path) if self._root is None else self._root / path
        try:
            if not file.is_file() or file.stat().st_size > MAX_SNIPPET_FILE_BYTES:
                return None
            data = file.read_bytes()
        except OSError:
            return None
        return _LINE_BREAK.split(data.decode("utf-8", errors="replace"))

    def __call__(self, path: str, line: int) -> str | None:
        if line < 1:
            return None
        if path not in self._cache:
            self._cache[path] = self._load(path)
        lines = self._cache[path]
        if lines is None or line > len(lines):
            return None
        return lines[line - 1]
