"""The scan pipeline: inputs -> projects -> rules -> suppression -> one Report.

Used by ``leastcap scan`` and the pre-commit hook. Errors of one input never hide the findings of
the others: every project is loaded on its own, and what cannot be loaded becomes an error entry.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from leastcap.config import Config, ConfigError, resolve_config
from leastcap.loader import LoadOptions, discover_projects, load_project
from leastcap.model import Finding, Problem, Project, Report, Severity
from leastcap.tree import DiskTree


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


@dataclass(frozen=True)
class ScanResult:
    report: Report
    projects: tuple[Project, ...]
    config: Config


def _load_options(options: ScanOptions, cwd: str, tree: DiskTree) -> tuple[list[LoadOptions], list[Problem]]:
    environ = {**os.environ, **options.env}
    env_files = tuple(posixpath.join(cwd, f) for f in options.env_files)
    common = {"environ": environ, "env_files": env_files, "profiles": options.profiles}
    targets: list[LoadOptions] = []
    problems: list[Problem] = []
    if options.files:
        files = tuple(posixpath.normpath(posixpath.join(cwd, f)) for f in options.files)
        targets.append(LoadOptions(working_dir=cwd, files=files, project_directory=options.project_directory, **common))  # type: ignore[arg-type]
    paths = [posixpath.normpath(posixpath.join(cwd, p)) for p in options.paths]
    if not paths and not options.files:
        paths = [cwd]
    if paths:
        found, discover_problems = discover_projects(paths, tree)
        problems.extend(discover_problems)
        targets.extend(replace(target, **common) for target in found)  # type: ignore[arg-type]
    return targets, problems


def _dedupe(findings: Sequence[Finding]) -> list[Finding]:
    """A main file shared by several projects (default + variants) is reported once."""
    seen: set[tuple[str, object, str, str]] = set()
    out: list[Finding] = []
    for finding in findings:
        key = (finding.rule, finding.location, finding.service, finding.message)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def _source_lines(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(8 * 1024 * 1024).splitlines()
    except OSError:
        return None


def run_scan(options: ScanOptions) -> ScanResult:
    from leastcap import suppress
    from leastcap.rules.registry import check_project

    cwd = os.path.abspath(options.cwd or os.getcwd())
    tree = DiskTree(cwd)
    scan_roots = list(options.paths) or ([cwd] if not options.files else list(options.files))
    try:
        config = resolve_config([posixpath.join(cwd, p) for p in scan_roots], options.config_path, cwd=cwd)
    except ConfigError as exc:
        report = Report(findings=(), errors=exc.problems, fail_on=options.fail_on or Severity.HIGH)
        return ScanResult(report, (), Config())
    fail_on = options.fail_on or config.fail_on or Severity.HIGH

    targets, problems = _load_options(options, cwd, tree)
    errors: list[Problem] = list(problems)
    warnings: list[Problem] = []
    findings: list[Finding] = []
    projects: list[Project] = []
    scanned: list[str] = []
    for target in targets:
        result = load_project(target, tree, effective=False)
        errors.extend(result.errors)
        warnings.extend(w for w in result.warnings if w not in warnings)
        if result.project is None:
            scanned.extend(tree.display(f) for f in target.files)
            continue
        projects.append(result.project)
        scanned.extend(result.project.files)
        findings.extend(check_project(result.project, config))
    if options.scripts and (options.paths or not options.files):
        from leastcap.config import SCRIPT_KINDS
        from leastcap.scripts import collect

        roots = [posixpath.normpath(posixpath.join(cwd, p)) for p in (options.paths or (".",))]
        enabled = {kind: bool(getattr(config.scripts, kind)) for kind in SCRIPT_KINDS}
        script_projects, script_problems = collect(roots, tree, enabled)
        errors.extend(script_problems)
        for project in script_projects:
            projects.append(project)
            scanned.extend(project.files)
            findings.extend(check_project(project, config))
    findings = _dedupe(findings)
    today = options.today or dt.date.today()
    findings = suppress.apply(findings, config, _source_lines_for(cwd), today, projects)
    report = Report(
        findings=tuple(findings),
        errors=tuple(errors),
        warnings=tuple(warnings),
        fail_on=fail_on,
        command="scan",
        scanned_files=tuple(dict.fromkeys(scanned)),
    )
    return ScanResult(report, tuple(projects), config)


def _source_lines_for(cwd: str) -> Callable[[str], list[str] | None]:
    def lines(display: str) -> list[str] | None:
        return _source_lines(display if os.path.isabs(display) else os.path.join(cwd, display))

    return lines
