"""Compose's objections that do not change what a file grants: reported as warnings.

CI checkouts often lack env files or secrets, override layers are incomplete alone, and a layer
may have no image. ``docker compose`` refuses such projects; a security scan must not go blind on
them, so leastcap scans them and passes compose's objection on as a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leastcap.loader.nodes import Mapping, Sequence, scalar_text

if TYPE_CHECKING:
    from leastcap.loader.project import Inputs, LoadContext

_UNIQUE = ("security_opt", "device_cgroup_rules", "group_add", "volumes_from", "cap_add", "cap_drop")


def validate(model: Mapping, ctx: LoadContext, inputs: Inputs) -> None:
    services = model.items.get("services")
    if not isinstance(services, Mapping):
        return
    top_volumes = model.items.get("volumes")
    defined_volumes = set(top_volumes.items) if isinstance(top_volumes, Mapping) else set()
    for name, service in services.items.items():
        if not isinstance(service, Mapping):
            continue
        where = service.key_loc or service.loc
        if "image" not in service.items and "build" not in service.items:
            ctx.warn(
                f'service "{name}" has neither an image nor a build context specified (compose refuses to run it)',
                where,
            )
        volumes = service.items.get("volumes")
        if isinstance(volumes, Sequence):
            for volume in volumes.items:
                if isinstance(volume, Mapping) and scalar_text(volume.items.get("type")) == "volume":
                    source = scalar_text(volume.items.get("source"))
                    if source and source not in defined_volumes:
                        ctx.warn(
                            f'service "{name}" refers to undefined volume {source} (compose refuses the project)',
                            volume.loc,
                        )
        env_files = service.items.get("env_file")
        if isinstance(env_files, Sequence):
            for item in env_files.items:
                path = scalar_text(item.items.get("path")) if isinstance(item, Mapping) else scalar_text(item)
                required = True
                if isinstance(item, Mapping) and scalar_text(item.items.get("required")) == "false":
                    required = False
                if path and required and not ctx.tree.is_file(path):
                    ctx.warn(f"env file {ctx.tree.display(path)} not found (compose refuses the project)", item.loc)
        for key in _UNIQUE:
            node = service.items.get(key)
            if isinstance(node, Sequence):
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
        depends = service.items.get("depends_on")
        if isinstance(depends, Mapping):
            for dep, spec in depends.items.items():
                required = not (isinstance(spec, Mapping) and scalar_text(spec.items.get("required")) == "false")
                if required and dep not in services.items:
                    ctx.warn(f'service "{name}" depends on undefined service "{dep}"', spec.where)
