"""The effective model as JSON, in the shape of ``docker compose config --format json``.

Only what leastcap reasons about is guaranteed to match compose exactly (the privilege fields the
differential test compares); the rest is the merged model in canonical form.
"""

from __future__ import annotations

from typing import Any

from leastcap.loader.canonical import TO_SEQUENCE
from leastcap.loader.nodes import Mapping, Node, Sequence


def _as_map(node: Node) -> Any:
    if not isinstance(node, Sequence):
        return node.plain()
    out: dict[str, Any] = {}
    for item in node.items:
        text = item.plain()
        if not isinstance(text, str):
            continue
        key, sep, value = text.partition("=")
        out[key] = value if sep else None
    return out


def effective_json(model: Mapping, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    for section, node in model.items.items():
        if section in ("services", "name", "version") or section.startswith("x-"):
            continue
        out[section] = node.plain()
    services: dict[str, Any] = {}
    services_node = model.items.get("services")
    if isinstance(services_node, Mapping):
        for service_name in sorted(services_node.items):
            node = services_node.items[service_name]
            services[service_name] = _service_json(node) if isinstance(node, Mapping) else {}
    out["services"] = services
    return out


def _service_json(node: Mapping) -> dict[str, Any]:
    """One service as `docker compose config --format json` prints it."""
    data: dict[str, Any] = {}
    for key, value in node.items.items():
        if key.startswith("x-"):
            continue
        if key in TO_SEQUENCE:
            data[key] = _as_map(value)
        elif key == "group_add" and isinstance(value, Sequence):
            data[key] = [str(v.plain()) for v in value.items]
        elif key == "build" and isinstance(value, Mapping):
            build = value.plain()
            for sub in ("args", "labels"):
                if sub in value.items:
                    build[sub] = _as_map(value.items[sub])
            data[key] = build
        else:
            data[key] = value.plain()
    return data
