"""Project and Service: the privilege-relevant view of one service, whatever its input was.

Values keep the place they were written (``Located``). Lists keep the effective order after
Compose's merge rules. Nothing here is interpreted yet: ``cap_add`` holds the strings as written
(``net_admin``), and ``leastcap.capabilities`` gives them meaning. That keeps rules honest about
spelling and lets the fixer edit exactly what the user wrote.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from leastcap.model.location import Located, Location


class SourceKind(enum.Enum):
    # A Compose file: on disk, or a version in git history (``leastcap history`` reads it through
    # a GitTree; its paths are repository-relative and the commit travels with the timeline).
    FILE = "file"
    CONTAINER = "container"  # docker inspect of a container
    SCRIPT = "script"  # a docker run command in a script, CI config, Dockerfile...


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume entry in its long form. ``type`` is bind, volume, tmpfs, npipe, cluster or image.

    ``source`` is the host path for binds (absolute after resolution when known), the volume name
    for named volumes, "" for anonymous volumes. ``host_path`` is set for a named volume that is in
    fact a bind (top-level ``driver_opts: {o: bind, device: /x}``).
    """

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    propagation: str = ""
    host_path: str = ""


@dataclass(frozen=True, slots=True)
class Device:
    """A device mapping. ``cdi`` is true for a CDI name (``vendor.com/class=name``)."""

    source: str
    target: str
    permissions: str = "rwm"
    cdi: bool = False


@dataclass(frozen=True, slots=True)
class Hook:
    """A lifecycle hook (``post_start``, ``pre_stop``, ``pre_start``) that matters for privilege."""

    kind: str
    privileged: Located[bool] | None = None
    user: Located[str] | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning about an input, for the ``errors``/``warnings`` of the JSON report."""

    path: str
    message: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    project: str
    source: SourceKind
    # The line of the service's key (`  web:`): where a service-level ignore comment lives and
    # where findings about a missing setting point.
    key: Location
    image: Located[str] | None = None
    profiles: tuple[str, ...] = ()
    # Explicitly enabled under the active profiles (profile-gated services are still scanned).
    enabled: bool = True

    privileged: Located[bool] | None = None
    cap_add: tuple[Located[str], ...] = ()
    cap_drop: tuple[Located[str], ...] = ()
    security_opt: tuple[Located[str], ...] = ()
    devices: tuple[Located[Device], ...] = ()
    device_cgroup_rules: tuple[Located[str], ...] = ()
    volumes: tuple[Located[Mount], ...] = ()
    volumes_from: tuple[Located[str], ...] = ()
    pid: Located[str] | None = None
    ipc: Located[str] | None = None
    network_mode: Located[str] | None = None
    userns_mode: Located[str] | None = None
    uts: Located[str] | None = None
    cgroup: Located[str] | None = None
    cgroup_parent: Located[str] | None = None
    user: Located[str] | None = None
    group_add: tuple[Located[str], ...] = ()
    read_only: Located[bool] | None = None
    sysctls: tuple[Located[str], ...] = ()  # "key=value"
    use_api_socket: Located[bool] | None = None
    build_privileged: Located[bool] | None = None
    build_entitlements: tuple[Located[str], ...] = ()
    hooks: tuple[Hook, ...] = ()
    runtime: Located[str] | None = None
    # Ports the service publishes or listens on, when known ("80", "53/udp"): used by the fixer
    # to infer NET_BIND_SERVICE on host networking.
    ports: tuple[Located[str], ...] = ()
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    # Files the service was assembled from, in load order (main file, overrides, extends bases...).
    files: tuple[str, ...] = ()
    # Container-only facts (audit): host, container id/name, effective capability sets.
    runtime_facts: tuple[tuple[str, str], ...] = field(default=())
    # Where the list settings' keys are written (``security_opt`` -> its ``security_opt:`` line):
    # a finding about a missing entry points where the user will add it.
    setting_keys: tuple[tuple[str, Location], ...] = field(default=())

    def setting_key(self, name: str) -> Location | None:
        for key, location in self.setting_keys:
            if key == name:
                return location
        return None

    @property
    def is_script(self) -> bool:
        return self.source is SourceKind.SCRIPT


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    # The Compose files that make up the project, in -f order, as display paths.
    files: tuple[str, ...]
    working_dir: str
    services: tuple[Service, ...]
    source: SourceKind = SourceKind.FILE
    active_profiles: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)
