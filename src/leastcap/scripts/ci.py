"""CI configs: GitHub Actions workflows and GitLab CI files.

Both are composed with PyYAML (C loader when present) into nodes, never loaded into plain dicts, so
every scalar keeps its marks. A shell string inside YAML (``run: |`` block, a quoted ``options:``)
is rebuilt with each character's file position (``positions.scalar_text``), so a flag deep inside
a block scalar is reported at its own line and column.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from leastcap.model import Located, Location, Problem, Service
from leastcap.scripts.commands import parse_run
from leastcap.scripts.model import (
    REASON_FACT,
    ServiceBuilder,
    parse_volume,
    service_from_invocation,
    unique_names,
    with_via,
)
from leastcap.scripts.positions import scalar_text
from leastcap.scripts.shell import lex
from leastcap.scripts.textfiles import services_in_shell
from leastcap.tree import Tree, TreeError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DIND_REASON = (
    "the {image} service (Docker-in-Docker) only works on a runner that starts its containers "
    "privileged, so every job that uses it runs next to a privileged container"
)

_GITLAB_RESERVED = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services", "before_script",
     "after_script", "cache", "spec", "pages"}
)  # fmt: skip
_GITLAB_SCRIPTS = ("before_script", "script", "after_script")


class CIError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def compose_yaml(text: str, path: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise CIError(Problem(path, f"invalid YAML: {exc.problem}", line, col)) from None
    except yaml.YAMLError as exc:
        raise CIError(Problem(path, f"invalid YAML: {exc}")) from None


def _items(node: yaml.Node | None) -> Iterator[tuple[yaml.ScalarNode, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                yield key, value


def _get(node: yaml.Node | None, name: str) -> yaml.Node | None:
    for key, value in _items(node):
        if key.value == name:
            return value
    return None


def _at(path: str, node: yaml.Node) -> Location:
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def _scalars(node: yaml.Node | None, depth: int = 0) -> Iterator[yaml.ScalarNode]:
    """A scalar, or the scalars of a sequence with GitLab's one level of nesting. Deeper levels are
    not read: with aliases, a few nested sequences can stand for billions of items (an alias bomb)."""
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode) and depth < 2:
        seen: set[int] = set()
        for item in node.value:
            if id(item) not in seen:  # an alias repeated in one list is the same text at the same place
                seen.add(id(item))
                yield from _scalars(item, depth + 1)


def _options_service(
    *,
    opts: yaml.Node | None,
    volumes: yaml.Node | None,
    image: yaml.Node | None,
    name: str,
    kind: str,
    path: str,
    key: Location,
    lines: list[str],
) -> Service | None:
    """A job container or service: its ``options`` are ``docker create`` flags, ``volumes`` are ``-v``.

    A container with neither (just an image) is not a service here: nothing in the file sets its
    privileges, so there is no line a finding could point at or a fix could change.
    """
    has_opts = isinstance(opts, yaml.ScalarNode) and bool(opts.value.strip())
    if not has_opts and not any(True for _ in _scalars(volumes)):
        return None
    b = ServiceBuilder(name, path, key, kind, path)
    if isinstance(opts, yaml.ScalarNode) and has_opts:
        text, pmap = scalar_text(opts, lines)
        words = tuple(w for cmd in lex(text) for w in cmd.words)

        def locate(offset: int) -> Location:
            line, col = pmap.at(offset)
            return Location(path, line, col)

        if words:
            inv = parse_run(words, 0, start=words[0], first=words[0], kind=kind)
            parsed = service_from_invocation(inv, name, path, path, locate)
            for fname in _MODEL_FIELDS:
                value = getattr(parsed, fname)
                if value not in (None, ()):
                    b.fields[fname] = list(value) if isinstance(value, tuple) else value
    for item in _scalars(volumes):
        b.add("volumes", Located(parse_volume(item.value), _at(path, item)))
    if isinstance(image, yaml.ScalarNode) and image.value:
        b.set("image", Located(image.value, _at(path, image)))
    return b.build()


# The Service fields a job container's options can set (everything Located).
_MODEL_FIELDS = (
    "privileged", "cap_add", "cap_drop", "security_opt", "devices", "device_cgroup_rules", "volumes",
    "volumes_from", "pid", "ipc", "network_mode", "userns_mode", "uts", "cgroup", "cgroup_parent",
    "user", "group_add", "read_only", "sysctls", "use_api_socket", "runtime", "ports",
)  # fmt: skip


def github_services(text: str, path: str) -> list[Service]:
    root = compose_yaml(text, path)
    lines = text.split("\n")
    services: list[Service] = []
    for job_key, job in _items(_get(root, "jobs")):
        jid = job_key.value
        container = _get(job, "container")
        if isinstance(container, yaml.MappingNode):
            svc = _options_service(
                opts=_get(container, "options"),
                volumes=_get(container, "volumes"),
                image=_get(container, "image"),
                name=f"{jid}/container",
                kind="github-container",
                path=path,
                key=_key_location(job, "container", path),
                lines=lines,
            )
            if svc is not None:
                services.append(svc)
        for svc_key, svc_node in _items(_get(job, "services")):
            svc = _options_service(
                opts=_get(svc_node, "options"),
                volumes=_get(svc_node, "volumes"),
                image=_get(svc_node, "image"),
                name=f"{jid}/services/{svc_key.value}",
                kind="github-service",
                path=path,
                key=_at(path, svc_key),
                lines=lines,
            )
            if svc is not None:
                services.append(svc)
        steps = _get(job, "steps")
        if isinstance(steps, yaml.SequenceNode):
            for step in steps.value:
                run = _get(step, "run")
                shell = _get(step, "shell")
                if isinstance(shell, yaml.ScalarNode) and shell.value.split()[:1] in (["python"], ["cmd"]):
                    continue
                if isinstance(run, yaml.ScalarNode):
                    body, pmap = scalar_text(run, lines)
                    services.extend(services_in_shell(body, path, positions=pmap, prefix=f"{jid}/"))
    return _dedupe(services)


def _key_location(mapping: yaml.Node | None, name: str, path: str) -> Location:
    for key, _ in _items(mapping):
        if key.value == name:
            return _at(path, key)
    return Location(path)


def _dedupe(services: list[Service]) -> list[Service]:
    from dataclasses import replace

    names = unique_names([s.name for s in services], [s.key.line for s in services])
    return [s if s.name == n else replace(s, name=n) for s, n in zip(services, names, strict=True)]


def is_dind(image: str) -> bool:
    """``docker:dind``, ``docker:24-dind``, ``registry/docker:dind-rootless``, ``docker-dind``..."""
    ref = image.rsplit("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    repo, _, tag = last.partition(":")
    return (repo == "docker" and "dind" in tag) or repo.endswith("dind")


@dataclass(frozen=True, slots=True)
class GitlabFile:
    """A GitLab CI file to read, and the ``include:`` entry that brought it in (if any)."""

    path: str  # absolute
    via: tuple[Location, ...] = ()


def gitlab_services(
    text: str, path: str, via: tuple[Location, ...] = ()
) -> tuple[list[Service], list[tuple[str, Location]]]:
    """Services of one GitLab CI file, and its local includes as (pattern, include entry location)."""
    root = compose_yaml(text, path)
    lines = text.split("\n")
    services: list[Service] = []
    includes: list[tuple[str, Location]] = []
    for key, value in _items(root):
        name = key.value
        if name == "include":
            includes.extend(_local_includes(value, path))
            continue
        if name == "services":
            services.extend(_gitlab_dind(value, "(default)", path))
            continue
        if name in _GITLAB_SCRIPTS:
            services.extend(_gitlab_script(value, "(default)", path, lines))
            continue
        if name == "default" or (name not in _GITLAB_RESERVED and isinstance(value, yaml.MappingNode)):
            job = "(default)" if name == "default" else name
            for part in _GITLAB_SCRIPTS:
                services.extend(_gitlab_script(_get(value, part), job, path, lines))
            services.extend(_gitlab_dind(_get(value, "services"), job, path))
    return [with_via(s, via) for s in _dedupe(services)], includes


def _gitlab_script(node: yaml.Node | None, job: str, path: str, lines: list[str]) -> list[Service]:
    found: list[Service] = []
    for item in _scalars(node):
        body, pmap = scalar_text(item, lines)
        found.extend(services_in_shell(body, path, positions=pmap, prefix=f"{job}/"))
    return found


def _gitlab_dind(node: yaml.Node | None, job: str, path: str) -> list[Service]:
    found: list[Service] = []
    if not isinstance(node, yaml.SequenceNode):
        return found
    for entry in node.value:
        image_node = entry if isinstance(entry, yaml.ScalarNode) else _get(entry, "name")
        if not isinstance(image_node, yaml.ScalarNode) or not is_dind(image_node.value):
            continue
        image = image_node.value
        reason = DIND_REASON.format(image=image)
        at = _at(path, image_node).with_note(reason)
        b = ServiceBuilder(f"{job}/services/{image}", path, _at(path, entry), "gitlab-service", path)
        b.set("image", Located(image, _at(path, image_node)))
        b.set("privileged", Located(True, at))
        b.facts.append((REASON_FACT, reason))
        found.append(b.build())
    return found


def _local_includes(node: yaml.Node, path: str) -> Iterator[tuple[str, Location]]:
    entries = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for entry in entries:
        if isinstance(entry, yaml.ScalarNode):
            if "://" not in entry.value:
                yield entry.value, _at(path, entry)
        elif isinstance(entry, yaml.MappingNode):
            local = _get(entry, "local")
            if isinstance(local, yaml.ScalarNode):
                yield local.value, _at(path, local)


def resolve_include(pattern: str, repo_root: str, tree: Tree) -> list[str]:
    """Local includes are relative to the repository root, with or without a leading ``/``; a
    ``*`` in the last component is a glob over that directory."""
    rel = pattern.lstrip("/")
    full = posixpath.normpath(posixpath.join(repo_root, rel))
    if not full.startswith(repo_root.rstrip("/") + "/"):
        return []  # outside the repository: GitLab refuses it too
    directory, base = posixpath.split(full)
    if "*" in base or "?" in base:
        return [posixpath.join(directory, n) for n in tree.list_dir(directory) if fnmatch.fnmatch(n, base)]
    return [full]


def read_text(tree: Tree, path: str) -> str:
    try:
        data = tree.read_bytes(path)
    except TreeError as exc:
        raise CIError(Problem(tree.display(path), str(exc))) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CIError(Problem(tree.display(path), f"not UTF-8 text (byte {exc.start})")) from None
