"""What a change does to the findings: both sides scanned the same way, compared by fingerprint.

A finding is the same on both sides when its ``Finding.fingerprint`` is (rule, project, service,
file and located value, never the line): moving lines, reordering services or reformatting YAML
adds and removes nothing. A finding that changes what it is about (another capability, another
mount source) is one removed and one added.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from leastcap.config import Config
from leastcap.contract import ExitCode
from leastcap.diff.trees import Revision, resolve, scan_tree, top_level, tree_at, tree_config
from leastcap.history.git import CatFile
from leastcap.history.gittree import ObjectStore
from leastcap.model import Finding, Problem, Report, Severity
from leastcap.report.common import finding_order
from leastcap.tree import DiskTree, Tree


@dataclass(frozen=True)
class DiffOptions:
    base: str
    head: str | None = None  # None: the working tree
    path: str = "."
    env: Mapping[str, str] = field(default_factory=dict)
    # None: the base's ``fail-on:`` in .leastcap.yml, else high (like scan's default, judged by the
    # base's policy: a change cannot lower its own bar).
    fail_on: Severity | None = None
    today: dt.date | None = None


@dataclass(frozen=True)
class Side:
    name: str  # the revision as given, or "working tree"
    commit: str | None  # None for the working tree
    report: Report


@dataclass(frozen=True)
class ChangeSet:
    base: Side
    head: Side
    added: tuple[Finding, ...]
    removed: tuple[Finding, ...]
    unchanged: int
    fail_on: Severity = Severity.HIGH

    @property
    def errors(self) -> tuple[Problem, ...]:
        """What HEAD could not load: the diff cannot vouch for it (exit 2)."""
        return self.head.report.errors

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """HEAD's warnings, and what BASE could not load (its findings there are unknown, so
        HEAD's findings in that file show as added)."""
        base = tuple(
            Problem(p.path, f"at {self.base.name}: {p.message}", p.line, p.column) for p in self.base.report.errors
        )
        return self.head.report.warnings + base

    @property
    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.added if f.suppressed is None and f.severity >= self.fail_on)

    def exit_code(self) -> int:
        if self.errors:
            return ExitCode.ERROR
        return ExitCode.FINDINGS if self.failing else ExitCode.OK


def compare(base: Side, head: Side, fail_on: Severity) -> ChangeSet:
    before = {f.fingerprint for f in base.report.findings}
    after = {f.fingerprint for f in head.report.findings}
    added = tuple(sorted((f for f in head.report.findings if f.fingerprint not in before), key=finding_order))
    removed = tuple(sorted((f for f in base.report.findings if f.fingerprint not in after), key=finding_order))
    unchanged = sum(1 for f in head.report.findings if f.fingerprint in before)
    return ChangeSet(base, head, added, removed, unchanged, fail_on)


def run_diff(options: DiffOptions) -> ChangeSet:
    """Raises ``GitError`` when the path is not in a repository or a revision is not a commit."""
    top = top_level(os.path.abspath(options.path))
    base_rev = resolve(top, options.base)
    head_rev: Revision | None = resolve(top, options.head) if options.head is not None else None

    with CatFile(top) as catfile:
        store = ObjectStore(catfile)
        base_tree = tree_at(top, base_rev, store)
        # HEAD is judged with the base's rule settings (its exceptions stay its own, and the markdown
        # names who approved them): disabling a rule in the change that breaks it hides nothing.
        policy = tree_config(base_tree, top) or Config()
        fail_on = options.fail_on or policy.fail_on or Severity.HIGH

        def judged(tree: Tree, policy: Config | None = None) -> Report:
            return scan_tree(tree, top, options.env, today=options.today, fail_on=fail_on, policy=policy)

        base = Side(base_rev.name, base_rev.commit, judged(base_tree))
        if head_rev is None:
            head = Side("working tree", None, judged(DiskTree(top), policy))
        else:
            head = Side(head_rev.name, head_rev.commit, judged(tree_at(top, head_rev, store), policy))
    return compare(base, head, fail_on)
