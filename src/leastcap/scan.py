"""``leastcap scan``'s input side: paths -> Compose projects and script projects -> the pipeline.

Used by ``leastcap scan`` and the pre-commit hook. Errors of one input never hide the findings of
the others: every project is loaded on its own, and what cannot be loaded becomes an error entry.
Large scans load and judge projects in worker processes (``pipeline.judge``, and the fixes the
JSON report shows: ``_plan_ahead``); ``pipeline.evaluate`` does the rest.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import multiprocessing as mp
import os
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from leastcap.baseline import Baseline, BaselineError, read_baseline
from leastcap.config import Config, ConfigError, resolve_config
from leastcap.contract import SCRIPT_KINDS
from leastcap.inputs import empty_roots, unreadable_directories
from leastcap.knowledge.image_knowledge import KnowledgeError, check_config_images, config_knowledge
from leastcap.loader import LoadOptions, discover_projects, load_project
from leastcap.model import Edit, Finding, Fix, Problem, Project, Report, Service, Severity
from leastcap.pipeline import Context, Judged, disk_source_lines, evaluate, judge, plan_fixes
from leastcap.progress import Tick, silent
from leastcap.tree import DiskTree

if TYPE_CHECKING:
    from leastcap.fix.apply import Planner


@dataclass(frozen=True)
class ScanOptions:
    paths: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    config_path: str | None = None
    fail_on: Severity | None = None
    cwd: str | None = None
    scripts: bool = True
    today: dt.date | None = None
    # Worker processes for loading and judging projects; None means one per CPU.
    jobs: int | None = None
    # A baseline file (leastcap.baseline): its findings are suppressed "by baseline".
    baseline: str | None = None
    # Plan each finding's fix (only worth it for a format that shows them: report.shows_fixes). The
    # images: entries are checked either way: a bad one is an error in every format.
    fixes: bool = True


def _load_options(options: ScanOptions, cwd: str, tree: DiskTree) -> tuple[list[LoadOptions], list[Problem]]:
    environ = {**os.environ, **options.env}
    env_files = tuple(posixpath.join(cwd, f) for f in options.env_files)
    profiles = options.profiles
    targets: list[LoadOptions] = []
    problems: list[Problem] = []
    if options.files:
        files = tuple(posixpath.normpath(posixpath.join(cwd, f)) for f in options.files)
        targets.append(
            LoadOptions(
                working_dir=cwd,
                files=files,
                project_directory=options.project_directory,
                environ=environ,
                env_files=env_files,
                profiles=profiles,
            )
        )
    paths = [posixpath.normpath(posixpath.join(cwd, p)) for p in options.paths]
    if not paths and not options.files:
        paths = [cwd]
    if paths:
        found, discover_problems = discover_projects(paths, tree)
        problems.extend(discover_problems)
        targets.extend(replace(t, environ=environ, env_files=env_files, profiles=profiles) for t in found)
    return targets, problems


# Projects are independent, so a large scan loads and judges them in worker processes, one per
# core. Small scans stay in this process: forking costs more than it saves there.
PARALLEL_THRESHOLD = 32


@dataclass(frozen=True)
class _Outcome:
    files: tuple[str, ...]
    project: Project | None
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    findings: tuple[Finding, ...]
    fixes: tuple[tuple[str, Fix], ...] = ()  # service -> its Fix, planned ahead (_plan_ahead)


def _evaluate(target: LoadOptions, tree: DiskTree, config: Config, planner: Planner | None) -> _Outcome:
    # partial: values compose refuses are errors, and the rest of the project is still judged.
    result = load_project(target, tree, effective=False, partial=True)
    if result.project is None:
        files = tuple(tree.display(f) for f in target.files)
        return _Outcome(files, None, result.errors, result.warnings, ())
    project = result.project
    findings = judge(project, config)
    fixes = _plan_ahead(project, findings, planner) if planner is not None else ()
    return _Outcome(project.files, _summary(project), result.errors, result.warnings, findings, fixes)


def _summary(project: Project) -> Project:
    """What the rest of the scan needs of a judged project (names, files, service key lines for
    inline ignores): much less to send back from a worker process than the whole model."""
    services = tuple(
        Service(name=s.name, project=s.project, source=s.source, key=s.key, files=s.files) for s in project.services
    )
    return replace(project, services=services)


def _plan_ahead(project: Project, findings: Sequence[Finding], planner: Planner) -> tuple[tuple[str, Fix], ...]:
    """Each service's ``Fix`` as ``fix --all`` plans it for this project, made where the whole
    service is at hand (the worker process, for a large scan: the parent keeps a summary). Nothing
    is suppressed yet; after suppression the parent's fixer (``_PlannedAhead``) lets the planner
    decide again which findings it answers."""
    fixes = plan_fixes(findings, [project], planner)
    return tuple((name, replace(fix, edits=tuple(_shared(e) for e in fix.edits))) for (_, name), fix in fixes.items())


@functools.lru_cache(maxsize=4096)
def _shared(edit: Edit) -> Edit:
    """One object for equal edits (most are: Docker's default capabilities with the same comment on
    every service an image is unknown for), so a worker sends each once per batch and the parent
    unpickles and keeps one: unpickling the fixes' objects one by one doubled a large scan's time."""
    return edit


@dataclass(frozen=True)
class _PlannedAhead:
    """scan's fixer (leastcap.pipeline.Fixer): the planner decides, after suppression, which
    findings it answers (none of a service whose privilege the user accepted, as for fix); the
    answer is the one planned ahead from the whole service. Only Compose projects are planned
    ahead, and only they get fixes (fix edits Compose files only)."""

    planner: Planner
    ahead: Mapping[tuple[str, tuple[str, ...], str], Fix]  # (project, its files, service) -> Fix

    @property
    def with_all(self) -> bool:
        return self.planner.with_all

    def fix(self, project: Project, service: Service, findings: tuple[Finding, ...]) -> Fix | None:
        if not self.planner.left_to_fix(service, findings):
            return None
        return self.ahead.get((project.name, project.files, service.name))


def _planner(config: Config, plan: bool) -> tuple[Planner | None, Problem | None]:
    """The planner that shows each finding what ``leastcap fix --all`` would do (None unless
    ``plan``): the same knowledge (bundled plus ``images:`` of .leastcap.yml), no image facts (scan
    never talks to the Docker engine), no profile. A bad ``images:`` entry is an error of the report
    whatever the format, and the scan goes on without fixes: a fix planned from other knowledge
    than fix's would not be fix's."""
    try:
        if not plan:
            check_config_images(config)
            return None, None
        knowledge = config_knowledge(config)
    except KnowledgeError as exc:
        where = config.images[exc.entry].location if exc.entry is not None else None
        path = config.path or ".leastcap.yml"
        return None, Problem(path, exc.detail, where.line if where else 0, where.column if where else 0)
    from leastcap.fix.apply import Planner  # its editing side (ruamel.yaml) only when planning

    return Planner(knowledge, with_all=True), None


# What forked workers evaluate; set by the parent just before the pool forks (fork shares it).
_WORK: tuple[DiskTree, Config, Planner | None, Sequence[LoadOptions]] | None = None


def _evaluate_index(index: int) -> _Outcome:
    assert _WORK is not None
    tree, config, planner, targets = _WORK
    return _evaluate(targets[index], tree, config, planner)


def _evaluate_all(
    targets: Sequence[LoadOptions], tree: DiskTree, config: Config, planner: Planner | None, jobs: int | None
) -> Iterator[_Outcome]:
    global _WORK  # noqa: PLW0603 - handed to forked workers, see _WORK
    workers = min(jobs or os.cpu_count() or 1, len(targets))
    if workers <= 1 or len(targets) < PARALLEL_THRESHOLD or "fork" not in mp.get_all_start_methods():
        for target in targets:
            yield _evaluate(target, tree, config, planner)
        return
    _WORK = (tree, config, planner, targets)
    # Objects the workers inherit are never collected there; freezing them keeps the children's
    # garbage collector from touching (and so copying) every page the parent owns.
    gc.freeze()
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            # map keeps the targets' order, so the report is the same as a serial scan's.
            yield from pool.map(_evaluate_index, range(len(targets)), chunksize=max(1, len(targets) // (workers * 8)))
    finally:
        gc.unfreeze()
        _WORK = None


def _baseline(name: str | None, cwd: str, tree: DiskTree) -> tuple[Baseline | None, Problem | None]:
    """The baseline to apply, or the error that says why it cannot be (the scan goes on without
    it: its findings are all reported, and the error makes the exit code 2)."""
    if name is None:
        return None, None
    path = posixpath.normpath(posixpath.join(cwd, name))
    try:
        return read_baseline(path, tree.display(path), cwd), None
    except BaselineError as exc:
        return None, Problem(tree.display(path), str(exc))


def run_scan(options: ScanOptions, tick: Tick = silent) -> Report:
    """Scan; ``tick`` hears how many Compose projects are done (``leastcap.progress``)."""
    cwd = os.path.abspath(options.cwd or os.getcwd())
    tree = DiskTree(cwd)
    scan_roots = list(options.paths) or ([cwd] if not options.files else list(options.files))
    try:
        config = resolve_config([posixpath.join(cwd, p) for p in scan_roots], options.config_path, cwd=cwd)
    except ConfigError as exc:
        return Report(findings=(), errors=exc.problems, fail_on=options.fail_on or Severity.HIGH)
    fail_on = options.fail_on or config.fail_on or Severity.HIGH
    baseline, baseline_problem = _baseline(options.baseline, cwd, tree)
    planner, knowledge_problem = _planner(config, options.fixes)

    targets, problems = _load_options(options, cwd, tree)
    errors: list[Problem] = [*problems, *(p for p in (baseline_problem, knowledge_problem) if p is not None)]
    examined = [f for target in targets for f in target.files]
    warnings: dict[Problem, None] = {}
    projects: list[Project | Judged] = []
    scanned: list[str] = []
    ahead: dict[tuple[str, tuple[str, ...], str], Fix] = {}
    for done, outcome in enumerate(_evaluate_all(targets, tree, config, planner, options.jobs), start=1):
        tick("Compose projects", done, len(targets))
        errors.extend(outcome.errors)
        warnings.update(dict.fromkeys(outcome.warnings))
        scanned.extend(outcome.files)
        if outcome.project is not None:
            projects.append(Judged(outcome.project, outcome.findings))
            for service, fix in outcome.fixes:
                ahead.setdefault((outcome.project.name, outcome.project.files, service), fix)
    if options.scripts and (options.paths or not options.files):
        from leastcap.scripts import collect

        roots = [posixpath.normpath(posixpath.join(cwd, p)) for p in (options.paths or (".",))]
        enabled = {kind: config.scripts.on(kind) for kind in SCRIPT_KINDS}
        script_projects, script_problems = collect(roots, tree, enabled, examined)
        errors.extend(script_problems)
        for project in script_projects:
            projects.append(project)
            scanned.extend(project.files)
    errors.extend(unreadable_directories(tree))
    if not options.files:
        roots = [posixpath.normpath(posixpath.join(cwd, p)) for p in (options.paths or (".",))]
        empty_errors, empty_warnings = empty_roots(roots, bool(options.paths), examined, errors, tree)
        errors.extend(empty_errors)
        warnings.update(dict.fromkeys(empty_warnings))
    context = Context(
        command="scan",
        source_lines=disk_source_lines(cwd),
        today=options.today,
        fail_on=fail_on,
        errors=tuple(errors),
        warnings=tuple(warnings),
        scanned_files=tuple(dict.fromkeys(scanned)),
        baseline=baseline,
        fixer=None if planner is None else _PlannedAhead(planner, ahead),
    )
    return evaluate(projects, config, context)
