"""Writing edited Compose files on a checkout leastcap did not write (and may run as root on).

Every file is read and replaced through a descriptor of its directory, never by path alone, so a
directory swapped for a link after the check cannot redirect a write. What is refused, before
anything is written (the whole fix is then not written, nothing is half done):

* a file that is a symbolic link (the link and its target stay as they are: leastcap never writes
  through a link; the message names the target to fix instead), or whose directory is reached
  through a link inside the project;
* a file with more than one hard link: replacing it would silently split it from its other names;
* a read-only file (no owner write bit, or no write access for this user), or a file in a directory
  without the owner write bit (root could write there; the owner said not to);
* a file that changed since it was read (device, inode, size, mtime and a SHA-256 of the bytes);
* ``--backup`` when ``<file>.bak`` already exists, in any form (a link included).

Then, per file: the new text goes to a fresh temporary file beside it (owner, group and mode
copied, flushed to disk); ``<file>.bak`` is a hard link to the original (it costs no space and is
never partial); the file is compared again right before it is renamed over. If any of that fails -
disk full, a read-only directory, a permission error, a file changed at the last moment - the
files already replaced are put back (their originals were kept as hard links), every temporary
file and backup made by this run is removed, and :class:`WriteError` says what happened.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from leastcap.tree import MAX_FILE_BYTES

_OPEN_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class WriteError(Exception):
    """Nothing (or nothing more) was written; the message says why and what was restored."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A file as it was read for the fix: what must still hold when it is replaced."""

    path: str  # absolute, as the project names it
    shown: str  # for messages
    root: str  # the project's directory: a link on the way from it to the file is never written through
    link_target: str  # "" unless the path is a symbolic link (then: where it points)
    dev: int
    ino: int
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    nlink: int
    sha256: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _read_fd(fd: int, shown: str) -> tuple[os.stat_result, bytes]:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise WriteError(f"{shown}: not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise WriteError(f"{shown}: over the {MAX_FILE_BYTES}-byte limit for a Compose file")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise WriteError(f"{shown}: grew past the {MAX_FILE_BYTES}-byte limit while read")
        chunks.append(chunk)
    return st, b"".join(chunks)


def read_snapshot(path: str, shown: str, root: str) -> tuple[bytes, Snapshot]:
    """Read ``path`` (following a link, as the loader does) and record what the write will check."""
    link_target = ""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            link_target = os.readlink(path)
        fd = os.open(path, _OPEN_READ & ~os.O_NOFOLLOW)
    except OSError as exc:
        raise WriteError(f"cannot read {shown}: {_reason(exc)}") from None
    try:
        st, data = _read_fd(fd, shown)
    finally:
        os.close(fd)
    snap = Snapshot(
        path=path, shown=shown, root=os.path.abspath(root), link_target=link_target, dev=st.st_dev,
        ino=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns, mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid, gid=st.st_gid, nlink=st.st_nlink, sha256=_digest(data),
    )  # fmt: skip
    return data, snap


def _linked_component(path: str, root: str) -> str | None:
    """The first directory between ``root`` (or the common ancestor) and ``path`` that is a link."""
    parent = os.path.dirname(path)
    try:
        base = os.path.commonpath([os.path.abspath(root), parent])
    except ValueError:
        base = "/"
    here = base
    for part in os.path.relpath(parent, base).split(os.sep):
        if part in ("", "."):
            continue
        here = os.path.join(here, part)
        try:
            if stat.S_ISLNK(os.lstat(here).st_mode):
                return here
        except OSError:
            return None  # the open below reports it
    return None


def why_not_writable(snap: Snapshot) -> str | None:
    """Why this file would not be written (checked before anything is written), or None."""
    if snap.link_target:
        return (
            f"{snap.shown} is a symbolic link to {snap.link_target}; leastcap never writes through "
            "a link: run fix on the file it points to"
        )
    linked = _linked_component(snap.path, snap.root)
    if linked is not None:
        return f"{snap.shown} is reached through the symbolic link {linked}; leastcap never writes through a link"
    if snap.nlink > 1:
        return (
            f"{snap.shown} has {snap.nlink} hard links; replacing it would split it from its other "
            "names: edit it by hand or remove the other links"
        )
    if not snap.mode & stat.S_IWUSR or (os.geteuid() != 0 and not os.access(snap.path, os.W_OK)):
        return f"{snap.shown} is read-only (mode {snap.mode:04o}); not replaced"
    # Root may write into any directory; one its owner made read-only is refused all the same.
    directory = os.path.dirname(snap.path) or "."
    try:
        dir_mode = stat.S_IMODE(os.stat(directory).st_mode)
    except OSError:
        return None  # opening it reports why
    if not dir_mode & stat.S_IWUSR:
        return f"the directory of {snap.shown} is read-only (mode {dir_mode:04o}); not written"
    return None


@dataclass
class _Pending:
    snap: Snapshot
    data: bytes
    backup: bool
    dirfd: int = -1
    name: str = ""
    tmp: str = ""  # temporary file holding the new text
    keep: str = ""  # hard link to the original (the .bak with --backup)
    keep_made: bool = False
    replaced: bool = False


def write_all(edits: Sequence[tuple[Snapshot, bytes]], *, backup: bool = False) -> list[str]:
    """Replace every edited file or none. Returns the written paths; raises WriteError."""
    problems = [p for p in (why_not_writable(s) for s, _ in edits) if p]
    if problems:
        raise WriteError("; ".join(problems) + "; nothing written")
    pending = [_Pending(snap, data, backup) for snap, data in edits]
    item = pending[0] if pending else None  # the file being worked on, for messages
    try:
        for item in pending:
            _open_dir(item)
            _unchanged(item)
        for item in pending:
            _prepare(item)
        for item in pending:
            _unchanged(item)
            if not item.backup:
                _keep_original(item)
            os.rename(item.tmp, item.name, src_dir_fd=item.dirfd, dst_dir_fd=item.dirfd)
            item.replaced = True
            item.tmp = ""
            os.fsync(item.dirfd)
    except (OSError, WriteError) as exc:
        message = str(exc) if isinstance(exc, WriteError) or item is None else _os_message(exc, item)
        raise WriteError(message + _roll_back(pending)) from None
    except BaseException:
        _roll_back(pending)
        raise
    finally:
        for item in pending:
            _discard(item)
    return [item.snap.path for item in pending]


def _os_message(exc: OSError, item: _Pending) -> str:
    where = item.snap.shown
    if exc.errno == errno.ENOSPC:
        return f"{where}: no space left on the device"
    return f"{where}: {_reason(exc)}"


def _open_dir(item: _Pending) -> None:
    directory, item.name = os.path.split(item.snap.path)
    try:
        item.dirfd = os.open(directory or ".", _OPEN_DIR)
        opened = os.fstat(item.dirfd)
        named = os.stat(directory or ".")
    except OSError as exc:
        raise WriteError(f"{item.snap.shown}: cannot open its directory: {_reason(exc)}") from None
    # A directory swapped for a link between the check and the open: the check is repeated, and
    # the directory opened must be the one the path names now. Everything after uses the descriptor.
    linked = _linked_component(item.snap.path, item.snap.root)
    if linked is not None or (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
        raise WriteError(f"{item.snap.shown}: its directory changed while being opened; not written")


def _unchanged(item: _Pending) -> None:
    """The file at ``name`` is still the one read: same inode, size, mtime and bytes."""
    snap = item.snap
    try:
        fd = os.open(item.name, _OPEN_READ, dir_fd=item.dirfd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WriteError(f"{snap.shown} became a symbolic link since it was read; not written") from None
        raise WriteError(f"{snap.shown} changed since it was read ({_reason(exc)}); not written") from None
    try:
        st, data = _read_fd(fd, snap.shown)
    finally:
        os.close(fd)
    same = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (snap.dev, snap.ino, snap.size, snap.mtime_ns)
    if not same or _digest(data) != snap.sha256:
        raise WriteError(f"{snap.shown} changed since it was read; not written")


def _prepare(item: _Pending) -> None:
    """The new text in a temporary file beside the original, with its owner, group and mode."""
    snap = item.snap
    tmp = f".{item.name[:64]}.leastcap-{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=item.dirfd)  # fmt: skip
    item.tmp = tmp
    try:
        view = memoryview(item.data)
        while view:
            view = view[os.write(fd, view) :]
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (snap.uid, snap.gid):
            os.fchown(fd, snap.uid, snap.gid)
        os.fchmod(fd, snap.mode)  # after chown, which clears set-id bits
        os.fsync(fd)
    finally:
        os.close(fd)
    if item.backup:
        bak = item.name + ".bak"
        try:
            os.link(item.name, bak, src_dir_fd=item.dirfd, dst_dir_fd=item.dirfd, follow_symlinks=False)
        except FileExistsError:
            raise WriteError(f"{snap.shown}.bak already exists; it is never overwritten: move it away") from None
        except OSError as exc:
            raise WriteError(f"{snap.shown}: cannot make the backup {snap.shown}.bak: {_reason(exc)}") from None
        item.keep, item.keep_made = bak, True


def _keep_original(item: _Pending) -> None:
    item.keep = f".{item.name[:64]}.leastcap-{secrets.token_hex(6)}.orig"
    os.link(item.name, item.keep, src_dir_fd=item.dirfd, dst_dir_fd=item.dirfd, follow_symlinks=False)
    item.keep_made = True


def _roll_back(pending: Sequence[_Pending]) -> str:
    """Put the replaced files back from their kept originals; say what was restored (or not)."""
    restored: list[str] = []
    lost: list[str] = []
    for item in pending:
        if not item.replaced:
            continue
        try:
            os.rename(item.keep, item.name, src_dir_fd=item.dirfd, dst_dir_fd=item.dirfd)
            item.keep_made = False
            restored.append(item.snap.shown)
        except OSError as exc:
            lost.append(f"{item.snap.shown} (its original is {item.keep}: {_reason(exc)})")
            item.keep_made = False  # keep the only copy of the original
    text = "; nothing written"
    if restored:
        text = f"; restored {', '.join(restored)} to its original text; nothing written"
    if lost:
        text += f"; COULD NOT RESTORE {', '.join(lost)}"
    return text


def _discard(item: _Pending) -> None:
    """Remove what this run made and no longer needs: temporary files, links to the original."""
    if item.dirfd < 0:
        return
    names = [item.tmp] if item.tmp else []
    # The kept original is removed once the file is replaced (or, not replaced, when it is not the .bak
    # of a successful write: a failed run leaves no backup either).
    if item.keep_made and (not item.replaced or not item.backup):
        names.append(item.keep)
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=item.dirfd)
    os.close(item.dirfd)
    item.dirfd = -1
