"""Re-checking the knowledge base's quotes against the files they were taken from.

Every source of a built-in entry links a file in a repository at the commit its quote was read from
(``https://github.com/OWNER/REPO/blob/COMMIT/PATH``). ``scripts/check_knowledge_quotes.py`` reads
each such file, from a local git mirror or from GitHub, and reports quotes it cannot find; other
links (issues, pull requests, web pages) are listed as not checkable. Nothing here runs during a
scan or a fix: this is a maintainer's tool, and the test suite cannot reach the network.
"""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from leastcap.knowledge.image_knowledge import ImageEntry, Source

_BLOB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+)/blob/([0-9a-f]{40})/(\S+)$")
_MAX_BYTES = 4 * 1024 * 1024  # a quoted documentation file is far smaller; refuse anything bigger


@dataclass(frozen=True, slots=True)
class Pinned:
    owner: str
    repo: str
    commit: str
    path: str

    @property
    def raw_url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.owner}/{self.repo}/{self.commit}/{self.path}"


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    family: str
    source: Source
    status: str  # "found" | "missing" | "unreadable" | "not-checkable"
    detail: str = ""


def pinned(url: str) -> Pinned | None:
    """The repository file and commit a source URL names, or None for any other kind of link."""
    match = _BLOB.match(url)
    return Pinned(*match.groups()) if match else None


def collapse(text: str) -> str:
    """Quotes of multi-line excerpts are stored on one line: compare with runs of whitespace collapsed."""
    return " ".join(text.split())


def quote_found(quote: str, text: str) -> bool:
    return collapse(quote) in collapse(text)


Reader = Callable[[Pinned], str]


def mirror_reader(mirrors: Path) -> Reader:
    """Read files from git mirrors named ``OWNER+REPO`` (bare, or with the git dir in ``repo``)."""

    def read(where: Pinned) -> str:
        for candidate in (mirrors / f"{where.owner}+{where.repo}" / "repo", mirrors / f"{where.owner}+{where.repo}"):
            if candidate.is_dir():
                proc = subprocess.run(
                    ["git", "-C", str(candidate), "show", f"{where.commit}:{where.path}"],
                    capture_output=True, timeout=60, check=False,
                )  # fmt: skip
                if proc.returncode == 0 and len(proc.stdout) <= _MAX_BYTES:
                    return proc.stdout.decode("utf-8", "replace")
        raise LookupError(f"no mirror of {where.owner}/{where.repo} holds {where.commit[:12]}:{where.path}")

    return read


def github_reader(timeout: float = 30.0) -> Reader:
    """Read files from raw.githubusercontent.com at the pinned commit."""

    def read(where: Pinned) -> str:
        try:
            # Always the fixed https host raw.githubusercontent.com (built by Pinned.raw_url).
            with urllib.request.urlopen(where.raw_url, timeout=timeout) as response:
                data: bytes = response.read(_MAX_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise LookupError(f"{where.raw_url}: {exc}") from None
        if len(data) > _MAX_BYTES:
            raise LookupError(f"{where.raw_url}: larger than {_MAX_BYTES} bytes")
        return data.decode("utf-8", "replace")

    return read


def check_entries(entries: Iterable[ImageEntry], read: Reader) -> list[QuoteCheck]:
    """One result per source of every fact; each file is read once."""
    cache: dict[Pinned, str | LookupError] = {}
    out: list[QuoteCheck] = []
    for entry in entries:
        for source in _sources(entry):
            where = pinned(source.url)
            if where is None:
                out.append(QuoteCheck(entry.family, source, "not-checkable", "not a file pinned to a commit"))
                continue
            if where not in cache:
                try:
                    cache[where] = read(where)
                except LookupError as exc:
                    cache[where] = exc
            text = cache[where]
            if isinstance(text, LookupError):
                out.append(QuoteCheck(entry.family, source, "unreadable", str(text)))
            else:
                out.append(QuoteCheck(entry.family, source, "found" if quote_found(source.quote, text) else "missing"))
    return out


def _sources(entry: ImageEntry) -> list[Source]:
    sources = [s for need in entry.needs for s in need.sources]
    sources += [s for note in entry.notes for s in note.sources]
    if entry.privileged is not None:
        sources += entry.privileged.sources
    if entry.no_new_privileges is not None:
        sources += entry.no_new_privileges.sources
    return sources
