from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Located, Mount, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules._sockets import exposure
from leastcap.rules.base import Rule
from leastcap.semantics import host_path

# Host paths whose bind is sensitive as such (high read-only, critical writable), and whether
# their sub-paths are too.
_ROOTS: dict[str, tuple[str, bool]] = {
    "/proc": ("the host's /proc (other processes, kernel tunables)", True),
    "/sys": ("the host's /sys (kernel and device settings, cgroups)", True),
    "/etc": ("the host's configuration (/etc: users, sudoers, cron, systemd)", False),
    "/boot": ("the host's kernel and boot loader (/boot)", True),
    "/root": ("root's home directory on the host", True),
    "/lib/modules": ("the host's kernel modules", True),
    "/usr/lib/modules": ("the host's kernel modules", True),
    "/var/lib/docker": ("Docker's state (every container's files, volumes and logs)", True),
}
# Critical read-only too: a read-only mount does not stop writes to device nodes or connections
# to sockets (the kernel refuses writes on a read-only mount only for files, directories, links).
_CRITICAL_ANYWAY: dict[str, str] = {
    "/": "the host's whole file system (every host file, secret and socket: Docker API, systemd, D-Bus)",
    "/dev": "the host's /dev: its device nodes, its terminals (/dev/pts) and shared memory (/dev/shm)",
    "/dev/pts": "the host's terminals (/dev/pts): typing into root's shell with TIOCSTI",
}
# /etc entries that hold secrets or control privilege: sensitive even read-only (so is a bind of
# a directory above one, such as /etc/ssl for /etc/ssl/private).
_ETC_SECRETS = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/kubernetes",
    "/etc/docker/daemon.json",
    "/etc/docker/certs.d",
    "/etc/docker/key.json",
    "/etc/ssl/private",
    "/etc/letsencrypt",
    "/etc/wireguard",
    "/etc/security",
    "/etc/pam.d",
    "/etc/cron.d",
    "/etc/crontab",
    "/etc/systemd",
    "/etc/ld.so.preload",
    "/etc/containerd",
)
# The /etc/docker directory itself holds daemon.json and TLS keys (sub-directories people create
# there for their own volumes are not the daemon's).
_ETC_SECRET_DIRS_EXACT = ("/etc/docker",)
# Where the host keeps its programs, libraries and configuration: a writable bind lets the
# container change what root runs on the host.
_SYSTEM = ("/etc", "/usr", "/boot", "/lib", "/root", "/bin", "/sbin", "/lib32", "/lib64", "/libx32")


def _under(path: str, root: str) -> bool:
    return root in ("/", path) or path.startswith(root + "/")


def classify(path: str, read_only: bool) -> tuple[Severity, str] | None:
    """Severity and description of a host path bind, or None when it is not sensitive.

    Read-only binds under /etc are silent unless they hold secrets or privilege settings; writable
    binds anywhere under the system directories are high at least. Sockets and the directories
    that hold them are docker-socket's and host-socket's; device nodes under /dev host-device's.
    """
    writable_sev = Severity.HIGH if read_only else Severity.CRITICAL
    if path in _CRITICAL_ANYWAY:
        return Severity.CRITICAL, _CRITICAL_ANYWAY[path]
    if path in _ROOTS:
        return writable_sev, _ROOTS[path][0]
    if _under(path, "/etc") and (
        path in _ETC_SECRET_DIRS_EXACT or any(_under(path, s) or _under(s, path) for s in _ETC_SECRETS)
    ):
        return writable_sev, f"the host's {path} (secrets or privilege settings)"
    for root, (what, subpaths) in _ROOTS.items():
        if subpaths and _under(path, root):
            return writable_sev, f"{path}, part of {what}"
    if not read_only and any(_under(path, root) for root in _SYSTEM):
        return Severity.HIGH, f"the host's {path}, part of the host's system files and configuration"
    return None


class SensitiveMount(Rule):
    """Flags binds of sensitive host paths and shared mount propagation.

    ## What it does
    Reports a bind mount (or a top-level named volume that is a bind through
    ``driver_opts: {o: bind}``) of a host path that controls or exposes the host:

    - critical whether read-only or not: ``/`` (every host file, secret and socket), ``/dev``
      and ``/dev/pts`` (a read-only mount does not stop writes to device nodes; the host's
      terminals take keystrokes through ``TIOCSTI``);
    - high read-only, critical writable: ``/proc``, ``/sys``, ``/etc``, ``/boot``, ``/root``,
      ``/lib/modules``, ``/var/lib/docker`` and everything under them except ``/etc``, and
      under ``/etc`` the files that hold secrets or privilege settings (``/etc/shadow``,
      ``/etc/gshadow``, ``/etc/sudoers``, ``/etc/sudoers.d``, ``/etc/ssh``, ``/etc/kubernetes``,
      ``/etc/docker``, ``/etc/ssl/private``, ``/etc/letsencrypt``, ``/etc/wireguard``,
      ``/etc/security``, ``/etc/pam.d``, ``/etc/cron.d``, ``/etc/crontab``, ``/etc/systemd``,
      ``/etc/ld.so.preload``, ``/etc/containerd``) or a directory above one (``/etc/ssl``);
    - high when writable: anything else under the host's system directories ``/etc``, ``/usr``,
      ``/boot``, ``/lib``, ``/root``, ``/bin``, ``/sbin``, ``/lib32``, ``/lib64``, ``/libx32``.

    Read-only binds of other files under ``/etc`` stay silent. That is where the well-known
    harmless mounts are: ``/etc/localtime``, ``/etc/timezone``, ``/etc/ssl/certs``,
    ``/etc/ca-certificates``, ``/etc/pki/ca-trust``, ``/etc/machine-id``, ``/etc/os-release``,
    ``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/passwd``, ``/etc/group``:
    every user of the host can read them, they hold no secret, and a read-only bind cannot
    change them. The list of what is reported read-only is the secrets list above, kept short on
    purpose: flagging every read-only ``/etc`` file would bury the findings that matter.
    Sockets and the directories that hold them (``/run``, ``/var/run``, ``/run/dbus``, ...) are
    left to ``docker-socket`` and ``host-socket``; device nodes under ``/dev`` to ``host-device``
    (without a ``devices`` entry the device cgroup denies them). Also reports any bind with
    ``shared`` or ``rshared`` propagation (high).

    ## Why is this bad
    These paths are the host's control surface: writing ``/etc`` adds users and cron jobs,
    writing ``/usr`` or ``/lib`` replaces programs and libraries root runs on the host,
    ``/proc/sys`` and ``/sys`` change kernel settings, ``/var/lib/docker`` holds every other
    container's data, ``/`` is all of it. Even read-only they leak secrets (shadow hashes, keys,
    other containers' files). With ``rshared`` propagation, mounts the container makes appear on
    the host.

    ## Example
    ```yaml
    services:
      agent:
        image: agent
        volumes:
          - /:/host
          - /etc/localtime:/etc/localtime:ro   # fine
    ```

    ## Fix
    Mount only the sub-directory the service needs, read-only, and without shared propagation.
    ```yaml
    services:
      agent:
        image: agent
        volumes:
          - /var/log/app:/logs:ro
    ```
    """

    slug = "sensitive-mount"
    summary = "A sensitive host path is mounted, or a mount propagates to the host"
    severity = Severity.HIGH
    cis = ("5.6", "5.20")

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for entry in service.volumes:
            path = host_path(entry.value)
            if path is None:
                continue
            if exposure(path) is None:
                finding = self._path(service, project, entry, path)
                if finding is not None:
                    yield finding
            if entry.value.propagation in ("shared", "rshared"):
                yield self.finding(
                    service,
                    project,
                    f"service {service.name!r} mounts {path} with {entry.value.propagation} propagation: "
                    "mounts made in the container appear on the host" + context(service, entry),
                    entry.origin,
                    entry.via,
                    confidence=confidence_for(entry),
                    facts=(("source", path), ("propagation", entry.value.propagation)),
                )

    def _path(self, service: Service, project: Project, entry: Located[Mount], path: str) -> Finding | None:
        verdict = classify(path, entry.value.read_only)
        if verdict is None:
            return None
        severity, what = verdict
        mode = "read-only" if entry.value.read_only else "writable"
        return self.finding(
            service,
            project,
            f"service {service.name!r} mounts {what} {mode} at {entry.value.target}" + context(service, entry),
            entry.origin,
            entry.via,
            severity=severity,
            confidence=confidence_for(entry),
            facts=(("source", path), ("read_only", str(entry.value.read_only).lower())),
        )
