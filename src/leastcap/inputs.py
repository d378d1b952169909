"""What a scan's inputs held: directories it could not read, and paths with nothing to scan.

A scan that silently passes over a directory it may not read, or over a path that holds no
Compose file, script or CI file, reports "no findings" for something it never looked at. Both
are said instead: an unreadable directory and an explicit path with nothing scannable are errors
(exit 2); a scan of the current directory that finds nothing says so in a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from leastcap.model import Problem
from leastcap.tree import DiskTree

NOTHING = "nothing to scan: no Compose file, script or CI file here"


def unreadable_directories(tree: DiskTree) -> list[Problem]:
    return [
        Problem(tree.display(path), f"cannot read directory {tree.display(path)}: {reason}")
        for path, reason in sorted(tree.unreadable.items())
    ]


def empty_roots(
    roots: Sequence[str], named: bool, examined: Iterable[str], errors: Sequence[Problem], tree: DiskTree
) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for the scan roots (absolute) under which nothing was examined.

    ``named``: the roots were given on the command line (an error each), rather than the current
    directory by default (a warning). A root with an error of its own already says what is wrong.
    """
    files = list(examined)
    shown_errors = [e.path for e in errors]
    out_errors: list[Problem] = []
    out_warnings: list[Problem] = []
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if any(f == root or f.startswith(prefix) for f in files):
            continue
        shown = tree.display(root)
        shown_prefix = "" if shown == "." else shown.rstrip("/") + "/"
        if any(p == shown or p.startswith(shown_prefix) for p in shown_errors):
            continue
        problem = Problem(shown, NOTHING)
        (out_errors if named else out_warnings).append(problem)
    return out_errors, out_warnings
