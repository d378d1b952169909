"""What Compose settings mean, in one place: rules, drift and the fixer read them here, so one value
never reads two ways (``no-new-privileges=0`` is off for all of them; ``user: 0:1000`` is root).

* ``security_opt`` as compose and the daemon read it (compose pkg/compose/create.go, moby
  daemon/daemon_unix.go parseSecurityOpt): ``key=value`` or, deprecated, ``key:value``; the bare
  ``no-new-privileges``; options are applied in order and the last one of a key wins.
* ``user``: uid 0 whatever the group; unset runs as the image's user, root unless it says otherwise.
* ``ports``: the container side of a mapping (``127.0.0.1:8080:80/tcp`` listens on 80).
* volumes: which entries are host paths (binds, and named volumes that are binds in disguise).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from leastcap.model import Located, Mount

# Go strconv.ParseBool
_GO_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass(frozen=True, slots=True)
class SecurityOption:
    key: str
    value: str
    entry: Located[str]


def _split(text: str) -> tuple[str, str]:
    if text == "no-new-privileges":
        return "no-new-privileges", "true"
    # The daemon splits on "=" when present, else on ":" (so `label:seccomp:unconfined` is the
    # label option `seccomp:unconfined`, and `seccomp=a:b` is the seccomp value `a:b`).
    sep = "=" if "=" in text else ":"
    key, _, value = text.partition(sep)
    return key, value


def parse_security_opt(entry: Located[str]) -> SecurityOption:
    key, value = _split(entry.value)
    return SecurityOption(key, value, entry)


def without_option(options: Iterable[str], key: str) -> tuple[str, ...]:
    """``options`` (security_opt as written) less every one of ``key``, in any spelling."""
    return tuple(o for o in options if _split(o)[0] != key)


def parse_go_bool(text: str) -> bool | None:
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    return None


def last_of(options: Iterable[Located[str]], key: str) -> SecurityOption | None:
    """The option of ``key`` that takes effect (the last one), or None."""
    found: SecurityOption | None = None
    for entry in options:
        option = parse_security_opt(entry)
        if option.key == key:
            found = option
    return found


def no_new_privileges(options: Iterable[Located[str]]) -> bool | None:
    """Whether no-new-privileges is on: True, False (off, or not set), None (a value the daemon
    refuses, such as ``no-new-privileges=yes``)."""
    option = last_of(options, "no-new-privileges")
    return False if option is None else parse_go_bool(option.value)


def effective_security_opts(options: Iterable[Located[str]]) -> dict[str, SecurityOption]:
    """The options in effect, one per key (the last wins). SELinux ``label`` options are kept per
    label field (``label=user``, ``label=type``...), since each sets a different one."""
    out: dict[str, SecurityOption] = {}
    for entry in options:
        option = parse_security_opt(entry)
        key = option.key
        if key == "label":
            key = f"label={option.value.split(':', 1)[0]}"
        out[key] = option
    return out


def is_root_user(user: str | None) -> bool:
    """``user`` runs as uid 0: unset (the image's user, root unless the image says otherwise),
    ``root`` or ``0``, whatever group follows (``0:1000`` is still root)."""
    if user is None:
        return True
    return user.split(":", 1)[0].strip() in ("", "0", "root")


def container_ports(ports: Iterable[str]) -> list[int]:
    """The container-side ports (first of a range) of ``ports`` entries, sorted, once each."""
    out: set[int] = set()
    for port in ports:
        text = port.split("/", 1)[0]
        first = text.rsplit(":", 1)[-1].split("-", 1)[0]
        if first.isdigit():
            out.add(int(first))
    return sorted(out)


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
