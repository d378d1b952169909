"""Which volume entries are host paths: binds, and named volumes that are binds in disguise."""

from __future__ import annotations

import posixpath

from leastcap.model import Mount


def host_path(mount: Mount) -> str | None:
    """The host path a mount exposes, normalised, or None for volumes, tmpfs and anonymous volumes.

    A short entry ``- /var/run/docker.sock`` is an anonymous volume (type volume, no source): it
    never touches the host's socket, so it has no host path.
    """
    if mount.type == "bind" and mount.source:
        path = mount.source
    elif mount.type == "volume" and mount.host_path:
        path = mount.host_path
    else:
        return None
    if path.startswith("/"):
        # normpath keeps a leading "//" (POSIX); the kernel does not care, neither do we.
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
    return path
