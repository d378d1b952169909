"""What a plan is made of: the capabilities a service keeps, the other settings it needs, and how
much the set is backed by evidence. Shared by the planner (leastcap.fix.plan) and the sources it
draws on (leastcap.fix.sources)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from leastcap.model import FixSafety


class FixConfidence(enum.IntEnum):
    """How much the proposed set is backed by evidence (higher is better)."""

    UNKNOWN = 0
    INFERRED = 1
    KNOWN = 2
    VERIFIED = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def safety(self) -> FixSafety:
        """A fix's safety from its set's backing: only a set the service was re-run with is safe;
        a guess (Docker's defaults, nothing known) is unsafe; anything between needs verifying."""
        if self is FixConfidence.VERIFIED:
            return FixSafety.SAFE
        if self is FixConfidence.UNKNOWN:
            return FixSafety.UNSAFE
        return FixSafety.NEEDS_VERIFICATION


@dataclass(frozen=True, slots=True)
class Grant:
    """One capability the service keeps, and why (the trailing comment on its cap_add line)."""

    capability: str  # short name: NET_ADMIN
    reason: str
    source: str  # "profile", "image:<family>", "inferred", "default"

    @property
    def comment(self) -> str:
        if self.source == "default":
            return self.reason  # "Docker default, not yet verified" or "... not covered by the image knowledge"
        origin = {
            "profile": "measured by leastcap profile",
            "profile-verified": "measured and verified by leastcap profile",
            "inferred": "inferred from this service",
        }.get(self.source)
        if origin is None and self.source.startswith("image-file:"):
            origin = f"read from the image: {self.source[len('image-file:') :]}"
        if origin is None and self.source.startswith("image:"):
            origin = f"image knowledge: {self.source[6:]}"
        return f"{self.reason} ({origin or self.source})"


@dataclass(frozen=True, slots=True)
class Extra:
    """A non-capability setting privileged was providing: a device, sysctl, security_opt, group."""

    key: str  # devices | device_cgroup_rules | sysctls | security_opt | group_add
    value: str
    reason: str
