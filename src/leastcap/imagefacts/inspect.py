"""Inspect one image on the local engine: its configuration and exported filesystem, never run.

The docker adapter is the only part that talks to the engine: it reads the image's configuration,
creates a container that is never started (its entrypoint is replaced by a path that does not
exist, so even an accidental start runs nothing), streams its export into :class:`ImageFiles` and
removes the container whatever happens. :func:`analyse` is the pure rest.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from leastcap.imagefacts.files import ImageFiles, SpecialFile
from leastcap.imagefacts.model import FactKind, ImageFact, ImageFacts
from leastcap.imagefacts.scripts import DEFAULT_PATH, Start, analyse_startup

# setuid or file-capability programs that distributions ship in base images whether or not the
# service uses them (login tools, ping, mount, ...). They count only when start-up calls them:
# otherwise every Debian or Alpine image would look unable to run with no-new-privileges.
DISTRIBUTION_HELPERS = frozenset(
    {
        "su",
        "sudo",
        "passwd",
        "chsh",
        "chfn",
        "gpasswd",
        "newgrp",
        "mount",
        "umount",
        "expiry",
        "chage",
        "unix_chkpwd",
        "pkexec",
        "ping",
        "ping4",
        "ping6",
        "arping",
        "clockdiff",
        "ssh-keysign",
        "dbus-daemon-launch-helper",
        "fusermount",
        "fusermount3",
        "newuidmap",
        "newgidmap",
        "crontab",
        "wall",
        "write",
        "bsd-write",
        "ssh-agent",
        "mtr-packet",
        "dotlockfile",
        "Xorg.wrap",
        "polkit-agent-helper-1",
        "pt_chown",
        "traceroute6.iputils",
        "doas",
        "at",
        "mount.nfs",
        "mount.cifs",
        "ntfs-3g",
        "staprun",
        "chrome-sandbox",
        "busybox",
        "bbsuid",
        "lppasswd",
        "mail-lock",
        "mail-unlock",
        "mail-touchlock",
        "procmail",
        "lockfile",
        "exim4",
        "sg",
        "vlock",
        "screen",
        "uuidd",
    }
)
_NOT_CALLED = "present but not called by the start-up scripts read; the service may run it later"


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image's configuration that decide what runs and as whom."""

    user: str = ""
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_inspect(cls, attrs: dict[str, Any]) -> ImageConfig:
        config = attrs.get("Config") or {}
        env = tuple(tuple(e.split("=", 1)) for e in config.get("Env") or () if "=" in e)
        return cls(
            user=str(config.get("User") or ""),
            entrypoint=tuple(str(a) for a in config.get("Entrypoint") or ()),
            command=tuple(str(a) for a in config.get("Cmd") or ()),
            env=env,
        )

    @property
    def search_path(self) -> str:
        return dict(self.env).get("PATH", DEFAULT_PATH)


def analyse(image: str, image_id: str, config: ImageConfig, files: ImageFiles) -> ImageFacts:
    """Every fact the configuration and the filesystem give, start-up's first."""
    startup = analyse_startup(files, Start(config.entrypoint + config.command, config.search_path))
    facts = list(startup.facts)
    for special in sorted(files.special.values(), key=lambda s: s.path):
        fact = _special_fact(special, special.path in startup.called)
        if fact is not None:
            facts.append(fact)
    return ImageFacts(
        image=image,
        image_id=image_id,
        user=config.user,
        entrypoint=config.entrypoint,
        command=config.command,
        facts=tuple(facts),
        scripts=startup.read,
        limits=(*files.limits, *startup.limits),
    )


def _special_fact(special: SpecialFile, called: bool) -> ImageFact | None:
    if not called and posixpath.basename(special.path) in DISTRIBUTION_HELPERS:
        return None
    note = "" if called else _NOT_CALLED
    if special.filecaps is not None and special.filecaps.permitted:
        return ImageFact(
            FactKind.FILE_CAPABILITY,
            special.path,
            0,
            f"{special.mode:04o} {special.filecaps.describe()}",
            special.filecaps.permitted,
            breaks_nnp=True,
            note=(note + "; " if note else "") + "no-new-privileges makes the kernel ignore its file capabilities",
        )
    if special.setuid_root or special.setgid:
        what = "setuid root" if special.setuid_root else "setgid"
        return ImageFact(
            FactKind.SETUID_HELPER,
            special.path,
            0,
            f"{special.mode:04o} {what}",
            (),
            breaks_nnp=True,
            note=(note + "; " if note else "") + f"no-new-privileges stops it gaining {what} privileges",
        )
    return None


# -- the docker adapter -----------------------------------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A file object over the export's byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class ImageNotFoundError(LookupError):
    pass


def inspect_image(image: str, client: Any = None, pull: bool = False) -> ImageFacts:
    """Read ``image`` from the local engine (pulling it first with ``pull``). Raises
    ImageNotFoundError when it is not there, and docker's errors when the engine fails."""
    import docker
    from docker.errors import ImageNotFound

    client = client or docker.from_env()
    try:
        if pull:
            client.images.pull(image)
        found = client.images.get(image)
    except ImageNotFound:
        raise ImageNotFoundError(
            f"image {image!r} is not on the local engine (docker pull it, or use --pull)"
        ) from None
    config = ImageConfig.from_inspect(found.attrs)
    container = client.containers.create(
        found.id,
        entrypoint=["/.leastcap-inspect-never-runs"],
        command=[],
        network_disabled=True,
        labels={"org.leastcap.purpose": "image-inspect"},
    )
    try:
        files = ImageFiles.from_tar(io.BufferedReader(_ChunkReader(container.export()), 1024 * 1024))
    finally:
        container.remove(force=True)
    return analyse(image, str(found.id), config, files)


class LocalImages:
    """``image -> ImageFacts | None`` for the images on the local engine, each read once.

    None when the image is not there or no engine answers: fix then answers from the knowledge
    base and the Compose file alone, as it would on a machine without Docker.
    """

    def __init__(self, pull: bool = False) -> None:
        self.pull = pull
        self._client: Any = None
        self._unreachable = False
        self._seen: dict[str, ImageFacts | None] = {}

    def __call__(self, image: str) -> ImageFacts | None:
        if image not in self._seen:
            self._seen[image] = self._read(image)
        return self._seen[image]

    def _read(self, image: str) -> ImageFacts | None:
        import docker
        from docker.errors import DockerException

        # requests' connection errors are OSErrors; docker's own derive from DockerException.
        if self._client is None and not self._unreachable:
            try:
                client = docker.from_env(timeout=30)
                client.ping()
            except (DockerException, OSError):
                self._unreachable = True
            else:
                self._client = client
        if self._client is None:
            return None
        try:
            return inspect_image(image, self._client, pull=self.pull)
        except (ImageNotFoundError, DockerException, OSError):
            return None
