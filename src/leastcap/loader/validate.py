"""Compose's objections that do not change what a file grants: reported as warnings.

CI checkouts often lack env files or secrets, override layers are incomplete alone, and a layer
may have no image. ``docker compose`` refuses such projects; a security scan must not go blind on
them, so leastcap scans them and passes compose's objection on as a warning.

An undefined network is the files' own mistake wherever they are checked out: an error (exit 2),
reported beside the project's findings rather than instead of them.
"""

from __future__ import annotations

from leastcap.loader.nodes import Mapping, Sequence, scalar_text
from leastcap.loader.types import Inputs, LoadContext

_UNIQUE = ("security_opt", "device_cgroup_rules", "group_add", "volumes_from", "cap_add", "cap_drop")


def validate(model: Mapping, ctx: LoadContext, inputs: Inputs) -> None:
    services = model.items.get("services")
    if not isinstance(services, Mapping):
        return
    top_volumes = model.items.get("volumes")
    defined_volumes = set(top_volumes.items) if isinstance(top_volumes, Mapping) else set()
    top_networks = model.items.get("networks")
    defined_networks = {"default", *(top_networks.items if isinstance(top_networks, Mapping) else ())}
    container_names: dict[str, str] = {}
    for name, service in services.items.items():
        if not isinstance(service, Mapping):
            continue
        _check_image_or_build(name, service, ctx)
        _check_networks_defined(name, service, defined_networks, ctx)
        _check_container_name_unique(name, service, container_names, ctx)
        _check_volumes_defined(name, service, defined_volumes, ctx)
        _check_env_files_exist(service, ctx)
        _check_unique_items(name, service, ctx)
        _check_dependencies_defined(name, service, services, ctx)
    _depends_on_cycles(services, ctx)


def _check_image_or_build(name: str, service: Mapping, ctx: LoadContext) -> None:
    if not scalar_text(service.items.get("image")) and "build" not in service.items:
        ctx.warn(
            f'service "{name}" has neither an image nor a build context specified (compose refuses to run it)',
            service.key_loc or service.loc,
        )


def _check_networks_defined(name: str, service: Mapping, defined: set[str], ctx: LoadContext) -> None:
    """An undefined network is the files' own mistake: refused (an error), not a warning."""
    networks = service.items.get("networks")
    network_names = (
        networks.items
        if isinstance(networks, Mapping)
        else [scalar_text(n) or "" for n in networks.items]
        if isinstance(networks, Sequence)
        else ()
    )
    for network in network_names:
        if network not in defined:
            ctx.refuse(
                f'service "{name}" refers to undefined network {network}: invalid compose project',
                service.key_loc or service.loc,
            )


def _check_container_name_unique(
    name: str, service: Mapping, container_names: dict[str, str], ctx: LoadContext
) -> None:
    """``container_names`` maps each name already seen to the first service that took it."""
    container_name = scalar_text(service.items.get("container_name"))
    if not container_name:
        return
    if container_name in container_names:
        ctx.warn(
            f'services.{name}: container name "{container_name}" is already in use by service '
            f'"{container_names[container_name]}" (compose refuses the project)',
            service.key_loc or service.loc,
        )
    container_names.setdefault(container_name, name)


def _check_volumes_defined(name: str, service: Mapping, defined: set[str], ctx: LoadContext) -> None:
    volumes = service.items.get("volumes")
    if not isinstance(volumes, Sequence):
        return
    for volume in volumes.items:
        if isinstance(volume, Mapping) and scalar_text(volume.items.get("type")) == "volume":
            source = scalar_text(volume.items.get("source"))
            if source and source not in defined:
                ctx.warn(
                    f'service "{name}" refers to undefined volume {source} (compose refuses the project)',
                    volume.loc,
                )


def _check_env_files_exist(service: Mapping, ctx: LoadContext) -> None:
    env_files = service.items.get("env_file")
    if not isinstance(env_files, Sequence):
        return
    for item in env_files.items:
        path = scalar_text(item.items.get("path")) if isinstance(item, Mapping) else scalar_text(item)
        required = not (isinstance(item, Mapping) and scalar_text(item.items.get("required")) == "false")
        if path and required and not ctx.tree.is_file(path):
            ctx.warn(f"env file {ctx.tree.display(path)} not found (compose refuses the project)", item.loc)


def _check_unique_items(name: str, service: Mapping, ctx: LoadContext) -> None:
    """The lists compose's schema declares uniqueItems: a repeated entry is warned at the repeat."""
    for key in _UNIQUE:
        node = service.items.get(key)
        if not isinstance(node, Sequence):
            continue
        seen: dict[str, int] = {}
        for index, item in enumerate(node.items):
            text = scalar_text(item)
            if text is None:
                continue
            if text in seen:
                ctx.warn(
                    f"services.{name}.{key} array items[{seen[text]},{index}] must be unique "
                    "(compose refuses the project)",
                    item.loc,
                )
            else:
                seen[text] = index


def _check_dependencies_defined(name: str, service: Mapping, services: Mapping, ctx: LoadContext) -> None:
    depends = service.items.get("depends_on")
    if not isinstance(depends, Mapping):
        return
    for dep, spec in depends.items.items():
        required = not (isinstance(spec, Mapping) and scalar_text(spec.items.get("required")) == "false")
        if required and dep not in services.items:
            ctx.warn(f'service "{name}" depends on undefined service "{dep}"', spec.where)


def _dependencies(service: object) -> list[str]:
    """depends_on plus the implicit ones compose adds: links, volumes_from, `service:` namespaces."""
    if not isinstance(service, Mapping):
        return []
    out: list[str] = []
    depends = service.items.get("depends_on")
    if isinstance(depends, Mapping):
        out += list(depends.items)
    for key in ("links", "volumes_from"):
        node = service.items.get(key)
        if isinstance(node, Sequence):
            for item in node.items:
                text = scalar_text(item) or ""
                if not text.startswith("container:"):
                    out.append(text.split(":", 1)[0])
    for key in ("network_mode", "pid", "ipc"):
        text = scalar_text(service.items.get(key)) or ""
        if text.startswith("service:"):
            out.append(text[len("service:") :])
    return out


def _depends_on_cycles(services: Mapping, ctx: LoadContext) -> None:
    """compose refuses a project whose depends_on graph has a cycle; what it grants is unchanged."""
    graph: dict[str, list[str]] = {}
    for name, service in services.items.items():
        graph[name] = [d for d in _dependencies(service) if d in services.items]
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                state[node] = 1
                path.append(node)
            if index < len(graph[node]):
                stack.append((node, index + 1))
                nxt = graph[node][index]
                if state.get(nxt) == 1:
                    cycle = " -> ".join([*path[path.index(nxt) :], nxt])
                    service = services.items[nxt]
                    ctx.warn(
                        f"dependency cycle detected: {cycle} (compose refuses the project)",
                        service.key_loc or service.loc,
                    )
                elif not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
