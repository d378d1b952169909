"""Canonical nodes -> the frozen privilege model (``Project``/``Service``).

This is also where the privilege fields are type-checked as compose's schema would: a value that
cannot be understood (``privileged: 1``, ``user: 0`` unquoted, ``use_api_socket: "true"``) is an
error, because guessing what it grants would be worse than saying so. The error is local to that
value: the field (or the one list entry) is left out and the rest of the service and the other
services are still built, so the project's other findings are not hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from leastcap.loader.nodes import Mapping, Node, Scalar, Sequence, kind, scalar_text
from leastcap.loader.types import Inputs, LoadContext, LoadError
from leastcap.model import Device, Hook, Located, Location, Mount, Project, Service, SourceKind

T = TypeVar("T")
# List settings whose key a finding may point at (where a missing entry is added).
_LIST_SETTINGS = ("cap_add", "cap_drop", "security_opt", "devices", "volumes")
_MOUNT_TYPES = ("bind", "volume", "tmpfs", "cluster", "npipe", "image")
_CDI = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*/[a-zA-Z0-9][a-zA-Z0-9._-]*=[a-zA-Z0-9_.:-]+$")


def _fail(node: Node, message: str) -> LoadError:
    loc = node.where
    return LoadError.at(message, loc)


Refuse = Callable[[str, Location], None]


def _keep(refuse: Refuse | None, read: Callable[[], T], default: T) -> T:
    """``read()``; a value compose refuses is reported through ``refuse`` and left out."""
    try:
        return read()
    except LoadError as exc:
        if refuse is None:
            raise
        refuse(exc.message, Location(exc.path, exc.line, exc.column))
        return default


def _located(node: Node, value: T, origin: Location | None = None) -> Located[T]:
    return Located(value, origin or node.where, node.via, node.variables)


def _bool(node: Node | None, where: str) -> Located[bool] | None:
    if node is None or (isinstance(node, Scalar) and node.value is None):
        return None
    if not isinstance(node, Scalar) or not isinstance(node.value, bool):
        raise _fail(node, f"{where} must be a boolean")
    return _located(node, node.value)


def _string(node: Node | None, where: str) -> Located[str] | None:
    if node is None or (isinstance(node, Scalar) and node.value is None):
        return None
    if not isinstance(node, Scalar) or not isinstance(node.value, str):
        raise _fail(node, f"{where} must be a string")
    return _located(node, node.value)


def _strings(node: Node | None, where: str, numbers: bool = False) -> tuple[Located[str], ...]:
    if node is None or (isinstance(node, Scalar) and node.value is None):
        return ()
    if not isinstance(node, Sequence):
        raise _fail(node, f"{where} must be a list")
    out: list[Located[str]] = []
    for item in node.items:
        ok = isinstance(item, Scalar) and (
            isinstance(item.value, str)
            or (numbers and isinstance(item.value, int) and not isinstance(item.value, bool))
        )
        if not ok:
            raise _fail(item, f"{where} items must be strings")
        assert isinstance(item, Scalar)
        out.append(_located(item, str(item.value), item.loc))
    return tuple(out)


def _device(item: Node, where: str) -> Located[Device]:
    if not isinstance(item, Mapping):
        raise _fail(item, f"{where} items must be strings or mappings")
    source = scalar_text(item.items.get("source"))
    target = scalar_text(item.items.get("target"))
    if not source:
        raise _fail(item, f"{where}: a device needs a source")
    if not target:
        raise _fail(item, f"{where}: a device is missing a mount target")
    permissions = scalar_text(item.items.get("permissions")) or "rwm"
    cdi = source == target and bool(_CDI.match(source))
    return _located(item, Device(source, target, permissions, cdi), item.loc)


def _mount(item: Node, where: str, index: int, top_volumes: Mapping | None) -> Located[Mount]:
    if not isinstance(item, Mapping):
        raise _fail(item, f"{where} items must be strings or mappings")
    if "type" not in item.items:
        # compose's schema takes an entry without `type` for a malformed short syntax.
        raise LoadError.at(
            f"{where}.{index} must be a string: a long-syntax volume needs `type:` (compose refuses the file)",
            item.loc,
        )
    mount_type = scalar_text(item.items.get("type")) or ""
    if mount_type not in _MOUNT_TYPES:
        # e.g. `type: ${SOCKET_TYPE}` unset: whether this is a host bind cannot be known.
        raise _fail(item.items.get("type") or item, f"{where}: type must be one of {', '.join(_MOUNT_TYPES)}")
    source = scalar_text(item.items.get("source")) or ""
    target = scalar_text(item.items.get("target")) or ""
    if not target:
        raise LoadError.at(f"service volume {where}.[{index}] is missing a mount target", item.loc)
    read_only = item.items.get("read_only")
    if read_only is not None and not (
        isinstance(read_only, Scalar) and isinstance(read_only.value, (bool, type(None)))
    ):
        raise _fail(read_only, f"{where}.read_only must be a boolean")
    bind = item.items.get("bind")
    propagation = scalar_text(bind.items.get("propagation")) if isinstance(bind, Mapping) else None
    host_path = ""
    if mount_type == "volume" and source and isinstance(top_volumes, Mapping):
        definition = top_volumes.items.get(source)
        if isinstance(definition, Mapping):
            opts = definition.items.get("driver_opts")
            if isinstance(opts, Mapping):
                options = (scalar_text(opts.items.get("o")) or "").split(",")
                device = scalar_text(opts.items.get("device"))
                if "bind" in options and device:
                    host_path = device
    mount = Mount(
        type=mount_type,
        target=target,
        source=source,
        read_only=bool(isinstance(read_only, Scalar) and read_only.value),
        propagation=propagation or "",
        host_path=host_path,
    )
    return _located(item, mount, item.loc)


def _command(node: Node | None) -> tuple[str, ...]:
    if isinstance(node, Sequence):
        return tuple(scalar_text(i) or "" for i in node.items)
    text = scalar_text(node)
    return (text,) if text else ()


def _ports(node: Node | None) -> tuple[Located[str], ...]:
    if not isinstance(node, Sequence):
        return ()
    out: list[Located[str]] = []
    for item in node.items:
        if isinstance(item, Mapping):
            target = scalar_text(item.items.get("target")) or ""
            published = scalar_text(item.items.get("published")) or ""
            protocol = scalar_text(item.items.get("protocol")) or ""
            text = f"{published}:{target}" if published else target
            text += f"/{protocol}" if protocol else ""
        else:
            text = scalar_text(item) or ""
        out.append(_located(item, text, item.loc))
    return tuple(out)


def _hooks(service: Mapping, name: str) -> tuple[Hook, ...]:
    hooks: list[Hook] = []
    for kind_name in ("post_start", "pre_stop", "pre_start"):
        node = service.items.get(kind_name)
        if not isinstance(node, Sequence):
            continue
        for index, item in enumerate(node.items):
            if not isinstance(item, Mapping):
                continue
            where = f"services.{name}.{kind_name}[{index}]"
            hooks.append(
                Hook(
                    kind_name,
                    _bool(item.items.get("privileged"), f"{where}.privileged"),
                    _string(item.items.get("user"), f"{where}.user"),
                )
            )
    return tuple(hooks)


def _files_of(node: Node) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        seen.setdefault(current.path, None)
        for via in current.via:
            seen.setdefault(via.path, None)
        if isinstance(current, Mapping):
            stack.extend(current.items.values())
        elif isinstance(current, Sequence):
            stack.extend(current.items)
    return tuple(sorted(seen))


def _image(node: Node | None) -> Located[str] | None:
    # A non-string image is compose's schema problem, not a privilege question: no error here.
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return _located(node, node.value)
    return None


def _entries(node: Node | None, where: str, read: Callable[[Node, int], T], refuse: Refuse | None) -> tuple[T, ...]:
    """Each entry of a list field; an entry compose refuses is reported and left out."""
    if isinstance(node, Sequence):
        out: list[T] = []
        for index, item in enumerate(node.items):
            try:
                out.append(read(item, index))
            except LoadError as exc:
                if refuse is None:
                    raise
                refuse(exc.message, Location(exc.path, exc.line, exc.column))
        return tuple(out)
    if node is not None and kind(node) != "null":
        raise _fail(node, f"{where} must be a list")
    return ()


def build_service(
    name: str,
    node: Mapping,
    project: str,
    profiles_active: tuple[str, ...],
    top: Mapping,
    refuse: Refuse | None = None,
) -> Service:
    items = node.items
    w = f"services.{name}"
    profiles_node = items.get("profiles")
    profiles = tuple(scalar_text(p) or "" for p in profiles_node.items) if isinstance(profiles_node, Sequence) else ()
    enabled = not profiles or "*" in profiles_active or any(p in profiles_active for p in profiles)

    def boolean(key: str) -> Located[bool] | None:
        return _keep(refuse, lambda: _bool(items.get(key), f"{w}.{key}"), None)

    def string(key: str) -> Located[str] | None:
        return _keep(refuse, lambda: _string(items.get(key), f"{w}.{key}"), None)

    def strings(key: str, numbers: bool = False) -> tuple[Located[str], ...]:
        return _keep(refuse, lambda: _strings(items.get(key), f"{w}.{key}", numbers), ())

    build = items.get("build")
    build_privileged = None
    entitlements: tuple[Located[str], ...] = ()
    if isinstance(build, Mapping):
        build_privileged = _keep(refuse, lambda: _bool(build.items.get("privileged"), f"{w}.build.privileged"), None)
        entitlements = _keep(refuse, lambda: _strings(build.items.get("entitlements"), f"{w}.build.entitlements"), ())
    top_volumes = top.items.get("volumes")
    defined = top_volumes if isinstance(top_volumes, Mapping) else None
    volumes: tuple[Located[Mount], ...] = _keep(
        refuse,
        lambda: _entries(
            items.get("volumes"), f"{w}.volumes", lambda v, i: _mount(v, f"{w}.volumes", i, defined), refuse
        ),
        (),
    )
    devices: tuple[Located[Device], ...] = _keep(
        refuse,
        lambda: _entries(items.get("devices"), f"{w}.devices", lambda d, _: _device(d, f"{w}.devices"), refuse),
        (),
    )
    healthcheck = items.get("healthcheck")
    return Service(
        name=name,
        project=project,
        source=SourceKind.FILE,
        key=node.key_loc or node.loc,
        image=_image(items.get("image")),
        profiles=profiles,
        enabled=enabled,
        privileged=boolean("privileged"),
        cap_add=strings("cap_add"),
        cap_drop=strings("cap_drop"),
        security_opt=strings("security_opt"),
        devices=devices,
        device_cgroup_rules=strings("device_cgroup_rules"),
        volumes=volumes,
        volumes_from=strings("volumes_from"),
        pid=string("pid"),
        ipc=string("ipc"),
        network_mode=string("network_mode"),
        userns_mode=string("userns_mode"),
        uts=string("uts"),
        cgroup=string("cgroup"),
        cgroup_parent=string("cgroup_parent"),
        user=string("user"),
        group_add=strings("group_add", numbers=True),
        read_only=boolean("read_only"),
        sysctls=strings("sysctls"),
        use_api_socket=boolean("use_api_socket"),
        build_privileged=build_privileged,
        build_entitlements=entitlements,
        hooks=_keep(refuse, lambda: _hooks(node, name), ()),
        runtime=string("runtime"),
        ports=_ports(items.get("ports")),
        entrypoint=_command(items.get("entrypoint")),
        command=_command(items.get("command")),
        healthcheck=_command(healthcheck.items.get("test")) if isinstance(healthcheck, Mapping) else (),
        files=_files_of(node),
        setting_keys=tuple(
            (key, items[key].where) for key in _LIST_SETTINGS if key in items and kind(items[key]) != "null"
        ),
    )


def build_project(model: Mapping, name: str, inputs: Inputs, ctx: LoadContext) -> Project:
    services_node = model.items.get("services")
    services: list[Service] = []
    if isinstance(services_node, Mapping):
        for service_name in sorted(services_node.items):
            node = services_node.items[service_name]
            if not isinstance(node, Mapping):
                if kind(node) == "null":
                    node = Mapping(node.loc)
                    node.key_loc = services_node.items[service_name].key_loc
                else:
                    # One service compose cannot read does not hide the others.
                    ctx.refuse(f"services.{service_name} must be a mapping", node.where)
                    continue
            services.append(build_service(service_name, node, name, inputs.profiles, model, ctx.refuse))
    elif services_node is not None and kind(services_node) != "null":
        raise _fail(services_node, "services must be a mapping")
    return Project(
        name=name,
        files=tuple(ctx.tree.display(f) for f in inputs.files),
        working_dir=inputs.project_dir,
        services=tuple(services),
        active_profiles=inputs.profiles,
        warnings=tuple(ctx.warnings),
    )
