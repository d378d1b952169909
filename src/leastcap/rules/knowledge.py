"""Capability knowledge (``leastcap/knowledge/capabilities.yaml``): what each capability lets an
attacker do and how bad adding it is. Knowledge is data; this module only loads and checks it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from leastcap.capabilities import CAPABILITY_NUMBERS, DOCKER_DEFAULT_CAPABILITIES
from leastcap.model import Severity


@dataclass(frozen=True, slots=True)
class CapabilityInfo:
    name: str  # CAP_SYS_ADMIN
    attacker: str  # completes "lets an attacker in the container ..."
    default: bool  # one of Docker's 14 defaults
    severity: Severity  # what adding it beyond the defaults is worth (INFO for defaults)
    sources: tuple[str, ...]


class KnowledgeError(RuntimeError):
    """The shipped knowledge file is broken: a packaging bug, never a user error."""


@functools.cache
def capabilities() -> dict[str, CapabilityInfo]:
    text = resources.files("leastcap").joinpath("knowledge/capabilities.yaml").read_text("utf-8")
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    entries = data.get("capabilities") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise KnowledgeError("capabilities.yaml: top-level 'capabilities' mapping missing")
    out: dict[str, CapabilityInfo] = {}
    for name, entry in entries.items():
        if name not in CAPABILITY_NUMBERS or not isinstance(entry, dict):
            raise KnowledgeError(f"capabilities.yaml: bad entry {name!r}")
        default = bool(entry.get("default", False))
        if default != (name in DOCKER_DEFAULT_CAPABILITIES):
            raise KnowledgeError(f"capabilities.yaml: {name} default flag disagrees with moby's defaults")
        severity = Severity.INFO if default else Severity.parse(str(entry.get("severity", "")))
        sources = entry.get("sources") or []
        attacker = entry.get("attacker")
        if not isinstance(attacker, str) or not attacker.strip() or not sources:
            raise KnowledgeError(f"capabilities.yaml: {name} needs 'attacker' and 'sources'")
        out[name] = CapabilityInfo(name, " ".join(attacker.split()), default, severity, tuple(str(s) for s in sources))
    missing = set(CAPABILITY_NUMBERS) - set(out)
    if missing:
        raise KnowledgeError(f"capabilities.yaml: missing {sorted(missing)}")
    return out


def capability(name: str) -> CapabilityInfo:
    """Knowledge for a normalised name (``CAP_NET_ADMIN``)."""
    return capabilities()[name]
