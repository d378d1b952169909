"""Image facts: evidence-backed statements about what an image's start-up needs."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FactKind(enum.Enum):
    USER_SWITCH = "user-switch"  # gosu, su-exec, s6-setuidgid, setpriv, chpst, su, runuser
    CHOWN = "chown"  # chown, lsiown
    SETCAP = "setcap"  # a script gives a binary file capabilities at start-up
    FILE_CAPABILITY = "file-capability"  # a binary carries security.capability
    SETUID_HELPER = "setuid-helper"  # a setuid-root (or setgid) binary
    NETWORK = "network"  # ip, iptables, nft, wg, tc ...
    SYSCTL = "sysctl"  # sysctl -w, a write under /proc/sys
    MKNOD = "mknod"
    MODULE = "module"  # modprobe, insmod: only the host should load kernel modules


@dataclass(frozen=True, slots=True)
class ImageFact:
    """One thing the image does, where it is written, and what it needs.

    ``path`` and ``line`` point inside the image ("" and 0 for the image's configuration);
    ``text`` is what was read there (one script line, or the binary's mode and capabilities).
    ``capabilities`` are short names (``NET_ADMIN``). ``breaks_nnp`` is true when
    ``no-new-privileges`` would stop it working (setuid and file-capability binaries gain nothing
    under it). ``sysctl`` names a sysctl the image writes; ``needs_host`` says it cannot be set per
    container (not namespaced), with ``note`` explaining.
    """

    kind: FactKind
    path: str
    line: int
    text: str
    capabilities: tuple[str, ...] = ()
    breaks_nnp: bool = False
    sysctl: str = ""
    value: str = ""  # the value a sysctl is set to, when the script writes it literally
    needs_host: bool = False
    note: str = ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else (self.path or "image config")


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """Everything read from one image. ``limits`` lists what was not read because a bound was hit,
    so an answer built on these facts can say it may be incomplete."""

    image: str
    image_id: str
    user: str
    entrypoint: tuple[str, ...]
    command: tuple[str, ...]
    facts: tuple[ImageFact, ...]
    scripts: tuple[str, ...]  # the scripts read, in the order they were reached
    limits: tuple[str, ...] = ()

    @property
    def capabilities(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for fact in self.facts:
            seen.update(dict.fromkeys(fact.capabilities))
        return tuple(seen)

    @property
    def nnp_breakers(self) -> tuple[ImageFact, ...]:
        return tuple(f for f in self.facts if f.breaks_nnp)
