"""Turn a recognised command (or a CI config entry) into the shared ``Service`` model.

Every value is ``Located`` at the flag that set it (``--cap-add`` in ``--cap-add=ALL`` or
``--cap-add ALL``), so findings point at the flag itself. A value written with a shell variable
keeps its text as written (``$CAPS``) and names the variable in ``Located.variables``: the scan
reports it as unknown rather than guessing.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leastcap.model import Device, Located, Location, Mount, Service, SourceKind
from leastcap.scripts.commands import Flag, Invocation
from leastcap.scripts.shell import Word

# pflag's ParseBool: what `--privileged=VALUE` accepts as false.
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_VALID_MODES = frozenset(
    {"ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate", "nocopy",
     "consistent", "cached", "delegated"}
)  # fmt: skip
_PROPAGATION = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})

# Facts every script service carries (``Service.runtime_facts``) so rules and reporters can tell
# what kind of command it is. ``script.kind`` values: docker-run, docker-create, podman-run,
# nerdctl-run, compose-run, dockerfile-run, gitlab-service, github-container, github-service.
KIND_FACT = "script.kind"
# A sentence explaining a value the command does not spell out (GitLab's docker:dind service is
# privileged because it only runs on a privileged runner).
REASON_FACT = "script.reason"

Locate = Callable[[int], Location]


@dataclass(slots=True)
class ServiceBuilder:
    """Collects the fields of one script service; ``build`` makes the frozen ``Service``."""

    name: str
    project: str
    key: Location
    kind: str
    path: str
    fields: dict[str, Any] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)

    def set(self, name: str, value: Located[Any]) -> None:
        self.fields[name] = value  # single-valued flags: the last one wins, as in pflag

    def add(self, name: str, value: Located[Any]) -> None:
        self.fields.setdefault(name, []).append(value)

    def build(self) -> Service:
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in self.fields.items()}
        return Service(
            name=self.name,
            project=self.project,
            source=SourceKind.SCRIPT,
            key=self.key,
            files=(self.path,),
            runtime_facts=((KIND_FACT, self.kind), *self.facts),
            **kwargs,
        )


_SINGLE = {
    "pid": "pid",
    "ipc": "ipc",
    "uts": "uts",
    "userns": "userns_mode",
    "cgroupns": "cgroup",
    "network": "network_mode",
    "net": "network_mode",
    "user": "user",
    "cgroup-parent": "cgroup_parent",
    "runtime": "runtime",
}
_LIST = {
    "security-opt": "security_opt",
    "device-cgroup-rule": "device_cgroup_rules",
    "group-add": "group_add",
    "sysctl": "sysctls",
    "volumes-from": "volumes_from",
    "publish": "ports",
    "expose": "ports",
}
_BOOL = {"privileged": "privileged", "read-only": "read_only", "use-api-socket": "use_api_socket"}


def _apply_flag(b: ServiceBuilder, flag: Flag, at: Location, split_caps: bool) -> None:
    """Records one ``docker run``-style flag as the Compose field it means."""
    var = flag.variables
    text = flag.text
    if flag.name in _BOOL:
        value = flag.inline is None or text not in _FALSE or bool(var)
        b.set(_BOOL[flag.name], Located(value, at, variables=var))
    elif flag.name in ("cap-add", "cap-drop"):
        parts = [p for p in text.split(",") if p] if split_caps else [text]
        for part in parts:
            b.add(flag.name.replace("-", "_"), Located(part, at, variables=var))
    elif flag.name in _SINGLE:
        b.set(_SINGLE[flag.name], Located(text, at, variables=var))
    elif flag.name in _LIST:
        b.add(_LIST[flag.name], Located(text, at, variables=var))
    elif flag.name == "device":
        b.add("devices", Located(parse_device(text), at, variables=var))
    elif flag.name == "volume":
        b.add("volumes", Located(parse_volume(text), at, variables=var))
    elif flag.name == "mount":
        mount = parse_mount(text)
        if mount is not None:
            b.add("volumes", Located(mount, at, variables=var))
    elif flag.name == "entrypoint":
        b.fields["entrypoint"] = (text,)


def service_from_invocation(inv: Invocation, name: str, project: str, path: str, locate: Locate) -> Service:
    b = ServiceBuilder(name, project, locate(inv.start.start), inv.kind, path)
    split_caps = inv.kind.startswith("podman")
    for flag in inv.flags:
        _apply_flag(b, flag, locate(flag.token.start), split_caps)
    if inv.target is not None and not inv.kind.endswith("compose-run"):
        b.set("image", located_word(inv.target, locate))
    if inv.target is not None and inv.kind.endswith("compose-run"):
        b.facts.append(("script.compose_service", inv.target.value))
    b.fields["command"] = tuple(w.value for w in inv.args)
    return b.build()


def with_via(service: Service, via: tuple[Location, ...]) -> Service:
    """Every located value of ``service`` also carries ``via`` (how its file was reached: the
    ``include:`` entries of a GitLab CI file)."""
    if not via:
        return service
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(service):
        value = getattr(service, f.name)
        if isinstance(value, Located):
            changes[f.name] = dataclasses.replace(value, via=(*value.via, *via))
        elif isinstance(value, tuple) and value and all(isinstance(v, Located) for v in value):
            changes[f.name] = tuple(dataclasses.replace(v, via=(*v.via, *via)) for v in value)
    return dataclasses.replace(service, **changes)


def located_word(word: Word, locate: Locate) -> Located[str]:
    return Located(word.value, locate(word.start), variables=word.variables)


def command_name(inv: Invocation, locate: Locate) -> str:
    """The service identifier of a command: its ``--name`` when literal, else ``<kind>@L<line>``."""
    for flag in reversed(inv.flags):
        if flag.name == "name" and flag.text and not flag.variables:
            return flag.text
    return f"{inv.kind}@L{locate(inv.start.start).line}"


def unique_names(names: Sequence[str], lines: Sequence[int]) -> list[str]:
    """Two commands with the same ``--name`` in one file stay apart: ``web@L3``, ``web@L9``."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [n if counts[n] == 1 or "@L" in n else f"{n}@L{line}" for n, line in zip(names, lines, strict=True)]


def parse_device(spec: str) -> Device:
    """docker CLI's parseDevice: ``src[:dst][:perms]``; a CDI name is ``vendor.com/class=name``."""
    if not spec.startswith("/") and "=" in spec and "/" in spec.split("=", 1)[0]:
        return Device(source=spec, target="", permissions="", cdi=True)
    parts = spec.split(":")
    src = parts[0]
    dst = src
    perms = "rwm"
    if len(parts) == 2:
        if parts[1] and all(ch in "rwm" for ch in parts[1]):
            perms = parts[1]
        else:
            dst = parts[1]
    elif len(parts) >= 3:
        dst, perms = parts[1] or src, parts[2] or "rwm"
    return Device(source=src, target=dst, permissions=perms)


def parse_volume(spec: str) -> Mount:
    """``-v`` exactly like the daemon's Linux parser after the CLI's ``./`` expansion.

    One field is an anonymous volume; ``dst:mode`` is one too. A source is a bind when it is an
    absolute path or starts with ``.`` (the CLI makes ``./x`` absolute; compose run resolves it
    against the project directory); ``~`` and a leading variable are host paths known at run time.
    Anything else is a named volume.
    """
    parts = spec.split(":")
    src = ""
    dst = spec
    mode = ""
    if len(parts) == 2:
        if parts[1] and all(m in _VALID_MODES for m in parts[1].split(",")):
            dst, mode = parts[0], parts[1]
        else:
            src, dst = parts
    elif len(parts) >= 3:
        src, dst, mode = parts[0], parts[1], ":".join(parts[2:])
    opts = [m for m in mode.split(",") if m]
    read_only = "ro" in opts
    propagation = next((m for m in opts if m in _PROPAGATION), "")
    if not src:
        return Mount(type="volume", target=dst, read_only=read_only)
    # A leading variable is modelled as a host path (its Located names the variable): scripts use
    # "$PWD"/"${HOME}" for binds, and a scanner must not call an unknown source harmless.
    kind = "bind" if src.startswith(("/", ".", "~", "$")) else "volume"
    return Mount(type=kind, target=dst, source=src, read_only=read_only, propagation=propagation)


def parse_mount(spec: str) -> Mount | None:
    """``--mount type=bind,source=/x,target=/y,readonly`` (CSV, as the docker CLI reads it)."""
    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        return None
    kind = "volume"
    src = dst = propagation = ""
    read_only = False
    for item in fields:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            kind = value
        elif key in ("source", "src"):
            src = value
        elif key in ("target", "dst", "destination"):
            dst = value
        elif key in ("readonly", "ro"):
            read_only = not eq or value.lower() in ("1", "true")
        elif key == "bind-propagation":
            propagation = value
    return Mount(type=kind, target=dst, source=src, read_only=read_only, propagation=propagation)
