#!/usr/bin/env python3
"""Check every quote of the built-in image knowledge against the file it was taken from.

    python scripts/check_knowledge_quotes.py                 # read the files from GitHub
    python scripts/check_knowledge_quotes.py --mirror DIR    # read them from git mirrors DIR/OWNER+REPO

Exit 0 when every checkable quote is found, 1 when one is missing or its file cannot be read.
Links that are not a repository file pinned to a commit (issues, pull requests, web pages) are
listed as not checkable: check those by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leastcap.knowledge.image_knowledge import builtin_entries
from leastcap.knowledge.quotes import check_entries, github_reader, mirror_reader
from leastcap.report.common import defuse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="directory of git mirrors named OWNER+REPO")
    args = parser.parse_args(argv)
    reader = mirror_reader(args.mirror) if args.mirror else github_reader()
    results = check_entries(builtin_entries(), reader)
    bad = 0
    for result in results:
        if result.status == "found":
            continue
        bad += result.status in ("missing", "unreadable")
        detail = f" ({result.detail})" if result.detail else ""
        print(defuse(f"{result.status}: {result.family}: {result.source.url}: {result.source.quote!r}{detail}"))
    counts = {s: sum(r.status == s for r in results) for s in ("found", "missing", "unreadable", "not-checkable")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
