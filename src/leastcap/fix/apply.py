"""Run a fix over one project: load, judge through the pipeline (whose fixer, the ``Planner``,
attaches a ``Fix`` to each finding it answers), splice the fixes, verify by reloading, and (with
--write) write.

Verification is the safety net under every edit: the edited text is loaded again with leastcap's own
loader (through an overlay tree, nothing on disk changes yet); the effective model may differ only
in the privilege fields the fix meant to change, and the fixed findings must be gone. Files whose
edits fail that check, or cannot be made safely at all, are left untouched and reported.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from leastcap.config import Config
from leastcap.fix.edit import Outcome, apply_fixes
from leastcap.fix.grants import FixConfidence
from leastcap.fix.plan import ServicePlan, fix_of, plan_service
from leastcap.fix.write import Snapshot, WriteError, read_snapshot, write_all
from leastcap.fix.yamltext import EditError, YamlText
from leastcap.imagefacts.model import ImageFacts
from leastcap.knowledge.image_knowledge import KnowledgeBase
from leastcap.loader.api import LoadOptions, LoadResult, load_project
from leastcap.model import Finding, Fix, Project, Service, SourceKind
from leastcap.model.fix import FIX_KEYS
from leastcap.pipeline import Context, disk_source_lines, evaluate, judge
from leastcap.profile.format import Profile
from leastcap.rules.registry import fixable_slugs
from leastcap.tree import DiskTree

# Effective fields a fix may change; anything else changing means the edit went wrong.
PRIVILEGE_FIELDS = frozenset(FIX_KEYS)


class OverlayTree(DiskTree):
    """The disk, with some files replaced by their edited text (for verification before writing)."""

    def __init__(self, cwd: str, overlay: Mapping[str, bytes]) -> None:
        super().__init__(cwd)
        self.overlay = dict(overlay)

    def read_bytes(self, path: str) -> bytes:
        if path in self.overlay:
            return self.overlay[path]
        return super().read_bytes(path)


@dataclass
class FixResult:
    project: str = ""
    plans: dict[str, ServicePlan] = field(default_factory=dict)  # service -> what the planner decided, and why
    # The project's findings, each fixable one carrying its Fix; and the fixes this run applies
    # (service -> Fix: at or above --min-confidence).
    findings: tuple[Finding, ...] = ()
    fixes: dict[str, Fix] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    root: str = ""  # the project's working directory (links below it are never written through)
    original: dict[str, bytes] = field(default_factory=dict)  # abs path -> bytes as read
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  # abs path -> what a write re-checks
    edited: dict[str, bytes] = field(default_factory=dict)  # abs path -> new bytes (only changed files)
    problems: list[str] = field(default_factory=list)  # files/services left untouched, and why
    errors: list[str] = field(default_factory=list)  # inputs that could not be loaded
    written: list[str] = field(default_factory=list)
    # Services whose findings the user accepted (inline ignore, valid exception): never edited.
    suppressed: dict[str, str] = field(default_factory=dict)  # service -> how it was suppressed
    min_confidence: FixConfidence = FixConfidence.INFERRED

    @property
    def unfixed(self) -> list[str]:
        done = {o.service for o in self.outcomes if o.where != "skipped"}
        return [
            n for n, p in self.plans.items()
            if p.action in ("keep", "propose") or (p.action == "fix" and n not in done)
        ]  # fmt: skip


def _triggers(findings: Iterable[Finding], rules: tuple[str, ...]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        if f.rule in rules and f.suppressed is None and f.service:
            out.setdefault(f.service, set()).add(f.rule)
    return out


@dataclass
class Planner:
    """The pipeline's fixer for ``fix`` and ``scan`` (leastcap.pipeline.Fixer): plans each chosen
    service from its findings and returns the plan as a ``Fix``. It keeps every plan (the command explains them) and
    the services whose findings the user accepted (an inline ignore, a valid exception): those are
    the user's decision and are never planned."""

    knowledge: KnowledgeBase
    with_all: bool = False
    chosen: frozenset[str] = frozenset()  # --service (empty: every service)
    profile: Profile | None = None
    image_facts: Callable[[str], ImageFacts | None] | None = None
    min_confidence: FixConfidence = FixConfidence.INFERRED
    plans: dict[str, ServicePlan] = field(default_factory=dict)
    suppressed: dict[str, str] = field(default_factory=dict)  # service -> how it was suppressed
    problems: list[str] = field(default_factory=list)

    def fix(self, project: Project, service: Service, findings: tuple[Finding, ...]) -> Fix | None:
        left = self.left_to_fix(service, findings)
        return self.plan(service, left) if left else None

    def left_to_fix(self, service: Service, findings: tuple[Finding, ...]) -> tuple[str, ...]:
        """The rules of ``findings`` to plan ``service`` for: none when it is not chosen, not written
        in a Compose file (fix edits those only: a script's docker run line or a container has no
        Fix), or when the user accepted its privilege (a suppressed finding, recorded here)."""
        if self.chosen and service.name not in self.chosen:
            return ()
        if service.source is not SourceKind.FILE:
            return ()
        left = tuple(sorted({f.rule for f in findings if f.open_to_fix}))
        accepted = next((f for f in findings if not f.open_to_fix), None)
        if accepted is not None and accepted.suppressed is not None:
            how = "inline ignore" if accepted.suppressed.by == "inline" else "exception in .leastcap.yml"
            self.suppressed[service.name] = (
                f"{accepted.rule}: suppressed by {how} ({accepted.suppressed.justification})"
            )
            if left:  # accepted in part: the rest is the user's to fix, fix does not half-edit it
                self.problems.append(f"service {service.name}: {', '.join(left)} is not suppressed; fix it by hand")
            return ()
        return left

    def plan(self, service: Service, rules: tuple[str, ...]) -> Fix | None:
        """The service's plan for the findings of ``rules``, kept in ``plans``, as a ``Fix``."""
        profile = self.profile if self.profile is not None and self.profile.service == service.name else None
        image = service.image.value if service.image is not None else ""
        facts = self.image_facts(image) if self.image_facts is not None and image else None
        plan = plan_service(service, rules, self.knowledge, profile, facts)
        if plan.action == "fix" and plan.confidence < self.min_confidence:
            plan = replace(plan, action="propose")
        self.plans[service.name] = plan
        return fix_of(plan, service)

    def applies(self, fix: Fix) -> bool:
        """Whether this run applies ``fix``: its set is at least as sure as --min-confidence."""
        return FixConfidence[fix.confidence.upper()] >= self.min_confidence


def _project_paths(project: Project, cwd: str) -> list[str]:
    paths: list[str] = []
    for p in (*project.files, *(f for s in project.services for f in s.files)):
        absolute = os.path.normpath(os.path.join(cwd, p))
        if absolute not in paths:
            paths.append(absolute)
    return paths


def fix_project(
    options: LoadOptions,
    knowledge: KnowledgeBase,
    *,
    cwd: str,
    services: frozenset[str] = frozenset(),
    profile: Profile | None = None,
    all_rules: bool = False,
    config: Config | None = None,
    min_confidence: FixConfidence = FixConfidence.INFERRED,
    image_facts: Callable[[str], ImageFacts | None] | None = None,
) -> FixResult:
    """Plan and splice the fix of one project (nothing is written here: see write_files).

    Plans less sure than ``min_confidence`` become proposals (action ``propose``), not edits.
    ``image_facts(image)`` gives what an image's own files say (None when it cannot be read).
    """
    result = FixResult(min_confidence=min_confidence)
    loaded = load_project(options, DiskTree(cwd))
    if loaded.project is None:
        result.errors.extend(
            f"{e.path}:{e.line}: {e.message}" if e.line else f"{e.path}: {e.message}" for e in loaded.errors
        )
        return result
    project = loaded.project
    result.project = project.name
    result.root = os.path.abspath(options.working_dir or cwd)
    planner = Planner(knowledge, all_rules, services, profile, image_facts, min_confidence)
    context = Context(command="fix", source_lines=disk_source_lines(cwd), fixer=planner)
    result.findings = evaluate([project], config, context).findings
    result.plans, result.suppressed = planner.plans, planner.suppressed
    result.problems.extend(planner.problems)
    result.fixes = {f.service: f.fix for f in result.findings if f.fix is not None and planner.applies(f.fix)}
    if not result.fixes:
        return result

    paths = _project_paths(project, cwd)
    texts = _read_texts(result, paths, cwd)
    result.outcomes = _splice_fixes(result, project, texts, paths, cwd)
    edited = {p: t.result_bytes() for p, t in texts.items() if t.splices}
    edited = {p: b for p, b in edited.items() if b != result.original[p]}
    result.edited = _verify(options, cwd, loaded, result, edited)
    result.problems.extend(f"service {o.service}: {o.message}" for o in result.outcomes if o.where == "skipped")
    return result


def _read_texts(result: FixResult, paths: list[str], cwd: str) -> dict[str, YamlText]:
    """Reads each project file once, keeping its bytes and the snapshot a write re-checks; a file that
    cannot be read safely is a problem, and its services' edits fail later for want of its text."""
    texts: dict[str, YamlText] = {}
    for path in paths:
        try:
            data, result.snapshots[path] = read_snapshot(path, os.path.relpath(path, cwd), result.root)
            result.original[path] = data
            texts[path] = YamlText(data, os.path.relpath(path, cwd))
        except (WriteError, EditError) as exc:
            result.problems.append(str(exc))
    return texts


def _splice_fixes(
    result: FixResult, project: Project, texts: dict[str, YamlText], paths: list[str], cwd: str
) -> list[Outcome]:
    """Splices each service's fix into ``texts``; a fix that cannot be made safely is rolled back
    whole (no service is half edited) and becomes a skipped outcome."""

    def resolve(display: str) -> str:
        return os.path.normpath(os.path.join(cwd, display))

    outcomes: list[Outcome] = []
    for name, fix in result.fixes.items():
        snapshot = {p: list(t.splices) for p, t in texts.items()}
        try:
            outcomes.extend(
                apply_fixes(project, {name: fix}, texts, resolve, project_files=paths, all_fixes=result.fixes)
            )
        except EditError as exc:
            for p, t in texts.items():
                t.splices = snapshot[p]
            outcomes.append(Outcome(name, "skipped", "", str(exc)))
    return outcomes


def _service_view(effective: dict[str, Any] | None, name: str) -> dict[str, Any]:
    services = (effective or {}).get("services", {})
    svc = services.get(name, {})
    return {k: v for k, v in svc.items() if k not in PRIVILEGE_FIELDS}


def _verify(
    options: LoadOptions, cwd: str, before: LoadResult, result: FixResult, edited: dict[str, bytes]
) -> dict[str, bytes]:
    """Drop the files whose edits do not reload to the intended model (at most a few rounds)."""
    for _ in range(len(edited) + 1):
        if not edited:
            return edited
        after = load_project(options, OverlayTree(cwd, edited))
        bad: set[str] = set()
        why = ""
        if after.project is None:
            why = "; ".join(e.message for e in after.errors) or "the edited project does not load"
            bad = set(edited)
        else:
            names = {s.name for s in after.project.services}
            before_names = {s.name for s in before.project.services} if before.project else set()
            if names != before_names:
                why, bad = "the set of services changed", set(edited)
            for name in names:
                if _service_view(before.effective, name) != _service_view(after.effective, name):
                    why = f"service {name} changed outside the privilege fields"
                    bad |= _files_of(after.project, name, cwd, edited)
            primary = fixable_slugs()
            remaining = _triggers(judge(after.project, None), primary)
            for name in result.fixes:
                if any(o.service == name and o.where != "skipped" for o in result.outcomes):
                    left = remaining.get(name, set()) & set(result.plans[name].triggers) & set(primary)
                    if left:
                        why = f"service {name} still has {', '.join(sorted(left))} after the edit"
                        bad |= _files_of(after.project, name, cwd, edited)
        if not bad:
            return edited
        for path in sorted(bad):
            result.problems.append(f"{os.path.relpath(path, cwd)}: left untouched: {why}")
        edited = {p: b for p, b in edited.items() if p not in bad}
    return edited


def _files_of(project: Project, name: str, cwd: str, edited: Mapping[str, bytes]) -> set[str]:
    try:
        svc = project.service(name)
    except KeyError:
        return set(edited)
    files = {os.path.normpath(os.path.join(cwd, f)) for f in (*svc.files, *project.files)}
    hit = files & set(edited)
    return hit or set(edited)


def unified_diff(result: FixResult, cwd: str) -> str:
    out: list[str] = []
    for path in sorted(result.edited):
        rel = os.path.relpath(path, cwd)
        old = result.original[path].decode("utf-8").splitlines(keepends=True)
        new = result.edited[path].decode("utf-8").splitlines(keepends=True)
        out.extend(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}")
        )
    return "".join(out)


def write_files(result: FixResult, backup: bool = False) -> list[str]:
    """Write every edited file of ``result`` or none (see leastcap.fix.write); raises WriteError."""
    edits = [(result.snapshots[path], data) for path, data in sorted(result.edited.items())]
    result.written = write_all(edits, backup=backup)
    return result.written
