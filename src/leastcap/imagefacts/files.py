"""An exported image filesystem as a bounded, in-memory view: scripts, links and special files.

The export is read once, as a stream (``tarfile`` mode ``r|``): nothing is written to disk and
nothing in it runs. Only what the analysis needs is kept, each under a bound, so a hostile or
huge image costs time proportional to its size and a fixed amount of memory:

* the text of shell scripts (a ``#!`` shell, ``*.sh``, or a file in an s6 service directory);
* symbolic and hard links, to resolve paths the way the kernel would inside the image;
* setuid/setgid files and files with ``security.capability`` (file capabilities);
* the names of files and directories, to resolve commands on ``PATH`` and list script directories.

Whatever a bound stops is listed in ``limits``, so an answer built on this view can say so.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from leastcap.imagefacts.filecaps import FileCapabilities, decode

MAX_SCRIPT_BYTES = 256 * 1024
MAX_SCRIPT_TOTAL = 32 * 1024 * 1024
MAX_SPECIAL = 10_000
MAX_NAMES = 400_000
MAX_LINK_HOPS = 40
_XATTR = "SCHILY.xattr.security.capability"
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox", "execlineb", "with-contenv"})
# s6-overlay and s6-rc service files are scripts whatever their first line says.
_S6_DIRS = ("/etc/s6-overlay/", "/etc/services.d/", "/etc/cont-init.d/", "/etc/cont-finish.d/", "/custom-cont-init.d/")


@dataclass(frozen=True, slots=True)
class SpecialFile:
    """A setuid/setgid file or one with file capabilities."""

    path: str
    mode: int  # permission bits only (0o4755)
    uid: int
    gid: int
    filecaps: FileCapabilities | None = None

    @property
    def setuid_root(self) -> bool:
        return bool(self.mode & 0o4000) and self.uid == 0

    @property
    def setgid(self) -> bool:
        return bool(self.mode & 0o2000)


@dataclass
class ImageFiles:
    scripts: dict[str, str] = field(default_factory=dict)  # absolute path -> text
    links: dict[str, str] = field(default_factory=dict)  # symlink -> target as written
    hardlinks: dict[str, str] = field(default_factory=dict)  # path -> the absolute path it links to
    special: dict[str, SpecialFile] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every file and directory (absolute)
    limits: list[str] = field(default_factory=list)
    _script_bytes: int = 0

    # -- reading ------------------------------------------------------------------------------------
    @classmethod
    def from_tar(cls, stream: IO[bytes]) -> ImageFiles:
        files = cls()
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    files._add(tar, member)
        except (tarfile.TarError, EOFError, OSError) as exc:
            files.limits.append(f"the export could not be read to the end ({exc})")
        return files

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        path = posixpath.normpath("/" + member.name)
        if not self._name(path):
            return  # past the names bound nothing more is kept: links and scripts would be unreachable
        if member.issym():
            self.links[path] = member.linkname
        elif member.islnk():
            self.hardlinks[path] = posixpath.normpath("/" + member.linkname)
        if not member.isfile():
            return
        mode = member.mode & 0o7777
        raw_caps = member.pax_headers.get(_XATTR)
        caps = decode(raw_caps.encode("utf-8", "surrogateescape")) if raw_caps is not None else None
        if mode & 0o6000 or caps is not None:
            if len(self.special) < MAX_SPECIAL:
                self.special[path] = SpecialFile(path, mode, member.uid, member.gid, caps)
            elif "special" not in self._limit_keys():
                self.limits.append(
                    f"special: more than {MAX_SPECIAL} setuid/setgid/capability files; the rest not read"
                )
        if member.size <= MAX_SCRIPT_BYTES:
            self._read_script(tar, member, path)

    def _limit_keys(self) -> set[str]:
        return {text.split(":", 1)[0] for text in self.limits}

    def _name(self, path: str) -> bool:
        """Keep a name (and so what is kept about it); False once the bound is reached, which also
        bounds the links, which are kept only for kept names."""
        if len(self.names) < MAX_NAMES or path in self.names:
            self.names.add(path)
            return True
        if "names" not in self._limit_keys():
            self.limits.append(f"names: more than {MAX_NAMES} files; the rest not read")
        return False

    def _read_script(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        handle = tar.extractfile(member)
        if handle is None:
            return
        head = handle.read(2)
        in_s6 = path.startswith(_S6_DIRS)
        if head != b"#!" and not path.endswith(".sh") and not in_s6:
            return
        if self._script_bytes + member.size > MAX_SCRIPT_TOTAL:
            if "scripts" not in self._limit_keys():
                self.limits.append(
                    f"scripts: more than {MAX_SCRIPT_TOTAL // (1024 * 1024)} MiB of scripts; the rest not read"
                )
            return
        data = head + handle.read(MAX_SCRIPT_BYTES)
        if b"\0" in data:
            return  # a binary that happens to start with "#!" or end in .sh
        if head == b"#!" and not in_s6 and not _shell_shebang(data):
            return
        self._script_bytes += len(data)
        self.scripts[path] = data.decode("utf-8", "replace")

    # -- questions ----------------------------------------------------------------------------------
    def resolve(self, path: str) -> str | None:
        """``path`` with every symbolic link in it followed, as inside the image; None for a loop or
        a link chain longer than the kernel's 40 hops."""
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        current = "/"
        hops = 0
        while parts:
            candidate = posixpath.join(current, parts.pop(0))
            target = self.links.get(candidate)
            if target is None:
                current = candidate
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            base = "/" if target.startswith("/") else current
            parts = [p for p in posixpath.normpath(posixpath.join(base, target)).split("/") if p] + parts
            current = "/"
        return self.hardlinks.get(current, current)

    def exists(self, path: str) -> bool:
        resolved = self.resolve(path)
        return resolved is not None and resolved in self.names

    def which(self, command: str, search_path: str) -> str | None:
        """Where ``command`` is found on ``search_path`` inside the image (resolved), or None."""
        if "/" in command:
            resolved = self.resolve(command)
            return resolved if resolved is not None and resolved in self.names else None
        for directory in search_path.split(":"):
            if directory.startswith("/"):
                resolved = self.resolve(posixpath.join(directory, command))
                if resolved is not None and resolved in self.names:
                    return resolved
        return None

    def scripts_in(self, directory: str) -> Iterator[str]:
        """The scripts directly inside (or, for s6 service trees, below) ``directory``, sorted."""
        resolved = self.resolve(directory)
        if resolved is None:
            return
        prefix = resolved.rstrip("/") + "/"
        for path in sorted(self.scripts):
            if path.startswith(prefix):
                yield path


def _shell_shebang(data: bytes) -> bool:
    line = data[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not line:
        return False
    words = line[1:] if posixpath.basename(line[0]) == "env" else line
    words = [w for w in words if not w.startswith("-")]
    return bool(words) and posixpath.basename(words[0]) in _SHELLS
