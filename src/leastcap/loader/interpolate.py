"""Interpolation of a whole document and compose's type casts (``loader/interpolate.go``).

Every string value is substituted (keys never are); then the strings at typed paths are cast.
A failed boolean cast on a privilege field is an error (that value cannot be understood): the
issue carries what to drop (the attribute, or the whole list entry it sits in) so the rest of the
service and the other services are still judged. On other fields compose would refuse the file
too, but what the file grants does not change, so the caller records a warning and keeps the
string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from leastcap.loader.nodes import Mapping, Node, Scalar, Sequence
from leastcap.loader.template import Substitution, TemplateError
from leastcap.model import Location

_BOOL_TRUE = {"true", "y", "yes", "on"}
_BOOL_FALSE = {"false", "n", "no", "off"}
LEGACY_BOOL = {"y", "yes", "on", "n", "no", "off"}

# Paths are tuples; "*" matches one key, "[]" one list item.
_SERVICE_BOOL = [
    ("init",),
    ("depends_on", "*", "required"),
    ("depends_on", "*", "restart"),
    ("healthcheck", "disable"),
    ("oom_kill_disable",),
    ("privileged",),
    ("read_only",),
    ("stdin_open",),
    ("tty",),
    ("volumes", "[]", "read_only"),
    ("volumes", "[]", "volume", "nocopy"),
    # mapstructure's decode hook applies the same cast to other bool fields
    ("build", "privileged"),
    ("post_start", "[]", "privileged"),
    ("pre_stop", "[]", "privileged"),
    ("pre_start", "[]", "privileged"),
    ("volumes", "[]", "bind", "create_host_path"),
]
_SERVICE_INT = [
    ("cpu_count",),
    ("cpu_period",),
    ("cpu_quota",),
    ("cpu_rt_period",),
    ("cpu_rt_runtime",),
    ("cpu_shares",),
    ("deploy", "replicas"),
    ("healthcheck", "retries"),
    ("oom_score_adj",),
    ("pids_limit",),
    ("ports", "[]", "target"),
    ("scale",),
    ("ulimits", "*"),
    ("ulimits", "*", "hard"),
    ("ulimits", "*", "soft"),
]
_TOP_BOOL = [
    (section, "*", attr)
    for section, attrs in {
        "networks": ("external", "internal", "attachable", "enable_ipv4", "enable_ipv6"),
        "volumes": ("external",),
        "secrets": ("external",),
        "configs": ("external",),
    }.items()
    for attr in attrs
]
# Service attributes whose value decides what a container is granted. A value there that cannot
# be interpolated or cast means the file cannot be understood: an error, never a guess.
PRIVILEGE_ATTRIBUTES = {
    "privileged",
    "cap_add",
    "cap_drop",
    "security_opt",
    "devices",
    "volumes",
    "pid",
    "ipc",
    "network_mode",
    "userns_mode",
    "uts",
    "cgroup",
    "cgroup_parent",
    "user",
    "group_add",
    "read_only",
    "sysctls",
    "device_cgroup_rules",
    "use_api_socket",
    "build",
    "post_start",
    "pre_stop",
    "pre_start",
    "volumes_from",
}
PRIVILEGE_BOOLS = {
    ("privileged",),
    ("read_only",),
    ("volumes", "[]", "read_only"),
    ("build", "privileged"),
    ("post_start", "[]", "privileged"),
    ("pre_stop", "[]", "privileged"),
    ("pre_start", "[]", "privileged"),
}


# Under these attributes only some sub-keys decide what is granted: a missing variable in
# `build.args` or in a volume's `content` changes nothing a container gets (compose refuses
# the file, leastcap warns), while one in `build.privileged` or a bind's `source` does.
_PRIVILEGE_SUBKEYS = {
    "build": {"privileged", "entitlements", "network"},
    "volumes": {"type", "source", "target", "read_only", "bind"},
}


def _privilege_path(path: tuple[str, ...]) -> bool:
    if len(path) <= 2 or path[0] != "services" or path[2] not in PRIVILEGE_ATTRIBUTES:
        return False
    subkeys = _PRIVILEGE_SUBKEYS.get(path[2])
    if subkeys is None:
        return True
    if path[2] == "volumes":
        # services.x.volumes.[] is the short syntax; services.x.volumes.[].key the long one
        return len(path) <= 4 or path[4] in subkeys
    return len(path) <= 3 or path[3] in subkeys


def _build_table() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for path in _SERVICE_BOOL:
        table[("services", "*", *path)] = "bool"
    for path in _SERVICE_INT:
        table[("services", "*", *path)] = "int"
    for path in _TOP_BOOL:
        table[path] = "bool"
    return table


CAST_TABLE = _build_table()
_PREFIXES = {path[:i] for path in CAST_TABLE for i in range(len(path) + 1)}


def to_boolean(text: str) -> bool | None:
    lowered = text.lower()
    if lowered in _BOOL_TRUE:
        return True
    if lowered in _BOOL_FALSE:
        return False
    return None


def _go_atoi(text: str) -> int | None:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit() or not body.isascii():
        return None
    return int(text)


# What a refused value takes with it: (its mapping, its key) or (its list, the item).
Unit = tuple[Mapping, str] | tuple[Sequence, Node]


def drop_unit(unit: Unit) -> None:
    container, member = unit
    if isinstance(container, Mapping):
        assert isinstance(member, str)
        container.items.pop(member, None)
    else:
        container.items = [item for item in container.items if item is not member]


@dataclass
class InterpolationIssue:
    message: str
    loc: Location
    fatal: bool
    # For a fatal issue: the value to drop, so the rest of the document can still be judged.
    unit: Unit | None = None


@dataclass
class InterpolationResult:
    issues: list[InterpolationIssue] = field(default_factory=list)
    unset: set[str] = field(default_factory=set)
    legacy_bools: list[tuple[str, Location]] = field(default_factory=list)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join("[]" if p == "[]" else p for p in path)


def interpolate_document(
    root: Mapping, lookup: Callable[[str], str | None], result: InterpolationResult, has_dollar: bool = True
) -> None:
    """Substitute variables in every string value and cast typed paths, in place.

    ``has_dollar=False`` (the document's text has no ``$``) only casts: subtrees that no cast
    path reaches are then skipped, which is most of a document.
    """
    # Each entry carries the unit a refused value would take with it. Inside an entry of a
    # service's list (`volumes: [{source: ..., read_only: $X}]`) that is the whole entry: half a
    # mount is not what the file says. Elsewhere it is the value's own key or item.
    stack: list[tuple[Node, tuple[str, ...], tuple[str, ...] | None, Unit | None, bool]] = [(root, (), (), None, False)]
    while stack:
        node, path, pattern, unit, whole_entry = stack.pop()
        if pattern is None and not has_dollar:
            continue
        if isinstance(node, Mapping):
            stack.extend(
                (child, (*path, key), _advance(pattern, key), unit if whole_entry else (node, key), whole_entry)
                for key, child in node.items.items()
            )
        elif isinstance(node, Sequence):
            entries = whole_entry or (len(path) == 3 and path[0] == "services")
            stack.extend(
                (child, (*path, "[]"), _advance(pattern, "[]"), unit if whole_entry else (node, child), entries)
                for child in node.items
            )
        elif isinstance(node, Scalar) and isinstance(node.value, str):
            _interpolate_scalar(node, path, pattern, lookup, result, unit)


def _advance(pattern: tuple[str, ...] | None, key: str) -> tuple[str, ...] | None:
    """Track the cast-table pattern matched so far (None once no cast path can match)."""
    if pattern is None:
        return None
    for candidate in ((*pattern, key), (*pattern, "*")):
        if candidate in _PREFIXES:
            return candidate
    return None


def _interpolate_scalar(
    node: Scalar,
    path: tuple[str, ...],
    pattern: tuple[str, ...] | None,
    lookup: Callable[[str], str | None],
    result: InterpolationResult,
    unit: Unit | None = None,
) -> None:
    text = node.value
    assert isinstance(text, str)
    if "$" in text:
        sub = Substitution(lookup)
        try:
            text = sub.substitute(text)
        except TemplateError as exc:
            where = _dotted(path)
            if exc.invalid_template:
                message = (
                    f"invalid interpolation format for {where}. You may need to escape any $ with another $. "
                    f"{node.value}"
                )
                fatal = True
            else:
                message = f"error while interpolating {where}: {exc}"
                fatal = _privilege_path(path)
            result.issues.append(InterpolationIssue(message, node.loc, fatal, unit))
            if not fatal:
                node.value = ""
            return
        node.variables = tuple(dict.fromkeys((*node.variables, *sub.used)))
        result.unset.update(sub.unset)
        node.value = text
    kind = CAST_TABLE.get(pattern) if pattern is not None else None
    if kind == "bool":
        value = to_boolean(text)
        if value is None:
            fatal = pattern is not None and pattern[2:] in PRIVILEGE_BOOLS
            result.issues.append(
                InterpolationIssue(
                    f"error while interpolating {_dotted(path)}: "
                    f"failed to cast to expected type: invalid boolean: {text}",
                    node.loc,
                    fatal,
                    unit,
                )
            )
            return
        if text.lower() in LEGACY_BOOL:
            result.legacy_bools.append((text, node.where))
        node.value = value
    elif kind == "int":
        number = _go_atoi(text)
        if number is None:
            result.issues.append(
                InterpolationIssue(
                    f'{_dotted(path)}: failed to cast to expected type: strconv.Atoi: parsing "{text}": invalid syntax',
                    node.loc,
                    False,
                )
            )
            return
        node.value = number
