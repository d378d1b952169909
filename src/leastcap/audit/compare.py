"""``--drift``: load the Compose files a container came from and pair each container with its
Compose service; the pipeline runs the comparison rules (``drift.DriftRule``) on the pairs.

Containers of one Compose project that share the same files, working directory and env files load
the project once. Files that are not readable on this machine (the container lives on a remote
host, or the checkout moved) give a warning, never an error: drift is then unknown, not absent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from leastcap.audit.mapping import AuditedContainer, ComposeLabels, group_projects
from leastcap.model import Problem, Project
from leastcap.rules.base import Comparison

GroupKey = tuple[str, tuple[str, ...], str, tuple[str, ...]]


def _key(labels: ComposeLabels) -> GroupKey:
    return (labels.project, labels.config_files, labels.working_dir, labels.environment_files)


def _load(key: GroupKey, environ: Mapping[str, str]) -> tuple[Project | None, str]:
    """The effective project, or why it could not be loaded."""
    project, files, working_dir, env_files = key
    if not files:
        return None, "the container's labels name no Compose file"
    unreadable = [f for f in files if not os.access(f, os.R_OK)]
    if unreadable:
        return None, f"Compose file not readable on this machine: {', '.join(unreadable)}"
    from leastcap.loader.api import LoadOptions, load_project

    options = LoadOptions(
        working_dir=working_dir or os.path.dirname(files[0]),
        files=files,
        env_files=tuple(f for f in env_files if os.access(f, os.R_OK)),
        environ=dict(environ),
        project_name=project,
    )
    result = load_project(options)
    if result.project is None:
        detail = "; ".join(p.message for p in result.errors) or "unknown error"
        return None, f"cannot load the Compose files {', '.join(files)}: {detail}"
    return result.project, ""


def pair_containers(
    containers: list[AuditedContainer], environ: Mapping[str, str]
) -> tuple[list[Comparison], list[Problem], list[str]]:
    """Each container with what its Compose files declare (see ``Comparison``); a container whose
    files cannot be loaded here is left out with a warning: its drift is unknown, not absent."""
    loaded: dict[GroupKey, tuple[Project | None, str]] = {}
    pairs: list[Comparison] = []
    warnings: list[Problem] = []
    files: list[str] = []
    projects = {c.location.path: p for p in group_projects(containers) for c in containers if c.service in p.services}
    for container in containers:
        svc, project = container.service, projects[container.location.path]
        labels = container.compose
        if labels is None:
            pairs.append(Comparison(svc, project, None))
            continue
        key = _key(labels)
        if key not in loaded:
            loaded[key] = _load(key, environ)
            files.extend(f for f in labels.config_files if f not in files)
        declared_project, why = loaded[key]
        if declared_project is None:
            warnings.append(Problem(svc.key.path, f"drift not checked: {why}"))
            continue
        try:
            declared = declared_project.service(labels.service)
        except KeyError:
            pairs.append(Comparison(svc, project, None, labels.config_files))
            continue
        newest = max((_mtime(f) for f in labels.config_files), default=None)
        pairs.append(Comparison(svc, project, declared, labels.config_files, container.created, newest))
    return pairs, warnings, files


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
