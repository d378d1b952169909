"""Linux capabilities as a type: names, numbers, Docker's defaults and how moby combines them.

One place knows that ``net_admin``, ``CAP_NET_ADMIN`` and ``Net_Admin`` are the same capability,
that ``ALL`` is a magic word and ``CAP_ALL`` is an error, and how ``privileged``, ``cap_add`` and
``cap_drop`` combine (moby ``daemon/pkg/oci/caps/utils.go``: ``NormalizeLegacyCapabilities`` and
``TweakCapabilities``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Numbers from linux/capability.h; CAP_LAST_CAP is CHECKPOINT_RESTORE (40).
CAPABILITY_NUMBERS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAPABILITY_BY_NUMBER: dict[int, str] = {n: name for name, n in CAPABILITY_NUMBERS.items()}
ALL_CAPABILITIES: frozenset[str] = frozenset(CAPABILITY_NUMBERS)

# moby daemon/pkg/oci/caps/defaults.go DefaultCapabilities(): the 14 a container gets by default.
DOCKER_DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

ALL = "ALL"


class UnknownCapabilityError(ValueError):
    pass


def normalize(name: str) -> str:
    """Normalise one cap_add/cap_drop entry the way moby does.

    Returns ``"ALL"`` for the magic value (any case) or the ``CAP_``-prefixed upper-case name.
    Raises UnknownCapabilityError for anything moby would refuse (``CAP_ALL``, whitespace, typos).
    """
    upper = name.upper()
    if upper == ALL:
        return ALL
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in CAPABILITY_NUMBERS:
        raise UnknownCapabilityError(f"unknown capability: {name!r}")
    return upper


def try_normalize(name: str) -> str | None:
    try:
        return normalize(name)
    except UnknownCapabilityError:
        return None


def short(name: str) -> str:
    """``CAP_NET_ADMIN`` -> ``NET_ADMIN``, the spelling Compose files usually use."""
    return name[4:] if name.startswith("CAP_") else name


def sort_capabilities(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: CAPABILITY_NUMBERS.get(n, 99))


@dataclass(frozen=True, slots=True)
class EffectiveCapabilities:
    """What the container's bounding set will be, and why."""

    capabilities: frozenset[str]
    # "privileged", "cap_add ALL", "cap_drop ALL + cap_add", "defaults - cap_drop + cap_add"
    reason: str
    unknown: tuple[str, ...] = ()

    @property
    def beyond_defaults(self) -> frozenset[str]:
        return self.capabilities - frozenset(DOCKER_DEFAULT_CAPABILITIES)


def effective(
    cap_add: Iterable[str],
    cap_drop: Iterable[str],
    privileged: bool = False,
    available: frozenset[str] = ALL_CAPABILITIES,
) -> EffectiveCapabilities:
    """moby TweakCapabilities: the capability set a container gets.

    ``available`` is the daemon's own set (what ``privileged`` and ``ALL`` expand to).
    Unknown names are collected, not raised: the daemon would refuse the container, and a scanner
    reports that rather than crashing.
    """
    unknown: list[str] = []

    def norm(values: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for value in values:
            n = try_normalize(value)
            if n is None:
                unknown.append(value)
            else:
                out.add(n)
        return out

    add, drop = norm(cap_add), norm(cap_drop)
    if privileged:
        return EffectiveCapabilities(available, "privileged", tuple(unknown))
    if not add and not drop:
        return EffectiveCapabilities(frozenset(DOCKER_DEFAULT_CAPABILITIES), "defaults", tuple(unknown))
    if ALL in add:
        # The ALL check on add comes first in moby, so cap_drop: [ALL] cannot undo it.
        return EffectiveCapabilities(frozenset(available - drop), "cap_add ALL", tuple(unknown))
    if ALL in drop:
        return EffectiveCapabilities(frozenset(add), "cap_drop ALL + cap_add", tuple(unknown))
    base = set(DOCKER_DEFAULT_CAPABILITIES) - drop
    return EffectiveCapabilities(frozenset(base | add), "defaults - cap_drop + cap_add", tuple(unknown))


def parse_mask(hex_mask: str) -> frozenset[str]:
    """Decode a /proc/<pid>/status capability mask (``CapEff: 00000000a80425fb``)."""
    value = int(hex_mask, 16)
    return frozenset(name for name, bit in CAPABILITY_NUMBERS.items() if value >> bit & 1)
