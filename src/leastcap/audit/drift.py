"""Drift: a running container that differs, in privilege, from the Compose file it came from.

``leastcap audit --drift`` loads the Compose files named by each container's ``com.docker.compose``
labels (when they are readable on this machine) and compares the container with the effective
service config, one privilege setting at a time. Only privilege settings are compared; the
comparison is on meaning, not spelling (``net_admin`` in the file equals ``CAP_NET_ADMIN`` on the
container; capabilities are compared as effective sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from leastcap import capabilities
from leastcap.model import Confidence, Finding, Located, Location, Service, Severity, SourceKind
from leastcap.rules.base import Comparison, ComparisonRule
from leastcap.semantics import effective_security_opts, host_path, is_root_user, parse_go_bool

# security_opt values that loosen confinement (moby parseSecurityOpt; ':' is the legacy separator).
LOOSENING = frozenset({"seccomp=unconfined", "apparmor=unconfined", "label=disable", "systempaths=unconfined"})


class DriftRule(ComparisonRule):
    """Drift between a running container and its Compose file.

    ## What it does
    Compares each container on the audited hosts with the effective config of the Compose service
    it was created from (the files named by its ``com.docker.compose.project.config_files`` label,
    loaded the way ``docker compose`` loads them) in every privilege setting: ``privileged``, the
    effective capability set, ``security_opt`` (seccomp, AppArmor, SELinux labels, systempaths,
    no-new-privileges), devices and device cgroup rules, bind mounts, host namespaces (pid, ipc,
    network, userns, uts, cgroup), ``user`` (when the file sets it), ``group_add``, ``read_only``
    and ``sysctls``. It reports:

    - a container with more privilege than its file says (high): started by hand with other flags,
      or the file was fixed and the container never recreated;
    - a container with less privilege than the file (low): the file was loosened and not applied;
    - a container whose service is no longer in its Compose files (medium);
    - a container that was not created by Compose at all (medium): no file describes it.

    When the file was modified after the container was created, the message says so: the fix is
    then simply to recreate the container.

    It is a comparison rule: it needs two inputs, the container and its file, which
    ``leastcap audit --drift`` pairs up (``leastcap.audit.compare``) for the pipeline.

    ## Why is this bad
    Reviews, ``leastcap scan`` in CI and exceptions all judge the files. A container that runs with
    settings no file contains escapes all of them: ``privileged: true`` removed in a merge request
    keeps running on the host until somebody runs ``docker compose up``, and a container started
    with ``docker run --privileged`` during an incident stays invisible to every file-based check.

    ## Example
    ```yaml
    # compose.yaml, fixed on Monday
    services:
      agent:
        image: example/agent
        cap_add: [NET_ADMIN]
    ```
    while the host still runs the container created last month with ``privileged: true``:
    ``drift: local/app-agent-1 runs privileged, the Compose file says not``.

    ## Fix
    Recreate the container from the file (``docker compose up -d agent``), or, when the running
    setting is the one that is really needed, write it into the file so that it is reviewed. Start
    containers through Compose rather than ``docker run`` so that a file describes them.
    """

    slug = "drift"
    summary = "a running container differs in privilege from its Compose file, or has no Compose file"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    # CIS Docker Benchmark 5.x judges running containers, not their provenance; no item matches.
    cis = ()

    def compare(self, pair: Comparison) -> list[Finding]:
        if pair.declared is None and not pair.compose_files:
            return [self._not_from_compose(pair)]
        if pair.declared is None:
            return [self._orphan(pair)]
        running = pair.running
        changed_after = _file_changed_after(pair.created, pair.file_modified)
        out: list[Finding] = []
        for diff in diff_services(running, pair.declared):
            reason = (
                "the Compose file changed after the container was created: recreate it (docker compose up -d)"
                if changed_after
                else "the container was created with other settings than the current file"
                " (by hand, other -f files or another environment)"
            )
            more = diff.more_privilege_on_container
            message = f"{diff.what}; {reason}" if more else f"{diff.what} (the file grants more); {reason}"
            out.append(
                self.finding(
                    running,
                    pair.running_project,
                    message,
                    diff.container_location,
                    related=(diff.file_location,),
                    severity=Severity.HIGH if more else Severity.LOW,
                    facts=(("drift_setting", diff.setting),),
                )
            )
        return out

    def _orphan(self, pair: Comparison) -> Finding:
        running, project = pair.running, pair.running_project
        return self.finding(
            running,
            project,
            f"service {running.name!r} of Compose project {project.name!r} is no longer in"
            f" its Compose files ({', '.join(pair.compose_files)}): the container runs settings no file describes",
            running.key,
            severity=Severity.MEDIUM,
            facts=(("drift_setting", "service"),),
        )

    def _not_from_compose(self, pair: Comparison) -> Finding:
        running = pair.running
        return self.finding(
            running,
            pair.running_project,
            f"container {running.key.path.rsplit('/', 1)[-1]!r} was not created by Docker Compose:"
            " no Compose file describes its settings",
            running.key,
            severity=Severity.MEDIUM,
            facts=(("drift_setting", "compose"),),
        )


@dataclass(frozen=True, slots=True)
class Difference:
    setting: str
    what: str
    more_privilege_on_container: bool
    container_location: Location
    file_location: Location


def _file_changed_after(created: str, modified: float | None) -> bool:
    if not created or modified is None:
        return False
    # Docker writes RFC 3339 with nanoseconds; Python parses at most microseconds.
    text = created.rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        when = datetime.fromisoformat(head + ("." + frac[:6] if frac else "")).replace(tzinfo=UTC)
    except ValueError:
        return False
    return modified > when.timestamp()


def _security(service: Service) -> tuple[dict[str, str], dict[str, Location]]:
    """The security_opt in effect, by key (``semantics.effective_security_opts``), spelled so that
    the file's and the container's compare: a seccomp profile is ``<profile>`` (compose sends the
    profile's JSON, the file names its path), no-new-privileges is ``true`` or ``false``."""
    values: dict[str, str] = {}
    where: dict[str, Location] = {}
    for key, option in effective_security_opts(service.security_opt).items():
        value = option.value
        if key == "seccomp" and value not in ("unconfined", "builtin", ""):
            value = "<profile>"
        if key == "no-new-privileges":
            on = parse_go_bool(value)
            value = value if on is None else str(on).lower()
        values[key] = value
        where[key] = option.entry.origin
    return values, where


# The inspect field of each compared setting: where a finding points on the container side when
# the container has no entry of its own for what differs (the file's setting is missing there).
_FIELDS = {
    "privileged": "HostConfig.Privileged",
    "cap_add": "HostConfig.CapAdd",
    "cap_drop": "HostConfig.CapDrop",
    "capabilities": "HostConfig.CapAdd",
    "security_opt": "HostConfig.SecurityOpt",
    "devices": "HostConfig.Devices",
    "device_cgroup_rules": "HostConfig.DeviceCgroupRules",
    "volumes": "Mounts",
    "group_add": "HostConfig.GroupAdd",
    "sysctls": "HostConfig.Sysctls",
    "pid": "HostConfig.PidMode",
    "ipc": "HostConfig.IpcMode",
    "network_mode": "HostConfig.NetworkMode",
    "userns_mode": "HostConfig.UsernsMode",
    "uts": "HostConfig.UTSMode",
    "cgroup": "HostConfig.CgroupnsMode",
    "read_only": "HostConfig.ReadonlyRootfs",
    "user": "Config.User",
}


def _field(service: Service, setting: str) -> Location:
    """The place of a whole setting: its inspect field on a container, its key (or the service's
    key) in a file."""
    if service.source is SourceKind.CONTAINER:
        return Location(service.key.path, 0, 0, _FIELDS[setting])
    return service.setting_key(setting) or service.key


def _deciding(entries: tuple[Located[str], ...], capability: str) -> Location | None:
    """The entry of a cap_add or cap_drop list that names ``capability`` (or ALL)."""
    for entry in entries:
        if capabilities.try_normalize(entry.value) in (capability, capabilities.ALL):
            return entry.origin
    return None


def _capability_places(
    running: Service, declared: Service, extra: list[str], missing: list[str]
) -> tuple[Location, Location]:
    """Where the capability that differs is decided on each side, not the first entry of a list:
    for a capability only the container has, the container's entry that adds it (an explicitly
    added one first) and the file's entry that drops it; for one only the file grants, the
    container's entry that drops it and the file's entry that adds it. Where no entry decides it
    (a default capability kept by not dropping it), the list's field or key."""
    if extra:
        added = [c for c in extra if _deciding(running.cap_add, c) is not None]
        cap = (added or extra)[0]
        return (
            _deciding(running.cap_add, cap) or _field(running, "cap_drop"),
            _deciding(declared.cap_drop, cap) or _field(declared, "cap_drop"),
        )
    cap = missing[0]
    return (
        _deciding(running.cap_drop, cap) or _field(running, "cap_add"),
        _deciding(declared.cap_add, cap) or _field(declared, "cap_drop"),
    )


def diff_services(running: Service, declared: Service) -> list[Difference]:
    """Every privilege setting in which ``running`` (the container) differs from ``declared``."""
    diff = _Differ(running, declared)
    either_privileged = diff.privileged()
    if not either_privileged:
        diff.capabilities()
    diff.security_opt()
    diff.sets()
    diff.namespaces()
    diff.read_only()
    diff.user()
    return diff.out


def _caps(svc: Service) -> frozenset[str]:
    eff = capabilities.effective([c.value for c in svc.cap_add], [c.value for c in svc.cap_drop], privileged=False)
    return eff.capabilities


def _devices(svc: Service) -> dict[str, Location]:
    return {f"{d.value.source}:{d.value.target}" if not d.value.cdi else d.value.source: d.origin for d in svc.devices}


def _binds(svc: Service) -> dict[str, Location]:
    out: dict[str, Location] = {}
    for m in svc.volumes:
        host = host_path(m.value)
        if host:
            mode = "ro" if m.value.read_only else "rw"
            prop = f",{m.value.propagation}" if m.value.propagation else ""
            out[f"{host}:{m.value.target}:{mode}{prop}"] = m.origin
    return out


def _plain(items: tuple[Located[str], ...]) -> dict[str, Location]:
    return {str(i.value): i.origin for i in items}


class _Differ:
    """The comparison of one container with its Compose service, one setting group per method."""

    def __init__(self, running: Service, declared: Service) -> None:
        self.running = running
        self.declared = declared
        self.out: list[Difference] = []

    def add(self, setting: str, what: str, more: bool, c_loc: Location | None, f_loc: Location | None) -> None:
        c_loc = c_loc or _field(self.running, setting)
        self.out.append(Difference(setting, what, more, c_loc, f_loc or _field(self.declared, setting)))

    def _flag(self, setting: str, container_only: str, file_only: str, more_when_container_sets_it: bool) -> bool:
        """Compare a boolean setting (``privileged``, ``read_only``); ``container_only`` and
        ``file_only`` say what differs when only that side sets it. True when either side does."""
        r_val, d_val = getattr(self.running, setting), getattr(self.declared, setting)
        r_on, d_on = bool(r_val and r_val.value), bool(d_val and d_val.value)
        if r_on != d_on:
            self.add(
                setting,
                container_only if r_on else file_only,
                r_on == more_when_container_sets_it,
                r_val.origin if r_val else None,
                d_val.origin if d_val else None,
            )
        return r_on or d_on

    def privileged(self) -> bool:
        """Compare ``privileged``; True when either side is privileged (capabilities then say nothing)."""
        return self._flag(
            "privileged",
            "the container runs privileged, the Compose file says not",
            "the Compose file says privileged, the container does not run privileged",
            more_when_container_sets_it=True,
        )

    def capabilities(self) -> None:
        r_caps, d_caps = _caps(self.running), _caps(self.declared)
        if r_caps == d_caps:
            return
        extra = capabilities.sort_capabilities(r_caps - d_caps)
        missing = capabilities.sort_capabilities(d_caps - r_caps)
        parts = []
        if extra:
            parts.append("the container has " + ", ".join(capabilities.short(c) for c in extra))
        if missing:
            parts.append("the file grants " + ", ".join(capabilities.short(c) for c in missing))
        container_place, file_place = _capability_places(self.running, self.declared, extra, missing)
        self.add(
            "capabilities",
            "capabilities differ from the Compose file: " + "; ".join(parts),
            bool(extra),
            container_place,
            file_place,
        )

    def security_opt(self) -> None:
        r_sec, r_where = _security(self.running)
        d_sec, d_where = _security(self.declared)
        for key in sorted(set(r_sec) | set(d_sec)):
            rv, dv = r_sec.get(key), d_sec.get(key)
            if rv == dv:
                continue
            r_text = f"{key}={rv}" if rv is not None else None
            d_text = f"{key}={dv}" if dv is not None else None
            if key.startswith("label="):
                r_text, d_text = (key if rv is not None else None), (key if dv is not None else None)
            more = (r_text in LOOSENING and d_text not in LOOSENING) or (
                key == "no-new-privileges" and dv == "true" and rv != "true"
            )
            self.add(
                "security_opt",
                f"security_opt {key}: the container has {r_text or 'nothing'}, the file says {d_text or 'nothing'}",
                more,
                r_where.get(key),
                d_where.get(key),
            )

    def _compare_sets(self, setting: str, r: dict[str, Location], d: dict[str, Location], noun: str) -> None:
        extra = sorted(set(r) - set(d))
        missing = sorted(set(d) - set(r))
        if extra:
            self.add(
                setting,
                f"the container has {noun} not in the Compose file: {', '.join(extra)}",
                True,
                r[extra[0]],
                None,
            )
        if missing:
            self.add(
                setting,
                f"the Compose file has {noun} the container lacks: {', '.join(missing)}",
                False,
                None,
                d[missing[0]],
            )

    def sets(self) -> None:
        running, declared = self.running, self.declared
        self._compare_sets("devices", _devices(running), _devices(declared), "devices")
        self._compare_sets(
            "device_cgroup_rules",
            _plain(running.device_cgroup_rules),
            _plain(declared.device_cgroup_rules),
            "device cgroup rules",
        )
        self._compare_sets("volumes", _binds(running), _binds(declared), "host mounts")
        self._compare_sets("group_add", _plain(running.group_add), _plain(declared.group_add), "groups")
        self._compare_sets("sysctls", _plain(running.sysctls), _plain(declared.sysctls), "sysctls")

    def namespaces(self) -> None:
        for setting in ("pid", "ipc", "network_mode", "userns_mode", "uts", "cgroup"):
            r_val, d_val = getattr(self.running, setting), getattr(self.declared, setting)
            r_host = r_val is not None and r_val.value == "host"
            d_host = d_val is not None and d_val.value == "host"
            if r_host != d_host:
                self.add(
                    setting,
                    f"{setting}: the container shares the host's namespace, the Compose file does not"
                    if r_host
                    else f"{setting}: the Compose file shares the host's namespace, the container does not",
                    r_host,
                    r_val.origin if r_val else None,
                    d_val.origin if d_val else None,
                )

    def read_only(self) -> None:
        self._flag(
            "read_only",
            "the container's root filesystem is read-only, the Compose file does not say so",
            "the Compose file says read_only, the container's root filesystem is writable",
            more_when_container_sets_it=False,
        )

    def user(self) -> None:
        # The daemon fills Config.User from the image's USER, so only a user the file sets is compared.
        running, declared = self.running, self.declared
        if declared.user is None:
            return
        r_user = running.user.value if running.user else ""
        if r_user != declared.user.value:
            self.add(
                "user",
                f"user: the container runs as {r_user or '(image default)'!s}, the Compose file says"
                f" {declared.user.value}",
                is_root_user(r_user) and not is_root_user(declared.user.value),
                running.user.origin if running.user else None,
                declared.user.origin,
            )
