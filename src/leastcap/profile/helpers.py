"""Setuid-root and file-capability binaries the service exec'd (squid's ``pinger``, ``ping``...).

``no-new-privileges`` makes the kernel ignore a file's setuid bit and its capabilities at exec, so a
run with it can never reproduce a recording in which such a helper gained a capability. The files
are read from the container's own filesystem through dockerd's archive API (``docker cp``), whose
tar carries each file's mode, owner and ``security.capability`` xattr (as a PAX
``SCHILY.xattr.security.capability`` record), without leastcap opening anything in the container.
"""

from __future__ import annotations

import io
import posixpath
import struct
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import docker
from docker.errors import APIError

from leastcap.capabilities import CAPABILITY_BY_NUMBER, short, sort_capabilities
from leastcap.profile.classify import is_probe
from leastcap.profile.events import CapCheck, Exec
from leastcap.profile.format import FILE_CAPABILITIES, SETUID_ROOT, PrivilegedHelper

XATTR = "SCHILY.xattr.security.capability"
MAX_HELPER_LOOKUPS = 64  # distinct exec'd paths read back; a fork bomb of scripts stays bounded
MAX_LINK_HOPS = 8
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024  # a tar bigger than this is not read to its end


@dataclass(frozen=True, slots=True)
class HelperFile:
    path: str  # as exec'd
    kind: str  # SETUID_ROOT or FILE_CAPABILITIES
    file_capabilities: tuple[str, ...]  # CAP_ names of the file's permitted set


def file_capabilities(raw: bytes) -> frozenset[str]:
    """The permitted set of a ``security.capability`` value (struct vfs_cap_data, v1-v3)."""
    if len(raw) < 12:
        return frozenset()
    magic = struct.unpack_from("<I", raw)[0] & 0xFF000000
    low = struct.unpack_from("<I", raw, 4)[0]
    high = struct.unpack_from("<I", raw, 12)[0] if magic in (0x02000000, 0x03000000) and len(raw) >= 20 else 0
    mask = low | high << 32
    return frozenset(name for bit, name in CAPABILITY_BY_NUMBER.items() if mask >> bit & 1)


def classify_member(info: tarfile.TarInfo) -> tuple[str, frozenset[str]] | None:
    """A tar member's privilege at exec: setuid root, file capabilities, or nothing (None)."""
    raw = info.pax_headers.get(XATTR)
    if raw:
        caps = file_capabilities(raw.encode("utf-8", "surrogateescape"))
        if caps:
            return FILE_CAPABILITIES, caps
    if info.isreg() and info.mode & 0o4000 and info.uid == 0:
        return SETUID_ROOT, frozenset()
    return None


def _first_member(chunks: Iterable[bytes]) -> tarfile.TarInfo | None:
    """The first header of the archive of one file (its content is not needed)."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
        # The header, its PAX records and a little more are all that is read.
        if len(data) >= 64 * 1024 or len(data) > MAX_ARCHIVE_BYTES:
            break
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
            return tar.next()
    except (tarfile.TarError, EOFError):
        return None


def read_helper(client: docker.DockerClient, container_id: str, path: str) -> HelperFile | None:
    """Read ``path`` (following symlinks inside the container, at most MAX_LINK_HOPS) and say
    whether exec'ing it gains privileges. Anything unreadable is not a helper."""
    current = path
    for _ in range(MAX_LINK_HOPS):
        if not current.startswith("/"):
            return None
        try:
            chunks, _stat = client.api.get_archive(container_id, current)
            info = _first_member(chunks)
        except (APIError, OSError):
            return None
        if info is None:
            return None
        if info.issym():
            target = info.linkname
            current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
            continue
        found = classify_member(info)
        if found is None:
            return None
        kind, caps = found
        return HelperFile(path, kind, tuple(sort_capabilities(caps)))
    return None


def read_helpers(client: docker.DockerClient, container_id: str, execs: Sequence[Exec]) -> dict[str, HelperFile]:
    """The privileged helpers among the service's exec'd files, by exec'd path."""
    out: dict[str, HelperFile] = {}
    for path in _distinct(e.filename for e in execs):
        found = read_helper(client, container_id, path)
        if found is not None:
            out[path] = found
    return out


# Exec'd paths that are not files of the container's image: runc's re-exec of itself, procfs.
_NOT_FILES = ("/proc/", "/dev/", "/sys/")


def _distinct(paths: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for path in paths:
        if path in seen or not path.startswith("/") or path.startswith(_NOT_FILES):
            continue
        seen.add(path)
        if len(seen) > MAX_HELPER_LOOKUPS:
            return
        yield path


def privileged_helpers(
    files: dict[str, HelperFile], execs: Sequence[Exec], checks: Sequence[CapCheck]
) -> list[PrivilegedHelper]:
    """Each helper with the capabilities its processes were granted after exec'ing it, in audited
    checks (until that process exec'd something else; its children are not followed)."""
    out: list[PrivilegedHelper] = []
    ordered = sorted(execs, key=lambda e: e.ts)
    for path, found in sorted(files.items()):
        used: set[str] = set()
        for i, ex in enumerate(ordered):
            if ex.filename != path:
                continue
            until = next((e.ts for e in ordered[i + 1 :] if e.pid == ex.pid), float("inf"))
            for c in checks:
                if c.pid == ex.pid and ex.ts <= c.ts < until and c.granted and not is_probe(c)[0]:
                    used.add(CAPABILITY_BY_NUMBER.get(c.cap, f"CAP_{c.cap}"))
        out.append(
            PrivilegedHelper(
                path=path,
                kind=found.kind,
                file_capabilities=tuple(short(c) for c in found.file_capabilities),
                used=tuple(short(c) for c in sort_capabilities(used)),
            )
        )
    return out


def helper_note(h: PrivilegedHelper) -> str:
    how = (
        "a setuid-root binary"
        if h.kind == SETUID_ROOT
        else f"a binary with file capabilities ({', '.join(h.file_capabilities)})"
    )
    got = f" and its process was granted {', '.join(h.used)}" if h.used else ""
    return (
        f"the service exec'd {h.path}, {how}{got}: with no-new-privileges it gains nothing, so a run"
        " with no-new-privileges cannot reproduce the recording; verification tries both"
    )


def choice_note(helpers: Sequence[PrivilegedHelper], nnp: bool, with_nnp: bool, with_helper: bool) -> str:
    names = ", ".join(h.path for h in helpers)
    a = "passed" if with_helper else "failed"
    b = "passed" if with_nnp else "failed"
    if nnp and with_nnp:
        pick = "proposing no-new-privileges: the service works with the helper disabled"
    elif not nnp:
        pick = f"proposing no no-new-privileges, so that {names} keeps its privilege"
    else:
        pick = "neither passed; keeping no-new-privileges"
    return (
        f"{names}: no no-new-privileges, with the helper's capability: {a}; no-new-privileges, helper"
        f" disabled: {b}; {pick}"
    )
