"""What a privileged service's bind-mounted devices need once privileged is gone.

``privileged: true`` also opens the device cgroup: every host device may be opened. A service that
bind-mounts ``/dev/ttyUSB0`` or a device directory (``/dev/input``, ``/dev/dri``, ``/dev/bus/usb``)
still sees the nodes without it, but opening them fails with EPERM. So the fix carries the access
over: a named node becomes a ``devices:`` entry; a directory (whose nodes come and go: hotplug)
becomes a narrow ``device_cgroup_rules`` entry for its device class's major number. The number
comes from the kernel's static assignments (Documentation/admin-guide/devices.txt and the headers
that define them) or, failing that, from the nodes present under the directory on this host (said
so: another host may number a dynamic class differently). When neither tells, or the service binds
all of ``/dev``, privileged is kept and the reason says what is missing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from leastcap.model import Service
from leastcap.semantics import host_path

DEVICES_TXT = "https://www.kernel.org/doc/Documentation/admin-guide/devices.txt"

# Directories whose nodes have statically assigned majors: (type, major, what) per directory.
# input 13 (devices.txt "13 char Input core"), DRM 226 (DRM_MAJOR), USB device files 189
# (USB_DEVICE_MAJOR, linux/usb.h), ALSA 116, video4linux 81 (VIDEO_MAJOR), USB serial 188
# (SERIAL_TTY_MAJOR) and ACM modems 166 (the usual targets of /dev/serial/by-id links), CPU MSR 202
# and CPUID 203.
STATIC_MAJORS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "/dev/input": (("c", 13, "input devices"),),
    "/dev/dri": (("c", 226, "DRM (GPU) devices"),),
    "/dev/bus/usb": (("c", 189, "USB device files"),),
    "/dev/snd": (("c", 116, "ALSA sound devices"),),
    "/dev/v4l": (("c", 81, "video4linux devices"),),
    "/dev/serial": (("c", 188, "USB serial ports (ttyUSB)"), ("c", 166, "USB ACM modems (ttyACM)")),
    "/dev/cpu": (("c", 202, "CPU model-specific registers"), ("c", 203, "CPUID")),
}
# Not devices, or devices every container may already open (Docker's default device rules).
_NOT_NEEDED = frozenset({
    "/dev/shm", "/dev/mqueue", "/dev/log", "/dev/hugepages", "/dev/pts", "/dev/null", "/dev/zero",
    "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/console", "/dev/ptmx", "/dev/net/tun",
})  # fmt: skip
_WALK_LIMIT = 512  # entries looked at under one bind-mounted directory


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """What to write (key, value, reason) and what to say; ``keep`` is why privileged must stay."""

    extras: tuple[tuple[str, str, str], ...] = ()
    messages: tuple[str, ...] = ()
    keep: str = ""


def _bind_sources(service: Service) -> list[tuple[str, str]]:
    """(host path, container path) of every bind mount from under /dev."""
    out: list[tuple[str, str]] = []
    for located in service.volumes:
        source = host_path(located.value) or ""  # normalised as the rules see it: //dev/x is /dev/x
        if source == "/dev" or source.startswith("/dev/"):
            out.append((source, located.value.target))
    return out


def _static(path: str) -> tuple[tuple[str, int, str], ...]:
    for directory, majors in STATIC_MAJORS.items():
        if path == directory or path.startswith(directory + "/"):
            return majors
    return ()


def _host_kind(path: str) -> str:
    """'dir', 'node', 'other' or 'absent' for ``path`` on this host (links under /dev followed)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "absent"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "node"
    return "other"


def _host_majors(directory: str) -> set[tuple[str, int]]:
    """The (type, major) of the device nodes under ``directory`` on this host (bounded walk; links
    are followed only to nodes that stay under /dev)."""
    found: set[tuple[str, int]] = set()
    seen = 0
    for root, dirs, files in os.walk(directory):
        for name in (*files, *dirs):
            seen += 1
            if seen > _WALK_LIMIT:
                return found
            path = os.path.join(root, name)
            if not os.path.realpath(path).startswith("/dev/"):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                found.add(("c", os.major(st.st_rdev)))
            elif stat.S_ISBLK(st.st_mode):
                found.add(("b", os.major(st.st_rdev)))
    return found


def device_access(service: Service) -> DeviceAccess:
    """What privileged was giving this service's bind-mounted devices, as settings without it."""
    extras: list[tuple[str, str, str]] = []
    messages: list[str] = []
    for source, target in _bind_sources(service):
        if source == "/dev":
            return DeviceAccess(keep=(
                "it bind-mounts all of /dev, and privileged lets it open every host device; which ones it "
                f"uses is not known: measure it with `leastcap profile {service.name}` and list them under "
                "devices:"
            ))  # fmt: skip
        if source in _NOT_NEEDED:
            continue
        kind = _host_kind(source)
        static = _static(source)
        if kind == "other":
            continue  # a socket or a plain file: no device cgroup involved
        if kind == "absent" and static:
            # Not on this host: a directory when named like one, else one node (/dev/dri/renderD128).
            last = source.rsplit("/", 1)[-1]
            kind = "dir" if source in STATIC_MAJORS or last.startswith("by-") or last.isdigit() else "node"
        if kind in ("node", "absent"):
            extras.append(("devices", f"{source}:{target}", "bind-mounted device: without privileged it "
                           "opens only when listed here"))  # fmt: skip
            continue
        if static:
            for kind_letter, major, what in static:
                why = f"{what} under the bind-mounted {source} (major {major}, Linux devices.txt)"
                extras.append(("device_cgroup_rules", f"{kind_letter} {major}:* rw", why))
            messages.append(f"{source}: its devices may come and go, so they are allowed by major number "
                            f"(device_cgroup_rules), not listed one by one; see {DEVICES_TXT}")  # fmt: skip
            continue
        majors = _host_majors(source)
        if not majors:
            return DeviceAccess(keep=(
                f"it bind-mounts the device directory {source}, and privileged lets it open the devices "
                "there; their major numbers are not known (not a statically numbered class, and no device "
                f"nodes under {source} on this host): add device_cgroup_rules for them, then remove privileged"
            ))  # fmt: skip
        for kind_letter, major in sorted(majors):
            extras.append(("device_cgroup_rules", f"{kind_letter} {major}:* rw",
                           f"the nodes under the bind-mounted {source} (major {major} on this host)"))  # fmt: skip
        messages.append(f"{source}: the major numbers were read from the nodes on this host; a dynamically "
                        "numbered class can differ on another host: check /proc/devices there")  # fmt: skip
    return DeviceAccess(extras=tuple(extras), messages=tuple(messages))
