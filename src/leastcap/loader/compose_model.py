"""From files to one model, as compose-go's ``loadYamlModel`` does it document by document
(compose-semantics.md §2): parse -> interpolate and cast -> canonicalise -> include -> apply
!reset/!override to what is already merged -> extends -> merge -> de-duplicate; then relative paths
are resolved."""

from __future__ import annotations

import hashlib
import posixpath
import re

from leastcap.loader.canonical import canonical_document
from leastcap.loader.inputs import absolute_path, merge_env, read_env_file
from leastcap.loader.interpolate import InterpolationResult, drop_unit, interpolate_document
from leastcap.loader.merge import MergeError, merge_model, merge_nodes, merge_service
from leastcap.loader.nodes import Mapping, Node, Scalar, Sequence, scalar_text
from leastcap.loader.types import LoadContext, LoadError
from leastcap.loader.yamlload import Document
from leastcap.model import Location

_RESOURCE_SECTIONS = ("services", "volumes", "networks", "secrets", "configs", "models")
MAX_INCLUDE_DEPTH = 32
MAX_INCLUDED_NODES = 500_000


def env_digest(env: dict[str, str]) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    for key in sorted(env):
        h.update(key.encode("utf-8", "surrogatepass") + b"\0" + env[key].encode("utf-8", "surrogatepass") + b"\0")
    return h.digest()


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


def _include_entry_fields(entry: Node) -> tuple[list[str], str | None, list[str] | None]:
    """What one include entry names: its paths, project_directory, and env files (None: the
    default .env)."""
    if isinstance(entry, Scalar):
        return [scalar_text(entry) or ""], None, None
    if not isinstance(entry, Mapping):
        return [], None, None
    raw = entry.items.get("path")
    paths = [scalar_text(p) or "" for p in raw.items] if isinstance(raw, Sequence) else [scalar_text(raw) or ""]
    env_node = entry.items.get("env_file")
    env_files: list[str] | None = None
    if isinstance(env_node, Sequence):
        env_files = [scalar_text(e) or "" for e in env_node.items]
    elif env_node is not None:
        env_files = [scalar_text(env_node) or ""]
    return paths, scalar_text(entry.items.get("project_directory")), env_files


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
                touched = root.items.get("services")
                try:
                    merge_model(accumulated, root)
                except MergeError as exc:
                    raise LoadError(str(exc), display) from None
                if isinstance(touched, Mapping):
                    self._refuse_untyped_volumes(accumulated, list(touched.items))
        assert accumulated is not None
        resolve_relative_paths(accumulated, self.working_dir, self.env.get("HOME"))
        return accumulated

    def _refuse_untyped_volumes(self, model: Mapping, names: list[str]) -> None:
        """compose checks its schema after each document is merged and de-duplicated: a
        long-syntax volume without `type:` that no same-target entry replaced is refused there
        (and left out here, so the rest of the service is still judged)."""
        services = model.items.get("services")
        if not isinstance(services, Mapping):
            return
        for name in names:
            service = services.items.get(name)
            volumes = service.items.get("volumes") if isinstance(service, Mapping) else None
            if not isinstance(volumes, Sequence):
                continue
            kept: list[Node] = []
            for index, item in enumerate(volumes.items):
                if isinstance(item, Mapping) and "type" not in item.items:
                    self.ctx.refuse(
                        f"services.{name}.volumes.{index} must be a string: a long-syntax volume needs `type:` "
                        "(compose refuses the file)",
                        item.loc,
                    )
                    continue
                kept.append(item)
            volumes.items = kept

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
        paths, project_directory, env_files = _include_entry_fields(entry)
        if not paths or not all(paths):
            raise LoadError.at("include: an entry needs a path", entry.loc)
        home = self.env.get("HOME")
        absolute = self._included_files(paths, entry.loc)
        proj_dir = (
            absolute_path(self.working_dir, project_directory, home)
            if project_directory
            else posixpath.dirname(absolute[0])
        )
        env = self._include_env(proj_dir, env_files)
        model = self._load_included(absolute, proj_dir, env, entry.loc).clone()
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
                self._import_resource(section, name, value, local, doc)

    def _included_files(self, paths: list[str], loc: Location) -> tuple[str, ...]:
        """The absolute paths of one include entry, refused on a cycle, a missing file or depth."""
        home = self.env.get("HOME")
        absolute = tuple(absolute_path(self.working_dir, p, home) for p in paths)
        for p in absolute:
            if p in self.chain:
                raise LoadError.at(f"include cycle detected: {self.ctx.tree.display(p)}", loc)
            if not self.ctx.tree.is_file(p):
                raise LoadError.at(f"include: file not found: {self.ctx.tree.display(p)}", loc)
        if len(self.chain) > MAX_INCLUDE_DEPTH:
            raise LoadError.at("include nesting too deep", loc)
        return absolute

    def _include_env(self, proj_dir: str, env_files: list[str] | None) -> dict[str, str]:
        """The included model's environment: this one's, plus its env files (the default .env of
        its project directory when it names none)."""
        env = dict(self.env)
        if env_files is None:
            default = posixpath.join(proj_dir, ".env")
            env_files = [default] if self.ctx.tree.is_file(default) else []
        else:
            home = self.env.get("HOME")
            env_files = [absolute_path(self.working_dir, f, home) for f in env_files if f != "/dev/null"]
        for env_file in env_files:
            # The parent's environment wins over the include's env_file.
            merge_env(env, read_env_file(self.ctx, env_file, env))
        return env

    def _load_included(self, absolute: tuple[str, ...], proj_dir: str, env: dict[str, str], loc: Location) -> Mapping:
        """A file included along many paths (a diamond, or a lattice of them) is loaded once per
        project and environment; the caller clones the shared model."""
        key = (absolute, proj_dir, env_digest(env))
        loaded = self.ctx.included.get(key)
        if loaded is None:
            loader = ModelLoader(self.ctx, env, proj_dir, (*self.chain, *absolute))
            loaded = loader.load(absolute)
            if loaded.count() > MAX_INCLUDED_NODES:
                # A lattice of includes that each merge two differing copies of one service
                # doubles its lists at every level.
                raise LoadError.at(
                    f"the included model has more than {MAX_INCLUDED_NODES} nodes (an include lattice?)", loc
                )
            self.ctx.included[key] = loaded
        return loaded

    def _import_resource(self, section: str, name: str, value: Node, local: Mapping, doc: Document) -> None:
        """One imported service, volume, ...: added, or merged under a local one of that name."""
        existing = local.items.get(name)
        if existing is None:
            local.items[name] = value
            if section == "services":
                self.included_services.add(name)
            return
        if value.plain() == existing.plain():
            return  # the same definition reached along two include paths: nothing to merge
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


def _extends_reference(name: str, extends: Node) -> tuple[str, str | None]:
    """The base service and file of ``extends:`` (a mapping, or the bare service name)."""
    loc = extends.where
    if isinstance(extends, Mapping):
        base_name = scalar_text(extends.items.get("service"))
        if not base_name:
            raise LoadError.at(f"extends.{name}.service is required", loc)
        return base_name, scalar_text(extends.items.get("file"))
    base_name = scalar_text(extends)
    if not base_name:
        raise LoadError.at(f"extends.{name}: invalid value", loc)
    return base_name, None


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
        base_name, file = _extends_reference(name, extends)
        base = self._from_file(file, base_name, loc) if file else self._local_base(name, base_name, loc, stack)
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

    def _local_base(self, name: str, base_name: str, loc: Location, stack: tuple[str, ...]) -> Mapping:
        """The service ``name`` extends in the same file, itself resolved first."""
        if not isinstance(self.services.items.get(base_name), Mapping):
            raise LoadError.at(f'cannot extend service "{name}" in {loc.path}: service "{base_name}" not found', loc)
        if base_name in self.loader.included_services:
            # Newer compose-go applies include before extends; docker compose 2.40 does not.
            self.loader.ctx.warn(
                f'service "{name}" extends "{base_name}", which comes from an include: docker compose '
                "before 2.41 refuses this (service not found); newer versions load it",
                loc,
            )
        return self.resolve(base_name, (*stack, name))

    def _from_file(self, file: str, base_name: str, loc: Location) -> Mapping:
        ctx = self.loader.ctx
        path = absolute_path(self.working_dir, file, self.loader.env.get("HOME"))
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
    services = model.items.get("services")
    if isinstance(services, Mapping):
        for service in services.items.values():
            if isinstance(service, Mapping):
                _resolve_service_paths(service, working_dir, home)
    for section in ("secrets", "configs"):
        entries = model.items.get(section)
        if isinstance(entries, Mapping):
            for entry in entries.items.values():
                if isinstance(entry, Mapping):
                    _resolve_path(entry.items.get("file"), working_dir, home)
    volumes = model.items.get("volumes")
    if isinstance(volumes, Mapping):
        for volume in volumes.items.values():
            if isinstance(volume, Mapping):
                opts = volume.items.get("driver_opts")
                if isinstance(opts, Mapping) and "bind" in (scalar_text(opts.items.get("o")) or "").split(","):
                    _resolve_path(opts.items.get("device"), working_dir, home)


def _resolve_service_paths(service: Mapping, working_dir: str, home: str | None) -> None:
    """A service's bind sources, local build context and env files."""
    volumes = service.items.get("volumes")
    if isinstance(volumes, Sequence):
        for volume in volumes.items:
            if isinstance(volume, Mapping) and scalar_text(volume.items.get("type")) == "bind":
                _resolve_path(volume.items.get("source"), working_dir, home)
    build = service.items.get("build")
    if isinstance(build, Mapping):
        context = scalar_text(build.items.get("context"))
        if context is not None and not re.match(r"^(https?://|git@|github\.com/)", context) and "://" not in context:
            _resolve_path(build.items.get("context"), working_dir, home)
    env_file = service.items.get("env_file")
    if isinstance(env_file, Sequence):
        for item in env_file.items:
            _resolve_path(item.items.get("path") if isinstance(item, Mapping) else item, working_dir, home)


def _resolve_path(node: Node | None, working_dir: str, home: str | None) -> None:
    """A relative path string made absolute against working_dir, ``~`` against home (in place)."""
    if isinstance(node, Scalar) and isinstance(node.value, str) and node.value:
        value = node.value
        if value.startswith("~"):
            if home:
                node.value = home + value[1:]
        elif not value.startswith("/") and not re.match(r"^[a-z][a-z0-9+.-]*://|^[A-Za-z]:[\\/]|^\\\\", value):
            # compose-go's paths.isAbs also takes Windows paths (C:\x, \\server) as absolute.
            node.value = posixpath.normpath(posixpath.join(working_dir, value))
