"""A fix is data that belongs to a finding: what to change, where, and how safe applying it is.

The planner (leastcap.fix.plan) decides what least privilege replaces a service's privilege; the
pipeline attaches the resulting ``Fix`` to each finding it answers; the editor (leastcap.fix.edit)
applies ``Fix`` objects, nothing else. One service's fixable findings share one ``Fix``: removing
``privileged`` and writing ``cap_drop: [ALL]`` answer ``privileged`` and ``missing-cap-drop`` at once,
and the editor applies an equal fix once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from leastcap.model.location import Location


class FixSafety(enum.Enum):
    """How safe applying the fix is, like ruff's fix applicability.

    Taking privilege away always changes what the service may do, so "safe" cannot mean "no
    behaviour change": it means the service was re-run with exactly this set and kept working.
    """

    # The capability set was measured and the service re-run with it (a verified leastcap profile).
    SAFE = "safe"
    # The set rests on documentation, a measurement that was not re-run, or the service's own
    # configuration: apply it, then run the service (``leastcap profile --verify``) before shipping.
    NEEDS_VERIFICATION = "needs-verification"
    # Nothing is known about what the service needs: the set is Docker's defaults spelled out, a
    # guess. ``fix`` only proposes it unless asked (``--min-confidence unknown``).
    UNSAFE = "unsafe"

    @property
    def label(self) -> str:
        return self.value


class EditAction(enum.Enum):
    REMOVE = "remove"  # the setting (or the one list entry) written at ``Edit.at``
    ADD = "add"  # an entry to the list ``Edit.key`` (created when the service does not write it)


# The service keys a fix may change; anything else changing in the reloaded model is an edit gone wrong.
FIX_KEYS = (
    "privileged",
    "cap_drop",
    "cap_add",
    "security_opt",
    "devices",
    "device_cgroup_rules",
    "sysctls",
    "group_add",
)


@dataclass(frozen=True, slots=True)
class Edit:
    """One change to a service's settings."""

    action: EditAction
    key: str  # one of FIX_KEYS
    value: str = ""  # ADD: the entry ("NET_ADMIN", "/dev/net/tun"); REMOVE: the entry removed ("ALL") or ""
    comment: str = ""  # ADD: why, written as the entry's trailing comment (defused: one line)
    at: Location | None = None  # REMOVE: where the loader found it written (the key of a setting, the entry of a list)

    def key_text(self) -> tuple[str, str, str, str]:
        """The edit without its position: services whose fixes have equal texts can share one edit."""
        return (self.action.value, self.key, self.value, self.comment)


@dataclass(frozen=True, slots=True)
class Fix:
    """What replaces a service's privilege, made where ``at`` says the privilege is written."""

    safety: FixSafety
    confidence: str  # how the set is backed: verified | known | inferred | unknown
    at: Location  # where the edits start: the privileged key, else the ALL entry, else the service's key
    edits: tuple[Edit, ...]

    def removes(self, key: str, value: str = "") -> bool:
        return any(e.action is EditAction.REMOVE and e.key == key and e.value == value for e in self.edits)

    def added(self, key: str) -> tuple[Edit, ...]:
        return tuple(e for e in self.edits if e.action is EditAction.ADD and e.key == key)

    def signature(self) -> tuple[tuple[str, str, str, str], ...]:
        return tuple(e.key_text() for e in self.edits)

    @property
    def summary(self) -> str:
        """One line: ``remove privileged; cap_drop: ALL; cap_add: NET_ADMIN, NET_RAW``."""
        parts = [
            f"remove {e.key}" + (f" {e.value}" if e.value else "") for e in self.edits if e.action is EditAction.REMOVE
        ]
        added: dict[str, list[str]] = {}  # one pass: scan renders a summary for every planned service
        for e in self.edits:
            if e.action is EditAction.ADD:
                added.setdefault(e.key, []).append(e.value)
        parts.extend(f"{key}: {', '.join(added[key])}" for key in FIX_KEYS if key in added)
        return "; ".join(parts)
