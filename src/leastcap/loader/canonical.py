"""Short syntax -> long syntax, per document, before merging (compose-go ``transform/``).

Every node created here takes the position of the text it came from, so a finding about a
canonical volume still points at the ``- /var/run/docker.sock:/var/run/docker.sock`` line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator

from leastcap.loader.nodes import Mapping, Node, Scalar, ScalarValue, Sequence, scalar_text
from leastcap.model import Location

# Attributes compose turns into ``k=v`` sequences before merging (mergeToSequence).
TO_SEQUENCE = ("environment", "labels", "annotations", "sysctls")
STRING_TO_LIST = ("tmpfs", "dns", "dns_opt", "dns_search", "env_file", "label_file", "extra_hosts")
PROPAGATIONS = {"rprivate", "private", "rshared", "shared", "rslave", "slave"}
SELINUX = {"z", "Z"}


class CanonicalError(ValueError):
    def __init__(self, message: str, loc: Location) -> None:
        super().__init__(message)
        self.loc = loc


# Where an entry compose refuses is reported; the entry is dropped and the rest still loads.
Refuse = Callable[[str, Location], None]


def _scalar(value: object, like: Node, loc: Location | None = None) -> Scalar:
    scalar: ScalarValue = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    node = Scalar.__new__(Scalar)
    node.value = scalar
    if loc is None:
        node.path, node.line, node.column = like.path, like.line, like.column
    else:
        node.path, node.line, node.column = loc.path, loc.line, loc.column
    node.key_path, node.key_line, node.key_column = "", 0, 0
    node.tag = ""
    node.via = like.via
    node.variables = like.variables
    return node


def _go_sprint(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mapping_to_sequence(node: Node) -> Node:
    """``{K: V}`` -> ``["K=V"]`` sorted by key (``K`` alone for a null value); string -> [string]."""
    if isinstance(node, Mapping):
        seq = Sequence(node.loc)
        seq.key_loc, seq.via, seq.variables = node.key_loc, node.via, node.variables
        for key in sorted(node.items):
            value = node.items[key]
            plain = value.plain() if isinstance(value, Scalar) else None
            text = key if plain is None else f"{key}={_go_sprint(plain)}"
            item = _scalar(text, value, value.key_loc or value.loc)
            item.variables = value.variables
            seq.items.append(item)
        return seq
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return _wrap(node)
    return node


def _wrap(node: Node) -> Sequence:
    seq = Sequence(node.loc)
    seq.key_loc, seq.via = node.key_loc, node.via
    item = node.clone()
    item.key_loc = None
    seq.items.append(item)
    return seq


def is_file_path(source: str) -> bool:
    if not source:
        return False
    if source[0] in "./~" or source.startswith("\\\\"):
        return True
    return len(source) > 1 and source[0].isalpha() and source[1] == ":"


def parse_short_volume(spec: str, loc: Location) -> dict[str, object]:
    """compose-go format.ParseVolume (Linux paths)."""
    if not spec:
        raise CanonicalError("invalid empty volume spec", loc)
    if len(spec) <= 2:
        return {"type": "volume", "target": spec, "volume": {}}
    source = target = options = ""
    for part, last in _volume_sections(spec, loc):
        if not source and last:
            target = part  # a lone section is the target: an anonymous volume
        elif not source:
            source = part
        elif not target:
            target = part
        elif not last:
            raise CanonicalError(f"invalid spec: {spec}: too many colons", loc)
        else:
            options = part
    return _typed_volume(source, target, _volume_options(options))


def _volume_sections(spec: str, loc: Location) -> Iterator[tuple[str, bool]]:
    """The colon-separated sections of a short volume, each with whether it ends the spec.

    A colon inside ``${...}`` or right after a one-letter (Windows drive) section does not
    separate; text after an unclosed ``${`` is not a section at all (as in compose-go).
    """
    buffer: list[str] = []
    depth = 0
    end = "\0"
    for i, ch in enumerate(spec + end):
        if ch == "$" and i + 1 < len(spec) and spec[i + 1] == "{":
            depth += 1
            buffer.append(ch)
            continue
        if ch == "}" and depth > 0:
            depth -= 1
            buffer.append(ch)
            continue
        if ch == ":" and len(buffer) == 1 and buffer[0].isalpha():
            buffer.append(ch)  # a Windows drive letter
        elif ch in (":", end) and depth == 0:
            part = "".join(buffer)
            if not part:
                raise CanonicalError(f"invalid spec: {spec}: empty section between colons", loc)
            yield part, ch == end
            buffer = []
        else:
            buffer.append(ch)


def _volume_options(options: str) -> dict[str, object]:
    """The third section (``ro``, ``nocopy``, ``rshared``, ``z``, ...) as long-syntax fields."""
    fields: dict[str, object] = {}
    for option in options.split(","):
        if option == "ro":
            fields["read_only"] = True
        elif option == "rw":
            fields.pop("read_only", None)
        elif option == "nocopy":
            fields["volume"] = {"nocopy": True}
        elif option in PROPAGATIONS:
            fields.setdefault("bind", {})["propagation"] = option  # type: ignore[index]
        elif option in SELINUX:
            fields.setdefault("bind", {})["selinux"] = option  # type: ignore[index]
    return fields


def _typed_volume(source: str, target: str, fields: dict[str, object]) -> dict[str, object]:
    """A path source makes a bind (created on the host if missing); anything else is a volume."""
    out: dict[str, object] = {}
    if is_file_path(source):
        out["type"] = "bind"
        bind = dict(fields.pop("bind", {}))  # type: ignore[call-overload]
        bind["create_host_path"] = True
        fields["bind"] = bind
    else:
        out["type"] = "volume"
        fields.setdefault("volume", {})
        fields.pop("bind", None)
    if source:
        out["source"] = source
    out["target"] = target
    out.update(fields)
    return out


def _build_mapping(data: dict[str, object], like: Node) -> Mapping:
    node = Mapping(like.loc)
    node.via, node.variables = like.via, like.variables
    for key, value in data.items():
        if isinstance(value, dict):
            node.items[key] = _build_mapping(value, like)
        else:
            child = _scalar(value, like)
            node.items[key] = child
    return node


def go_clean(path: str) -> str:
    """Go's path.Clean: like normpath, but a leading "//" is one slash too."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _volume(item: Node, where: str) -> Node:
    if isinstance(item, Scalar) and isinstance(item.value, str):
        item_node = _build_mapping(parse_short_volume(item.value, item.loc), item)
    elif isinstance(item, Mapping):
        # An entry without `type:` is refused only if it survives the merge: compose de-duplicates
        # volumes by target before its schema check, so a later entry with the same target
        # replaces it (extract.py refuses one that is left).
        item_node = item
    else:
        return item
    target = item_node.items.get("target")
    if isinstance(target, Scalar) and isinstance(target.value, str) and target.value:
        target.value = go_clean(target.value)
    return item_node


def parse_device(spec: str, loc: Location) -> dict[str, object]:
    parts = spec.split(":")
    if len(parts) > 3:
        raise CanonicalError(f"confusing device mapping, please use long syntax: {spec}", loc)
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    permissions = parts[2] if len(parts) > 2 and parts[2] else "rwm"
    return {"source": source, "target": target, "permissions": permissions}


def _device(item: Node, where: str = "") -> Node:
    if isinstance(item, Scalar) and isinstance(item.value, str):
        return _build_mapping(parse_device(item.value, item.loc), item)
    if isinstance(item, Mapping):
        if "target" not in item.items and "source" in item.items:
            item.items["target"] = item.items["source"].clone()
        if "permissions" not in item.items:
            item.items["permissions"] = _scalar("rwm", item)
    return item


def _entries(node: Sequence, convert: Callable[[Node, str], Node], where: str, refuse: Refuse | None) -> None:
    """Convert every entry of a list; one compose refuses is reported and dropped (or raised)."""
    out: list[Node] = []
    for index, item in enumerate(node.items):
        try:
            out.append(convert(item, f"{where}.{index}"))
        except CanonicalError as exc:
            if refuse is None:
                raise
            refuse(str(exc), exc.loc)
    node.items = out


def canonical_service(service: Mapping, service_name: str = "", refuse: Refuse | None = None) -> None:
    items = service.items
    for name in TO_SEQUENCE:
        if name in items:
            items[name] = mapping_to_sequence(items[name])
    for name in STRING_TO_LIST:
        node = items.get(name)
        if isinstance(node, Scalar) and isinstance(node.value, str):
            items[name] = _wrap(node)
        elif name == "extra_hosts" and isinstance(node, Mapping):
            items[name] = mapping_to_sequence(node)
    _canonical_build(items)
    deploy = items.get("deploy")
    if isinstance(deploy, Mapping) and "labels" in deploy.items:
        deploy.items["labels"] = mapping_to_sequence(deploy.items["labels"])
    depends = items.get("depends_on")
    if isinstance(depends, Sequence):
        items["depends_on"] = _depends_on_mapping(depends)
    networks = items.get("networks")
    if isinstance(networks, Sequence):
        items["networks"] = _networks_mapping(networks)
    volumes = items.get("volumes")
    if isinstance(volumes, Sequence):
        _entries(volumes, _volume, f"services.{service_name}.volumes", refuse)
    devices = items.get("devices")
    if isinstance(devices, Sequence):
        _entries(devices, _device, f"services.{service_name}.devices", refuse)


def _canonical_build(items: dict[str, Node]) -> None:
    """``build: DIR`` -> ``build: {context: DIR}``; a long build's args and labels as sequences."""
    build = items.get("build")
    if isinstance(build, Scalar) and isinstance(build.value, str):
        mapping = Mapping(build.loc)
        mapping.key_loc, mapping.via = build.key_loc, build.via
        context = build.clone()
        context.key_loc = build.key_loc
        mapping.items["context"] = context
        items["build"] = mapping
    elif isinstance(build, Mapping):
        for name in ("args", "labels"):
            if name in build.items:
                build.items[name] = mapping_to_sequence(build.items[name])


def _depends_on_mapping(depends: Sequence) -> Mapping:
    """``depends_on: [a]`` -> ``{a: {condition: service_started, required: true}}``."""
    mapping = Mapping(depends.loc)
    mapping.key_loc, mapping.via = depends.key_loc, depends.via
    for dep in depends.items:
        name_text = scalar_text(dep)
        if name_text is None:
            continue
        entry = _build_mapping({"condition": "service_started", "required": True}, dep)
        entry.key_loc = dep.loc
        mapping.items[name_text] = entry
    return mapping


def _networks_mapping(networks: Sequence) -> Mapping:
    """``networks: [a]`` -> ``{a: null}``, each key at its list entry."""
    mapping = Mapping(networks.loc)
    mapping.key_loc, mapping.via = networks.key_loc, networks.via
    for net in networks.items:
        name_text = scalar_text(net)
        if name_text is not None:
            value = Scalar(None, net.loc)
            value.key_loc = net.loc
            mapping.items[name_text] = value
    return mapping


def canonical_document(root: Mapping, refuse: Refuse | None = None) -> None:
    services = root.items.get("services")
    if isinstance(services, Mapping):
        for name, service in services.items.items():
            if isinstance(service, Mapping):
                canonical_service(service, name, refuse)
