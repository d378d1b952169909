from __future__ import annotations

import posixpath
from collections.abc import Iterator

from leastcap.model import Finding, Located, Mount, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules.base import Rule
from leastcap.rules.docker_socket import SOCKETS
from leastcap.semantics import host_path

# Host paths whose bind is sensitive as such, and whether their sub-paths are too.
_ROOTS: dict[str, tuple[str, bool]] = {
    "/": ("the host's whole file system", True),
    "/proc": ("the host's /proc (other processes, kernel tunables)", True),
    "/sys": ("the host's /sys (kernel and device settings, cgroups)", True),
    "/dev": ("the host's /dev (device nodes)", False),
    "/etc": ("the host's configuration (/etc: users, sudoers, cron, systemd)", False),
    "/boot": ("the host's kernel and boot loader (/boot)", True),
    "/root": ("root's home directory on the host", True),
    "/lib/modules": ("the host's kernel modules", True),
    "/usr/lib/modules": ("the host's kernel modules", True),
    "/var/lib/docker": ("Docker's state (every container's files, volumes and logs)", True),
    "/run": ("the host's /run (runtime sockets, including the Docker API)", False),
    "/var/run": ("the host's /var/run (runtime sockets, including the Docker API)", False),
}
# /etc entries that hold secrets or control privilege: sensitive even read-only.
_ETC_SECRETS = (
    "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/sudoers.d", "/etc/ssh", "/etc/kubernetes",
    "/etc/docker/daemon.json", "/etc/docker/certs.d", "/etc/docker/key.json", "/etc/ssl/private",
    "/etc/letsencrypt", "/etc/wireguard", "/etc/security", "/etc/pam.d", "/etc/cron.d", "/etc/crontab",
    "/etc/systemd", "/etc/ld.so.preload", "/etc/containerd",
)
# The /etc/docker directory itself holds daemon.json and TLS keys (sub-directories people create
# there for their own volumes are not the daemon's).
_ETC_SECRET_DIRS_EXACT = ("/etc/docker",)
# Host files a writable bind lets the container change for the whole host: users, name
# resolution, boot-time modules and sysctls, login scripts, package sources.
_ETC_HOST_CONTROL = (
    "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/etc/fstab",
    "/etc/environment", "/etc/profile", "/etc/profile.d", "/etc/bash.bashrc", "/etc/rc.local",
    "/etc/init.d", "/etc/modprobe.d", "/etc/modules-load.d", "/etc/sysctl.conf", "/etc/sysctl.d",
    "/etc/udev", "/etc/apt", "/etc/yum.repos.d", "/etc/netplan", "/etc/network", "/etc/NetworkManager",
    "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
)


def _under(path: str, root: str) -> bool:
    return root in ("/", path) or path.startswith(root + "/")


def classify(path: str, read_only: bool) -> tuple[Severity, str] | None:
    """Severity and description of a host path bind, or None when it is not sensitive.

    Sub-paths of /etc are reported when they hold secrets or privilege settings (even read-only),
    or when a writable bind lets the container change host-wide settings (users, name resolution,
    boot-time modules, login scripts). ``/etc/localtime:ro`` and an application's own directory
    such as ``/etc/pihole`` are routine.
    Sub-paths of /dev, /run and /var/run are not this rule's business (devices are host-device's,
    runtime sockets docker-socket's).
    """
    writable_sev = Severity.HIGH if read_only else Severity.CRITICAL
    if path in _ROOTS:
        return writable_sev, _ROOTS[path][0]
    if _under(path, "/etc"):
        if path in _ETC_SECRET_DIRS_EXACT or any(_under(path, secret) for secret in _ETC_SECRETS):
            return writable_sev, f"the host's {path} (secrets or privilege settings)"
        if any(_under(path, host_file) for host_file in _ETC_HOST_CONTROL):
            return None if read_only else (Severity.HIGH, f"the host's {path}, which configures the whole host")
        # An application's own directory (/etc/pihole, /etc/traefik) is that application's data.
        return None
    for root, (what, subpaths) in _ROOTS.items():
        if root != "/" and subpaths and _under(path, root):
            return writable_sev, f"{path}, part of {what}"
    return None


class SensitiveMount(Rule):
    """Flags binds of sensitive host paths and shared mount propagation.

    ## What it does
    Reports a bind mount (or a top-level named volume that is a bind through
    ``driver_opts: {o: bind}``) of ``/``, ``/proc``, ``/sys``, ``/dev``, ``/etc``, ``/boot``,
    ``/root``, ``/lib/modules``, ``/var/lib/docker``, ``/run`` or ``/var/run``: high when read-only,
    critical when writable. Sub-paths of ``/proc``, ``/sys``, ``/boot``, ``/root``,
    ``/lib/modules`` and ``/var/lib/docker`` count too. Under ``/etc`` only files that hold
    secrets or privilege settings (``/etc/shadow``, ``/etc/sudoers``, ``/etc/ssh``,
    ``/etc/kubernetes``, ``/etc/docker``, ``/etc/wireguard``, ``/etc/systemd``, ``/etc/cron.d``,
    ...) are reported even read-only; host-wide settings (``/etc/passwd``, ``/etc/hosts``,
    ``/etc/resolv.conf``, ``/etc/profile.d``, ``/etc/modprobe.d``, ...) only when writable; an
    application's own directory (``/etc/pihole``, ``/etc/traefik``) and the common
    ``/etc/localtime:/etc/localtime:ro`` stay quiet. Runtime sockets under ``/run`` are left to
    ``docker-socket``, device nodes under ``/dev`` to ``host-device``. Also reports any bind with
    ``shared`` or ``rshared`` propagation (high).

    ## Why is this bad
    These paths are the host's control surface: writing ``/etc`` adds users and cron jobs,
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
    cis = ("5.5", "5.19")

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        for entry in service.volumes:
            path = host_path(entry.value)
            if path is None:
                continue
            if posixpath.basename(path) not in SOCKETS:
                finding = self._path(service, project, entry, path)
                if finding is not None:
                    yield finding
            if entry.value.propagation in ("shared", "rshared"):
                yield self.finding(
                    service, project,
                    f"service {service.name!r} mounts {path} with {entry.value.propagation} propagation: "
                    "mounts made in the container appear on the host" + context(service, entry),
                    entry.origin, entry.via, confidence=confidence_for(entry),
                    facts=(("source", path), ("propagation", entry.value.propagation)),
                )

    def _path(self, service: Service, project: Project, entry: Located[Mount], path: str) -> Finding | None:
        verdict = classify(path, entry.value.read_only)
        if verdict is None:
            return None
        severity, what = verdict
        mode = "read-only" if entry.value.read_only else "writable"
        return self.finding(
            service, project,
            f"service {service.name!r} mounts {what} {mode} at {entry.value.target}"
            + context(service, entry),
            entry.origin, entry.via, severity=severity, confidence=confidence_for(entry),
            facts=(("source", path), ("read_only", str(entry.value.read_only).lower())),
        )
