"""``docker inspect`` of one container -> the same ``Service`` a Compose file becomes.

The rule for every field: a value the daemon fills in by default maps to "not set" (``None`` or an
empty tuple), exactly like a Compose file that does not mention the key, so ``scan`` and ``audit``
judge the same service the same way. Only explicit settings become values. Where the daemon's
default cannot be told apart from an explicit setting, the default wins and a runtime fact says so
(``CgroupnsMode: host`` on a daemon whose default is host, e.g. every cgroup v1 host).

Locations are symbolic: ``path`` is ``<host>/<container name>``, line and column are 0 and ``note``
is the inspect path of the value (``HostConfig.CapAdd[1]``, ``HostConfig.Binds[0]``, ``Mounts[2]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leastcap.audit.engine import EngineFacts
from leastcap.model import Device, Located, Location, Mount, Project, Service, SourceKind

LABEL = "com.docker.compose."
PROPAGATIONS = frozenset({"shared", "rshared", "slave", "rslave", "private", "rprivate"})
# Values the daemon stores when the client did not ask for anything (moby adaptContainerSettings).
DEFAULT_IPC = frozenset({"", "private", "shareable"})
ANONYMOUS_VOLUME = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ComposeLabels:
    """What ``docker compose`` wrote on the container about where it came from."""

    project: str
    service: str
    config_files: tuple[str, ...] = ()
    working_dir: str = ""
    environment_files: tuple[str, ...] = ()
    oneoff: bool = False
    config_hash: str = ""

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> ComposeLabels | None:
        project, service = labels.get(LABEL + "project"), labels.get(LABEL + "service")
        if not project or not service:
            return None

        def split(key: str) -> tuple[str, ...]:
            return tuple(p for p in labels.get(LABEL + key, "").split(",") if p)

        return cls(
            project=project,
            service=service,
            config_files=split("project.config_files"),
            working_dir=labels.get(LABEL + "project.working_dir", ""),
            environment_files=split("project.environment_file"),
            oneoff=labels.get(LABEL + "oneoff", "False").lower() == "true",
            config_hash=labels.get(LABEL + "config-hash", ""),
        )


@dataclass(frozen=True, slots=True)
class AuditedContainer:
    """One container: its model view plus where it runs and where it came from."""

    host: str
    name: str
    id: str
    image: str
    created: str
    status: str
    compose: ComposeLabels | None
    service: Service

    @property
    def location(self) -> Location:
        return self.service.key

    def origin(self) -> tuple[Location, ...]:
        """Related locations every finding about this container carries: the container itself
        (host, id, image, state, effective capabilities when visible) and, for a container that
        Compose created, its Compose files with project, service and working directory."""
        facts = dict(self.service.runtime_facts)
        note = f"container {self.name} ({self.id[:12]}) on host {self.host}, image {self.image}"
        note += f", {self.status}"
        if "cap_effective" in facts:
            note += f"; effective capabilities: {facts['cap_effective']}"
        out = [Location(self.location.path, 0, 0, note)]
        if self.compose is not None:
            c = self.compose
            where = f", working dir {c.working_dir}" if c.working_dir else ""
            note = f"created by docker compose: project {c.project}, service {c.service}{where}"
            out += [Location(f, 0, 0, note) for f in c.config_files]
        return tuple(out)


# Full container id -> (name, Compose project or "", Compose service or "") of every container on
# the host, so that ``container:<id>`` references read as ``service:<name>`` like in the file.
References = Mapping[str, tuple[str, str, str]]


def _reference(value: str, own_project: str, refs: References) -> str:
    """``container:<id or name>`` -> ``service:<svc>`` when it is a container of the same Compose
    project (that is what ``pid: service:x`` becomes), else ``container:<name>``."""
    if not value.startswith("container:"):
        return value
    ref = value.removeprefix("container:")
    for cid, (name, project, service) in refs.items():
        if ref in (name, cid) or (len(ref) >= 12 and cid.startswith(ref)):
            if own_project and project == own_project and service:
                return f"service:{service}"
            return f"container:{name}"
    return value


# Inspect fields that can name another container (``container:<id>``), and the setting each is.
JOIN_FIELDS = (("PidMode", "pid"), ("IpcMode", "ipc"), ("NetworkMode", "network_mode"))


def namespace_chains(inspects: Sequence[Mapping[str, Any]]) -> dict[str, tuple[tuple[str, str], ...]]:
    """Container id -> the ``namespace_chain.<setting>`` facts of its joins that end in the host's
    namespace (``container:vpn-1 -> container:gw-1 -> host``). A container can join one of
    another Compose project or one Compose did not create, which its own project cannot show; the
    daemon lets a joined container join another in turn. A loop or a missing container ends the
    chain, which is then not recorded."""
    by_id = {str(i.get("Id", "")): i for i in inspects}

    def find(ref: str) -> Mapping[str, Any] | None:
        for cid, inspect in by_id.items():
            name = str(inspect.get("Name", "")).lstrip("/")
            if ref in (name, cid) or (len(ref) >= 12 and cid.startswith(ref)):
                return inspect
        return None

    out: dict[str, tuple[tuple[str, str], ...]] = {}
    for cid, inspect in by_id.items():
        facts: list[tuple[str, str]] = []
        for field_name, setting in JOIN_FIELDS:
            mode = str((inspect.get("HostConfig") or {}).get(field_name) or "")
            links: list[str] = []
            seen = {cid}
            while mode.startswith("container:"):
                joined = find(mode.removeprefix("container:"))
                joined_id = str(joined.get("Id", "")) if joined is not None else ""
                if joined is None or joined_id in seen:
                    mode = ""
                    break
                seen.add(joined_id)
                links.append("container:" + str(joined.get("Name", "")).lstrip("/"))
                mode = str((joined.get("HostConfig") or {}).get(field_name) or "")
            if links and mode == "host":
                facts.append((f"namespace_chain.{setting}", " -> ".join((*links, "host"))))
        if facts:
            out[cid] = tuple(facts)
    return out


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _explicit_security_opts(host_config: Mapping[str, Any]) -> list[tuple[int, str]]:
    """SecurityOpt without the ``label=disable`` the daemon appends on its own.

    moby generateSecurityOpt appends ``label=disable`` for privileged, ``--pid host`` and ``--ipc
    host`` containers unless the client gave a ``label`` option (then it adds nothing). So a
    trailing ``label=disable`` that is the only label option on such a container is the daemon's.
    """
    opts = [(i, o) for i, o in enumerate(_list(host_config.get("SecurityOpt"))) if isinstance(o, str)]
    forced = bool(host_config.get("Privileged")) or "host" in (
        host_config.get("PidMode"),
        host_config.get("IpcMode"),
    )
    labels = [o for _, o in opts if re.split("[=:]", o, maxsplit=1)[0] == "label"]
    if forced and opts and opts[-1][1] == "label=disable" and len(labels) == 1:
        opts = opts[:-1]
    return opts


def _security_opts(hc: Mapping[str, Any], loc: Any) -> tuple[Located[str], ...]:
    opts = [Located(o, loc(f"HostConfig.SecurityOpt[{i}]")) for i, o in _explicit_security_opts(hc)]
    # The docker CLI and Compose turn ``systempaths=unconfined`` into empty MaskedPaths and
    # ReadonlyPaths before sending; the daemon stores its default lists when none were sent
    # (privileged: none at all). An empty list is therefore the explicit opt.
    masked = hc.get("MaskedPaths")
    if isinstance(masked, list) and not masked and not hc.get("ReadonlyPaths"):
        opts.append(Located("systempaths=unconfined", loc("HostConfig.MaskedPaths")))
    return tuple(opts)


def _bind_propagation(spec: str) -> tuple[str, str]:
    """``/src:/dst:ro,rshared`` -> (``/dst``, ``rshared``)."""
    parts = spec.split(":")
    target = parts[1] if len(parts) > 1 else parts[0]
    options = parts[2].split(",") if len(parts) > 2 else []
    return target, next((o for o in options if o in PROPAGATIONS), "")


def map_container(
    inspect: Mapping[str, Any],
    host: str,
    engine: EngineFacts,
    *,
    volume_options: Mapping[str, Mapping[str, str]] | None = None,
    runtime_facts: Sequence[tuple[str, str]] = (),
    refs: References | None = None,
) -> AuditedContainer:
    config: Mapping[str, Any] = inspect.get("Config") or {}
    hc: Mapping[str, Any] = inspect.get("HostConfig") or {}
    labels: Mapping[str, str] = config.get("Labels") or {}
    name = str(inspect.get("Name", "")).lstrip("/") or str(inspect.get("Id", ""))[:12]
    path = f"{host}/{name}"
    compose = ComposeLabels.from_labels(labels)

    def loc(note: str) -> Location:
        return Location(path, 0, 0, note)

    def scalar(key: str, value: Any) -> Located[str] | None:
        if not value:
            return None
        text = _reference(str(value), compose.project if compose else "", refs or {})
        return Located(text, loc(f"HostConfig.{key}"))

    def strings(key: str) -> tuple[Located[str], ...]:
        return tuple(Located(str(v), loc(f"HostConfig.{key}[{i}]")) for i, v in enumerate(_list(hc.get(key))))

    image = str(config.get("Image") or inspect.get("Image") or "")

    devices = [
        Located(
            Device(
                str(d.get("PathOnHost", "")),
                str(d.get("PathInContainer", "")),
                str(d.get("CgroupPermissions") or "rwm"),
            ),
            loc(f"HostConfig.Devices[{i}]"),
        )
        for i, d in enumerate(_list(hc.get("Devices")))
    ]
    for i, request in enumerate(_list(hc.get("DeviceRequests"))):
        if (request.get("Driver") or "") == "cdi":
            devices += [
                Located(Device(str(d), str(d), cdi=True), loc(f"HostConfig.DeviceRequests[{i}][{j}]"))
                for j, d in enumerate(_list(request.get("DeviceIds") or request.get("DeviceIDs")))
            ]

    volumes = _mounts(inspect, hc, loc, volume_options or {})
    security_opt = _security_opts(hc, loc)
    sysctls = hc.get("Sysctls") or {}
    ports = sorted(
        {(k[:-4] if k.endswith("/tcp") else k) for k in (hc.get("PortBindings") or {})},
        key=lambda p: (len(p), p),
    )
    healthcheck = (config.get("Healthcheck") or {}).get("Test") or []

    cgroupns = str(hc.get("CgroupnsMode") or "")
    runtime = str(hc.get("Runtime") or "")
    facts = {
        "host": host,
        "container": name,
        "container_id": str(inspect.get("Id", ""))[:12],
        "image": image,
        "state": str((inspect.get("State") or {}).get("Status", "")),
    }
    if compose is not None:
        facts |= {
            "compose_project": compose.project,
            "compose_service": compose.service,
            "compose_files": ",".join(compose.config_files),
            "compose_working_dir": compose.working_dir,
        }
    if image_id := str(inspect.get("Image") or ""):
        facts["image_id"] = image_id
    extra = dict(runtime_facts)
    if cgroupns and cgroupns == engine.cgroupns_default:
        extra["cgroupns"] = f"{cgroupns} (the daemon default; an explicit setting looks the same)"

    service = Service(
        name=compose.service if compose else name,
        project=compose.project if compose else "",
        source=SourceKind.CONTAINER,
        key=loc("container"),
        image=Located(image, loc("Config.Image")) if image else None,
        privileged=Located(True, loc("HostConfig.Privileged")) if hc.get("Privileged") else None,
        cap_add=strings("CapAdd"),
        cap_drop=strings("CapDrop"),
        security_opt=security_opt,
        devices=tuple(devices),
        device_cgroup_rules=strings("DeviceCgroupRules"),
        volumes=volumes,
        volumes_from=strings("VolumesFrom"),
        pid=scalar("PidMode", hc.get("PidMode")),
        ipc=None if hc.get("IpcMode", "") in DEFAULT_IPC else scalar("IpcMode", hc.get("IpcMode")),
        network_mode=scalar("NetworkMode", _network_mode(hc)),
        userns_mode=scalar("UsernsMode", hc.get("UsernsMode")),
        uts=scalar("UTSMode", hc.get("UTSMode")),
        cgroup=None if cgroupns in ("", engine.cgroupns_default) else scalar("CgroupnsMode", cgroupns),
        cgroup_parent=scalar("CgroupParent", hc.get("CgroupParent")),
        user=Located(str(config["User"]), loc("Config.User")) if config.get("User") else None,
        group_add=strings("GroupAdd"),
        read_only=Located(True, loc("HostConfig.ReadonlyRootfs")) if hc.get("ReadonlyRootfs") else None,
        sysctls=tuple(Located(f"{k}={sysctls[k]}", loc(f"HostConfig.Sysctls.{k}")) for k in sorted(sysctls)),
        runtime=None if runtime in ("", engine.default_runtime) else scalar("Runtime", runtime),
        ports=tuple(Located(p, loc("HostConfig.PortBindings")) for p in ports),
        entrypoint=tuple(str(a) for a in _list(config.get("Entrypoint"))),
        command=tuple(str(a) for a in _list(config.get("Cmd"))),
        healthcheck=tuple(str(a) for a in _list(healthcheck)),
        files=compose.config_files if compose else (),
        runtime_facts=tuple(sorted((facts | extra).items())),
        # A missing no-new-privileges is added to the SecurityOpt list when there is one.
        setting_keys=(("security_opt", loc("HostConfig.SecurityOpt")),) if security_opt else (),
    )
    return AuditedContainer(
        host=host,
        name=name,
        id=str(inspect.get("Id", "")),
        image=image,
        created=str(inspect.get("Created", "")),
        status=facts["state"],
        compose=compose,
        service=service,
    )


def group_projects(containers: Sequence[AuditedContainer]) -> list[Project]:
    """The containers of one Compose project on one host form one ``Project`` (so that rules that
    follow ``service:x`` references find ``x``); every other container is a project of its own
    with the name "". Replicas keep their own ``Service`` (same name, own location)."""
    groups: dict[tuple[str, str], list[AuditedContainer]] = {}
    for c in containers:
        key = (c.host, c.compose.project) if c.compose else (c.host, "\0" + c.name)
        groups.setdefault(key, []).append(c)
    projects = []
    for members in groups.values():
        first = members[0]
        projects.append(
            Project(
                name=first.service.project,
                files=first.service.files,
                working_dir=first.compose.working_dir if first.compose else "",
                services=tuple(m.service for m in members),
                source=SourceKind.CONTAINER,
            )
        )
    return projects


def _network_mode(hc: Mapping[str, Any]) -> str:
    """Only a mode is a network_mode: ``default``/``bridge`` and Compose's own network names
    (``<project>_default``) are what a file without ``network_mode`` gets."""
    mode = str(hc.get("NetworkMode") or "")
    return mode if mode in ("host", "none") or mode.startswith("container:") else ""


def _mounts(
    inspect: Mapping[str, Any],
    hc: Mapping[str, Any],
    loc: Any,
    volume_options: Mapping[str, Mapping[str, str]],
) -> tuple[Located[Mount], ...]:
    """Mounts from the container's ``Mounts`` (what is really mounted, with rw and the host path),
    located and given propagation from where they were asked for: ``HostConfig.Binds`` (short
    syntax, ``-v``) or ``HostConfig.Mounts`` (long syntax, ``--mount``). ``Mounts`` reports the
    daemon default ``rprivate`` for every bind; only an explicit propagation is kept."""
    asked: dict[str, tuple[str, str]] = {}  # target -> (note, explicit propagation)
    # The daemon lists ``Mounts`` in Go map order, which changes from one inspect to the next:
    # the mounts are put in the order they were asked for (Binds, then HostConfig.Mounts), the
    # others (image volumes) by target, so findings and reports do not reorder between runs.
    rank: dict[str, tuple[int, int, str]] = {}
    for i, spec in enumerate(_list(hc.get("Binds"))):
        target, propagation = _bind_propagation(str(spec))
        asked[target] = (f"HostConfig.Binds[{i}]", propagation)
        rank.setdefault(target, (0, i, ""))
    for i, m in enumerate(_list(hc.get("Mounts"))):
        propagation = str((m.get("BindOptions") or {}).get("Propagation") or "")
        asked[str(m.get("Target", ""))] = (f"HostConfig.Mounts[{i}]", propagation)
        rank.setdefault(str(m.get("Target", "")), (1, i, ""))

    out: list[Located[Mount]] = []
    seen: set[str] = set()
    reported = list(enumerate(_list(inspect.get("Mounts"))))
    reported.sort(key=lambda im: rank.get(str(im[1].get("Destination", "")), (2, 0, str(im[1].get("Destination", "")))))
    for i, m in reported:
        target = str(m.get("Destination", ""))
        seen.add(target)
        note, propagation = asked.get(target, (f"Mounts[{i}]", ""))
        kind = str(m.get("Type") or "volume")
        source = str(m.get("Source", ""))
        host_path = ""
        if kind == "volume":
            vname = str(m.get("Name") or "")
            source = "" if ANONYMOUS_VOLUME.match(vname) else vname
            opts = volume_options.get(vname) or {}
            if "bind" in str(opts.get("o", "")).split(","):
                host_path = str(opts.get("device", ""))
        out.append(
            Located(
                Mount(kind, target, source, not bool(m.get("RW", True)), propagation, host_path),
                loc(note),
            )
        )
    # A container that was created but never started may lack entries in Mounts for
    # HostConfig.Mounts (tmpfs in particular): keep what was asked for.
    for i, m in enumerate(_list(hc.get("Mounts"))):
        target = str(m.get("Target", ""))
        if target not in seen:
            propagation = str((m.get("BindOptions") or {}).get("Propagation") or "")
            out.append(
                Located(
                    Mount(
                        str(m.get("Type") or "volume"),
                        target,
                        str(m.get("Source") or ""),
                        bool(m.get("ReadOnly")),
                        propagation,
                    ),
                    loc(f"HostConfig.Mounts[{i}]"),
                )
            )
    return tuple(out)
