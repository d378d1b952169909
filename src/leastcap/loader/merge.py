"""Compose's merge rules (compose-go ``override/merge.go``) and de-duplication (``uncity.go``).

Both sides are canonical here: every document is normalised (``canonical.py``) before it is merged,
which is equivalent to compose's mixed-form indexers and keeps this module small. The winning
value keeps its own position, so a finding still points at the file that wrote it.
"""

from __future__ import annotations

from collections.abc import Callable

from leastcap.loader.nodes import Mapping, Node, Scalar, Sequence, scalar_text

Indexer = Callable[[Node], str | None]

# services.<name>.<attribute> -> how duplicates are recognised after an append.
_KEY_VALUE = {
    "annotations",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_opt",
    "dns_search",
    "environment",
    "labels",
    "links",
    "profiles",
    "sysctls",
    "tmpfs",
}
_REPLACE = {"command", "entrypoint"}


def _key_value(node: Node) -> str | None:
    text = scalar_text(node)
    if text is None:
        return None
    return text.split("=", 1)[0]


def _target(node: Node) -> str | None:
    if isinstance(node, Mapping):
        return scalar_text(node.get("target"))
    return scalar_text(node)


def _env_file(node: Node) -> str | None:
    if isinstance(node, Mapping):
        return scalar_text(node.get("path"))
    return scalar_text(node)


def _port(node: Node) -> str | None:
    if isinstance(node, Mapping):
        parts = [scalar_text(node.get(k)) or "" for k in ("host_ip", "published", "target", "protocol")]
        return f"{parts[0]}:{parts[1]}:{parts[2]}/{parts[3]}"
    return scalar_text(node)


def _mount(prefix: str) -> Indexer:
    def index(node: Node) -> str | None:
        if isinstance(node, Mapping):
            target = scalar_text(node.get("target"))
            if target:
                return target
            source = scalar_text(node.get("source"))
            return f"{prefix}/{source}" if prefix else source
        source = scalar_text(node)
        return f"{prefix}/{source}" if prefix and source else source

    return index


SERVICE_INDEXERS: dict[str, Indexer] = {
    **{name: _key_value for name in _KEY_VALUE},
    "volumes": _target,
    "devices": _target,
    "env_file": _env_file,
    "expose": scalar_text,
    "ports": _port,
    "secrets": _mount("/run/secrets"),
    "configs": _mount(""),
}
BUILD_INDEXERS: dict[str, Indexer] = {
    "args": _key_value,
    "labels": _key_value,
    "additional_contexts": _key_value,
    "tags": _key_value,
    "platforms": _key_value,
}


def unique(seq: Sequence, index: Indexer) -> None:
    """A later entry with the same key replaces the earlier one in place (first position kept)."""
    positions: dict[str, int] = {}
    out: list[Node] = []
    for item in seq.items:
        key = index(item)
        if key is None:
            out.append(item)
            continue
        if key in positions:
            out[positions[key]] = item
        else:
            positions[key] = len(out)
            out.append(item)
    seq.items = out


def merge_nodes(base: Node | None, over: Node | None) -> Node | None:
    """Generic merge: maps recurse, sequences append, scalars replace, null keeps the base."""
    if over is None or (isinstance(over, Scalar) and over.value is None):
        return base if base is not None else over
    if base is None or (isinstance(base, Scalar) and base.value is None):
        return over
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        for key, value in over.items.items():
            merged = merge_nodes(base.items.get(key), value)
            if merged is not None:
                base.items[key] = merged
        return base
    if isinstance(base, Sequence) and isinstance(over, Sequence):
        base.items.extend(over.items)
        return base
    if isinstance(base, Mapping) != isinstance(over, Mapping) and not isinstance(over, Scalar):
        raise MergeError("cannot override: a mapping and a sequence do not merge")
    return over


class MergeError(ValueError):
    pass


def merge_service(base: Mapping, over: Mapping) -> Mapping:
    """Merge two canonical service definitions (``base`` is modified and returned)."""
    for key, value in over.items.items():
        current = base.items.get(key)
        if key in _REPLACE:
            if value is not None and not (isinstance(value, Scalar) and value.value is None):
                base.items[key] = value
            continue
        if key == "healthcheck" and isinstance(current, Mapping) and isinstance(value, Mapping):
            test = value.items.pop("test", None)
            merge_nodes(current, value)
            if test is not None:
                current.items["test"] = test
            continue
        if key == "logging" and isinstance(current, Mapping) and isinstance(value, Mapping):
            base_driver = scalar_text(current.get("driver"))
            over_driver = scalar_text(value.get("driver"))
            if over_driver is not None and base_driver is not None and over_driver != base_driver:
                base.items[key] = value
            else:
                merge_nodes(current, value)
            continue
        if key == "ulimits" and isinstance(current, Mapping) and isinstance(value, Mapping):
            for name, limit in value.items.items():  # each ulimit is replaced wholesale
                current.items[name] = limit
            continue
        if key == "extra_hosts" and isinstance(current, Sequence) and isinstance(value, Sequence):
            seen = {scalar_text(n) for n in current.items}
            current.items.extend(n for n in value.items if scalar_text(n) not in seen)
            continue
        merged = merge_nodes(current, value)
        if merged is not None:
            base.items[key] = merged
    enforce_service_unicity(base)
    return base


def enforce_service_unicity(service: Mapping) -> None:
    for key, index in SERVICE_INDEXERS.items():
        node = service.items.get(key)
        if isinstance(node, Sequence):
            unique(node, index)
    build = service.items.get("build")
    if isinstance(build, Mapping):
        for key, index in BUILD_INDEXERS.items():
            node = build.items.get(key)
            if isinstance(node, Sequence):
                unique(node, index)


def merge_model(base: Mapping, over: Mapping) -> Mapping:
    """Merge a canonical document into the accumulated model."""
    for section, value in over.items.items():
        if section == "services" and isinstance(value, Mapping):
            services = base.items.get("services")
            if not isinstance(services, Mapping):
                base.items["services"] = value
                for svc in value.items.values():
                    if isinstance(svc, Mapping):
                        enforce_service_unicity(svc)
                continue
            for name, svc in value.items.items():
                current = services.items.get(name)
                if isinstance(current, Mapping) and isinstance(svc, Mapping):
                    merge_service(current, svc)
                elif isinstance(svc, Mapping) or current is None:
                    if isinstance(svc, Mapping):
                        enforce_service_unicity(svc)
                    services.items[name] = svc
            continue
        merged = merge_nodes(base.items.get(section), value)
        if merged is not None:
            base.items[section] = merged
    return base
