"""The load pipeline: environment, files, documents, include, reset, extends, merge.

It follows compose-go's ``loadYamlModel`` document by document (compose-semantics.md §2):
parse -> interpolate and cast -> canonicalise -> include -> apply !reset/!override to what is
already merged -> extends -> merge -> de-duplicate. Then relative paths are resolved and the
privilege model is extracted.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from leastcap.loader.api import LoadError, LoadOptions, LoadResult
from leastcap.loader.canonical import canonical_document, canonical_service
from leastcap.loader.dotenv import DotenvError, parse_dotenv
from leastcap.loader.interpolate import InterpolationResult, drop_unit, interpolate_document
from leastcap.loader.merge import MergeError, merge_model, merge_nodes, merge_service
from leastcap.loader.nodes import Mapping, Node, Scalar, Sequence, scalar_text
from leastcap.loader.yamlload import Document, YamlError, parse_documents
from leastcap.model import Location, Problem
from leastcap.tree import Tree, TreeError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_RESOURCE_SECTIONS = ("services", "volumes", "networks", "secrets", "configs", "models")
MAX_INCLUDE_DEPTH = 32
# Alias-created nodes over every file of one project (each file alone is bounded by the parser):
# many includes or -f files each just under the per-file limit are still one bomb.
MAX_PROJECT_ALIAS_NODES = 1_000_000
MAX_INCLUDED_NODES = 500_000


@dataclass
class LoadContext:
    tree: Tree
    cache: dict[bytes, Any] | None
    warnings: list[Problem] = field(default_factory=list)
    # Values compose refuses for a reason local to them (a long-syntax volume without `type:`, a
    # bad cast on one service): errors, but the rest of the project is still loaded and judged.
    refusals: list[Problem] = field(default_factory=list)
    alias_nodes: int = 0
    # Included models already loaded: (files, project directory, environment) -> model.
    included: dict[tuple[tuple[str, ...], str, frozenset[tuple[str, str]]], Mapping] = field(default_factory=dict)
    _seen_warnings: set[Problem] = field(default_factory=set)

    def warn(self, message: str, loc: Location | None = None, path: str = "") -> None:
        problem = Problem(loc.path if loc else path, message, loc.line if loc else 0, loc.column if loc else 0)
        # A set beside the list: a project with tens of thousands of warnings stays linear.
        if problem not in self._seen_warnings:
            self._seen_warnings.add(problem)
            self.warnings.append(problem)

    def refuse(self, message: str, loc: Location) -> None:
        problem = Problem(loc.path, message, loc.line, loc.column)
        if problem not in self.refusals:
            self.refusals.append(problem)

    def read_documents(self, path: str) -> list[Document]:
        docs = self._read_documents(path)
        self.alias_nodes += sum(doc.alias_nodes for doc in docs)
        if self.alias_nodes > MAX_PROJECT_ALIAS_NODES:
            raise LoadError(
                f"aliases in the project's files expand to more than {MAX_PROJECT_ALIAS_NODES} nodes "
                "(a YAML alias bomb?); refusing to expand",
                self.tree.display(path),
            )
        return docs

    def _read_documents(self, path: str) -> list[Document]:
        display = self.tree.display(path)
        try:
            data = self.tree.read_bytes(path)
        except TreeError as exc:
            raise LoadError(str(exc), display) from None
        if b"\0" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise LoadError("binary file (NUL bytes), not YAML", display)
        key = b""
        if self.cache is not None:
            key = hashlib.blake2b(data, digest_size=20).digest() + display.encode("utf-8", "surrogatepass")
            if key in self.cache:
                cached: list[Document] = self.cache[key]
                return [_clone_document(doc) for doc in cached]
        try:
            docs = parse_documents(data, display)
        except YamlError as exc:
            raise LoadError(exc.message, display, exc.line, exc.column) from None
        if self.cache is not None:
            self.cache[key] = docs
            return [_clone_document(doc) for doc in docs]
        return docs


def _clone_document(doc: Document) -> Document:
    return Document(
        doc.root.clone() if doc.root is not None else None,
        list(doc.reset_paths),
        list(doc.override_paths),
        doc.has_dollar,
        doc.alias_nodes,
    )


# --------------------------------------------------------------------------- environment and files


@dataclass(frozen=True)
class Inputs:
    env: dict[str, str]
    files: tuple[str, ...]
    project_dir: str
    profiles: tuple[str, ...]
    env_files: tuple[str, ...]


def _abs(base: str, path: str, home: str | None = None) -> str:
    if path.startswith("~") and home:
        path = home + path[1:]
    return posixpath.normpath(posixpath.join(base, path))


def _read_env_file(ctx: LoadContext, path: str, outer: dict[str, str]) -> dict[str, str]:
    display = ctx.tree.display(path)
    try:
        text = ctx.tree.read_bytes(path).decode("utf-8", errors="replace")
    except TreeError as exc:
        raise LoadError(f"couldn't read env file: {exc}", display) from None
    try:
        return parse_dotenv(text, outer.get)
    except DotenvError as exc:
        raise LoadError(f"failed to read {display}: {exc}", display) from None


def _merge_env(env: dict[str, str], values: dict[str, str]) -> None:
    for key, value in values.items():
        env.setdefault(key, value)


def _is_true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "t", "yes")


def find_default_files(tree: Tree, start: str) -> list[str]:
    """WithDefaultConfigPath: the first main file and first override file, walking up."""
    directory = start
    while True:
        names = [n for n in DEFAULT_FILES if tree.is_file(posixpath.join(directory, n))]
        if names:
            files = [posixpath.join(directory, names[0])]
            overrides = [n for n in DEFAULT_OVERRIDES if tree.is_file(posixpath.join(directory, n))]
            if overrides:
                files.append(posixpath.join(directory, overrides[0]))
            return files
        parent = posixpath.dirname(directory)
        if parent == directory:
            return []
        directory = parent


def resolve_inputs(options: LoadOptions, ctx: LoadContext) -> Inputs:
    tree = ctx.tree
    cwd = options.working_dir
    environ = dict(options.environ)
    environ.setdefault("PWD", cwd)  # docker compose sets PWD when the shell did not
    home = environ.get("HOME")
    start = _abs(cwd, options.project_directory, home) if options.project_directory else cwd
    env_files = [_abs(cwd, f, home) for f in options.env_files]
    if not env_files and environ.get("COMPOSE_ENV_FILES"):
        env_files = [_abs(cwd, f.strip(), home) for f in environ["COMPOSE_ENV_FILES"].split(",") if f.strip()]
    explicit_env = bool(env_files)
    if not env_files and not _is_true(environ.get("COMPOSE_DISABLE_ENV_FILE")):
        default = posixpath.join(start, ".env")
        if tree.is_file(default):
            env_files = [default]
    dotenv: dict[str, str] = {}
    for path in env_files:
        lookup = {**dotenv, **environ}
        dotenv.update(_read_env_file(ctx, path, lookup))
    env = dict(environ)
    _merge_env(env, dotenv)

    files = list(options.files)
    if not files and env.get("COMPOSE_FILE"):
        separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        for entry in env["COMPOSE_FILE"].split(separator):
            if not entry:
                continue
            path = _abs(cwd, entry, home)
            if not tree.is_file(path):
                raise LoadError(f"COMPOSE_FILE entry not found: {entry}", tree.display(path))
            files.append(path)
    if not files:
        files = find_default_files(tree, start)
    if not files:
        raise LoadError("no configuration file provided: not found", tree.display(start))
    project_dir = start if options.project_directory else posixpath.dirname(files[0])
    if not explicit_env and project_dir != start and not _is_true(environ.get("COMPOSE_DISABLE_ENV_FILE")):
        later = posixpath.join(project_dir, ".env")
        if tree.is_file(later) and later not in env_files:
            _merge_env(env, _read_env_file(ctx, later, env))
            env_files.append(later)
    profiles = tuple(options.profiles)
    if not profiles and env.get("COMPOSE_PROFILES"):
        profiles = tuple(p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip())
    return Inputs(env, tuple(files), project_dir, profiles, tuple(env_files))


# --------------------------------------------------------------------------- the model


def _delete_path(root: Mapping, path: tuple[str, ...]) -> None:
    node: Node | None = root
    for part in path[:-1]:
        if not isinstance(node, Mapping):
            return
        node = node.items.get(part)
    if isinstance(node, Mapping) and path:
        node.items.pop(path[-1], None)
    elif isinstance(node, Sequence) and path:
        # The merged model holds environment/labels/sysctls as "K=V" sequences, while the reset
        # path names the mapping key (`sysctls: {net.ipv4.ip_forward: !reset}`): drop entry K.
        node.items = [i for i in node.items if (scalar_text(i) or "").partition("=")[0] != path[-1]]


def add_via(node: Node, loc: Location) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        current.via = (*current.via, loc)
        if isinstance(current, Mapping):
            stack.extend(current.items.values())
        elif isinstance(current, Sequence):
            stack.extend(current.items)


class ModelLoader:
    """Loads one model (the project, or an included one) from its files."""

    def __init__(self, ctx: LoadContext, env: dict[str, str], working_dir: str, chain: tuple[str, ...]) -> None:
        self.ctx = ctx
        self.env = env
        self.working_dir = working_dir
        self.chain = chain
        # Services the current document imported through include (for the extends warning).
        self.included_services: set[str] = set()

    def load(self, files: tuple[str, ...]) -> Mapping:
        accumulated: Mapping | None = None
        for path in files:
            docs = self.ctx.read_documents(path)
            display = self.ctx.tree.display(path)
            if not any(d.root is not None for d in docs):
                raise LoadError("empty compose file", display)
            for doc in docs:
                if doc.root is None:
                    continue
                if not isinstance(doc.root, Mapping):
                    raise LoadError(
                        "top-level object must be a mapping", display, doc.root.loc.line, doc.root.loc.column
                    )
                root = doc.root
                self._interpolate(root, doc.has_dollar)
                canonical_document(root, self.ctx.refuse)
                self.included_services = set()
                self._include(root, doc, path)
                if accumulated is not None:
                    for reset in (*doc.reset_paths, *doc.override_paths):
                        _delete_path(accumulated, reset)
                self._extends(root, doc, path)
                if accumulated is None:
                    accumulated = Mapping(root.loc)
                try:
                    merge_model(accumulated, root)
                except MergeError as exc:
                    raise LoadError(str(exc), display) from None
        assert accumulated is not None
        resolve_relative_paths(accumulated, self.working_dir, self.env.get("HOME"))
        return accumulated

    def _interpolate(self, root: Mapping, has_dollar: bool = True) -> None:
        result = InterpolationResult()
        interpolate_document(root, self.env.get, result, has_dollar)
        for issue in result.issues:
            if issue.fatal:
                if issue.unit is None:
                    raise LoadError.at(issue.message, issue.loc)
                self.ctx.refuse(issue.message, issue.loc)
                drop_unit(issue.unit)
                continue
            self.ctx.warn(f"compose would refuse this: {issue.message}", issue.loc)
        for text, loc in result.legacy_bools:
            # compose prints the same warning; the value still counts as a boolean.
            self.ctx.warn(f'"{text}" for boolean is not supported by YAML 1.2, please use `true`/`false`', loc)

    # ---------------------------------------------------------------- include

    def _include(self, root: Mapping, doc: Document, path: str) -> None:
        include = root.items.pop("include", None)
        if include is None:
            return
        entries = include.items if isinstance(include, Sequence) else [include]
        for entry in entries:
            self._include_one(root, doc, entry)

    def _include_one(self, root: Mapping, doc: Document, entry: Node) -> None:
        home = self.env.get("HOME")
        paths: list[str] = []
        project_directory: str | None = None
        env_files: list[str] | None = None
        if isinstance(entry, Scalar):
            paths = [scalar_text(entry) or ""]
        elif isinstance(entry, Mapping):
            raw = entry.items.get("path")
            paths = [scalar_text(p) or "" for p in raw.items] if isinstance(raw, Sequence) else [scalar_text(raw) or ""]
            project_directory = scalar_text(entry.items.get("project_directory"))
            env_node = entry.items.get("env_file")
            if isinstance(env_node, Sequence):
                env_files = [scalar_text(e) or "" for e in env_node.items]
            elif env_node is not None:
                env_files = [scalar_text(env_node) or ""]
        if not paths or not all(paths):
            raise LoadError.at("include: an entry needs a path", entry.loc)
        absolute = tuple(_abs(self.working_dir, p, home) for p in paths)
        for p in absolute:
            if p in self.chain:
                raise LoadError.at(f"include cycle detected: {self.ctx.tree.display(p)}", entry.loc)
            if not self.ctx.tree.is_file(p):
                raise LoadError.at(f"include: file not found: {self.ctx.tree.display(p)}", entry.loc)
        if len(self.chain) > MAX_INCLUDE_DEPTH:
            raise LoadError.at("include nesting too deep", entry.loc)
        proj_dir = (
            _abs(self.working_dir, project_directory, home) if project_directory else posixpath.dirname(absolute[0])
        )
        env = dict(self.env)
        if env_files is None:
            default = posixpath.join(proj_dir, ".env")
            env_files = [default] if self.ctx.tree.is_file(default) else []
        else:
            env_files = [_abs(self.working_dir, f, home) for f in env_files if f != "/dev/null"]
        for env_file in env_files:
            # The parent's environment wins over the include's env_file.
            _merge_env(env, _read_env_file(self.ctx, env_file, env))
        # A file included along many paths (a diamond, or a lattice of them) is loaded once per
        # project and environment; every later include gets a copy of that model.
        key = (absolute, proj_dir, frozenset(env.items()))
        loaded = self.ctx.included.get(key)
        if loaded is None:
            loader = ModelLoader(self.ctx, env, proj_dir, (*self.chain, *absolute))
            loaded = loader.load(absolute)
            if loaded.count() > MAX_INCLUDED_NODES:
                # A lattice of includes that each merge two differing copies of one service
                # doubles its lists at every level.
                raise LoadError.at(
                    f"the included model has more than {MAX_INCLUDED_NODES} nodes (an include lattice?)", entry.loc
                )
            self.ctx.included[key] = loaded
        model = loaded.clone()
        add_via(model, entry.loc.with_note("include"))
        for section in _RESOURCE_SECTIONS:
            imported = model.items.get(section)
            if not isinstance(imported, Mapping):
                continue
            local = root.items.get(section)
            if not isinstance(local, Mapping):
                local = Mapping(imported.loc)
                root.items[section] = local
            for name, value in imported.items.items():
                existing = local.items.get(name)
                if existing is None:
                    local.items[name] = value
                    if section == "services":
                        self.included_services.add(name)
                    continue
                if value.plain() == existing.plain():
                    continue  # the same definition reached along two include paths: nothing to merge
                # compose-go >= 2.10 merges the local definition over the imported one (what
                # leastcap does); docker compose 2.40 refuses the project instead.
                self.ctx.warn(
                    f"{section}.{name} conflicts with imported resource "
                    "(docker compose before 2.41 refuses this; newer versions merge it)",
                    existing.where,
                )
                for reset in (*doc.reset_paths, *doc.override_paths):
                    if reset[:2] == (section, name) and len(reset) > 2 and isinstance(value, Mapping):
                        _delete_path(value, reset[2:])
                if section == "services" and isinstance(value, Mapping) and isinstance(existing, Mapping):
                    merged = merge_service(value, existing)
                    merged.key_loc, merged.loc, merged.via = existing.key_loc, existing.loc, existing.via
                    local.items[name] = merged
                else:
                    merged_node = merge_nodes(value, existing)
                    if merged_node is not None:
                        local.items[name] = merged_node

    # ---------------------------------------------------------------- extends

    def _extends(self, root: Mapping, doc: Document, path: str) -> None:
        services = root.items.get("services")
        if not isinstance(services, Mapping):
            return
        if not any(isinstance(s, Mapping) and "extends" in s.items for s in services.items.values()):
            return
        resolver = ExtendsResolver(self, services, doc, self.working_dir, ((path, ""),))
        for name in list(services.items):
            resolver.resolve(name, ())


class ExtendsResolver:
    def __init__(
        self,
        loader: ModelLoader,
        services: Mapping,
        doc: Document | None,
        working_dir: str,
        file_chain: tuple[tuple[str, str], ...],
    ) -> None:
        self.loader = loader
        self.services = services
        self.doc = doc
        self.working_dir = working_dir
        self.file_chain = file_chain
        self.done: set[str] = set()

    def resolve(self, name: str, stack: tuple[str, ...]) -> Mapping:
        service = self.services.items.get(name)
        if not isinstance(service, Mapping):
            raise LoadError(f'service "{name}" not found')
        if name in self.done or "extends" not in service.items:
            self.done.add(name)
            return service
        if name in stack:
            loc = service.items["extends"].where
            chain = " -> ".join((*stack, name))
            raise LoadError.at(f"Circular reference: {chain}", loc)
        extends = service.items["extends"]
        loc = extends.where
        base_name: str | None
        file: str | None = None
        if isinstance(extends, Mapping):
            base_name = scalar_text(extends.items.get("service"))
            file = scalar_text(extends.items.get("file"))
            if not base_name:
                raise LoadError.at(f"extends.{name}.service is required", loc)
        else:
            base_name = scalar_text(extends)
            if not base_name:
                raise LoadError.at(f"extends.{name}: invalid value", loc)
        if file:
            base = self._from_file(file, base_name, loc)
        else:
            if not isinstance(self.services.items.get(base_name), Mapping):
                raise LoadError.at(
                    f'cannot extend service "{name}" in {loc.path}: service "{base_name}" not found', loc
                )
            if base_name in self.loader.included_services:
                # Newer compose-go applies include before extends; docker compose 2.40 does not.
                self.loader.ctx.warn(
                    f'service "{name}" extends "{base_name}", which comes from an include: docker compose '
                    "before 2.41 refuses this (service not found); newer versions load it",
                    loc,
                )
            base = self.resolve(base_name, (*stack, name))
        base_clone = base.clone()
        add_via(base_clone, loc.with_note(f"extends: {base_name}"))
        if self.doc is not None:
            for reset in (*self.doc.reset_paths, *self.doc.override_paths):
                if reset[:2] == ("services", name) and len(reset) > 2:
                    _delete_path(base_clone, reset[2:])
        service.items.pop("extends")
        merged = merge_service(base_clone, service)
        merged.key_loc, merged.loc, merged.via = service.key_loc, service.loc, service.via
        self.services.items[name] = merged
        self.done.add(name)
        return merged

    def _from_file(self, file: str, base_name: str, loc: Location) -> Mapping:
        ctx = self.loader.ctx
        path = _abs(self.working_dir, file, self.loader.env.get("HOME"))
        key = (path, base_name)
        if key in self.file_chain:
            raise LoadError.at(f"Circular reference: extends {file} service {base_name}", loc)
        if not ctx.tree.is_file(path):
            raise LoadError.at(f"extends: file not found: {ctx.tree.display(path)}", loc)
        docs = ctx.read_documents(path)
        services: Mapping | None = None
        for doc in docs:
            if isinstance(doc.root, Mapping):
                self.loader._interpolate(doc.root, doc.has_dollar)
                canonical_document(doc.root, ctx.refuse)
                found = doc.root.items.get("services")
                if isinstance(found, Mapping):
                    if services is None:
                        services = found
                    else:
                        for n, s in found.items.items():
                            current = services.items.get(n)
                            if isinstance(current, Mapping) and isinstance(s, Mapping):
                                merge_service(current, s)
                            else:
                                services.items[n] = s
        if services is None or not isinstance(services.items.get(base_name), Mapping):
            raise LoadError.at(f'cannot extend service "{base_name}": not found in {ctx.tree.display(path)}', loc)
        directory = posixpath.dirname(path)
        resolver = ExtendsResolver(self.loader, services, None, directory, (*self.file_chain, key))
        base = resolver.resolve(base_name, ())
        # Relative paths in an extended file are relative to that file.
        wrapper = Mapping(base.loc)
        holder = Mapping(base.loc)
        holder.items[base_name] = base
        wrapper.items["services"] = holder
        resolve_relative_paths(wrapper, directory, self.loader.env.get("HOME"))
        return base


def resolve_relative_paths(model: Mapping, working_dir: str, home: str | None) -> None:
    """paths/resolve.go: bind sources, build contexts, env_file, secrets/configs files, local binds."""

    def fix(node: Node | None) -> None:
        if isinstance(node, Scalar) and isinstance(node.value, str) and node.value:
            value = node.value
            if value.startswith("~"):
                if home:
                    node.value = home + value[1:]
            elif not value.startswith("/") and not re.match(r"^[a-z][a-z0-9+.-]*://|^[A-Za-z]:[\\/]|^\\\\", value):
                # compose-go's paths.isAbs also takes Windows paths (C:\x, \\server) as absolute.
                node.value = posixpath.normpath(posixpath.join(working_dir, value))

    services = model.items.get("services")
    if isinstance(services, Mapping):
        for service in services.items.values():
            if not isinstance(service, Mapping):
                continue
            volumes = service.items.get("volumes")
            if isinstance(volumes, Sequence):
                for volume in volumes.items:
                    if isinstance(volume, Mapping) and scalar_text(volume.items.get("type")) == "bind":
                        fix(volume.items.get("source"))
            build = service.items.get("build")
            if isinstance(build, Mapping):
                context = scalar_text(build.items.get("context"))
                if (
                    context is not None
                    and not re.match(r"^(https?://|git@|github\.com/)", context)
                    and "://" not in context
                ):
                    fix(build.items.get("context"))
            env_file = service.items.get("env_file")
            if isinstance(env_file, Sequence):
                for item in env_file.items:
                    fix(item.items.get("path") if isinstance(item, Mapping) else item)
    for section in ("secrets", "configs"):
        entries = model.items.get(section)
        if isinstance(entries, Mapping):
            for entry in entries.items.values():
                if isinstance(entry, Mapping):
                    fix(entry.items.get("file"))
    volumes = model.items.get("volumes")
    if isinstance(volumes, Mapping):
        for volume in volumes.items.values():
            if isinstance(volume, Mapping):
                opts = volume.items.get("driver_opts")
                if isinstance(opts, Mapping) and "bind" in (scalar_text(opts.items.get("o")) or "").split(","):
                    fix(opts.items.get("device"))


# --------------------------------------------------------------------------- entry point


def normalize_project_name(name: str) -> str:
    return re.sub(r"^[^a-z0-9]+", "", re.sub(r"[^a-z0-9_-]", "", name.lower()))


def load(
    options: LoadOptions,
    tree: Tree,
    cache: dict[bytes, Any] | None = None,
    *,
    effective: bool = True,
    partial: bool = False,
) -> LoadResult:
    from leastcap.loader.effective import effective_json
    from leastcap.loader.extract import build_project
    from leastcap.loader.validate import validate

    ctx = LoadContext(tree, cache)
    try:
        inputs = resolve_inputs(options, ctx)
        loader = ModelLoader(ctx, inputs.env, inputs.project_dir, inputs.files)
        model = loader.load(inputs.files)
        name = options.project_name or inputs.env.get("COMPOSE_PROJECT_NAME") or scalar_text(model.items.get("name"))
        name = normalize_project_name(name or posixpath.basename(inputs.project_dir)) or "default"
        validate(model, ctx, inputs)
        project = build_project(model, name, inputs, ctx)
        # compose prints no effective config for a project it refuses.
        config_json = effective_json(model, name) if effective and not ctx.refusals else None
    except LoadError as exc:
        return LoadResult(None, None, (*ctx.refusals, exc.problem()), tuple(ctx.warnings))
    except RecursionError:
        return LoadResult(
            None,
            None,
            (Problem(tree.display(options.working_dir), "input nested too deeply to load"),),
            tuple(ctx.warnings),
        )
    if ctx.refusals and not partial:
        return LoadResult(None, None, tuple(ctx.refusals), tuple(ctx.warnings))
    return LoadResult(project, config_json, tuple(ctx.refusals), tuple(ctx.warnings))


__all__ = ["LoadContext", "ModelLoader", "canonical_service", "find_default_files", "load", "resolve_inputs"]
