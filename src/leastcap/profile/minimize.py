"""The search of ``--minimize``: which capabilities can go, a group at a time, and what the
evidence of those that went says.

Neither starts a run: the verification runs come in as ``verify`` and ``verify_all`` callables
(``runner``'s, or a test's oracle), so the search can be measured without a container.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from leastcap.capabilities import short, sort_capabilities
from leastcap.profile.format import MINIMIZED_OUT, REQUIRED, CapabilityEvidence, Exercised


def minimize_groups(
    candidate: frozenset[str],
    verify: Callable[[frozenset[str]], bool],
    last_denied: list[frozenset[str]],
    functional: bool,
    verify_all: Callable[[list[frozenset[str]]], list[bool]] | None = None,
) -> frozenset[str]:
    """Remove what can go, a group at a time: a group whose removal passes goes in one run.

    A group that fails: without a probe judging (``functional`` False) a new denial is a failure,
    so the group's capabilities that run saw denied are needed; they stay and only the rest is
    tried again (every capability needed: one run, where removing each in turn took one per
    capability). With a probe judging, the denials only hint: when at least half of the group was
    denied, most of it is likely needed and each is tried alone (as the linear strategy would), all
    from the same set and side by side (``verify_all``), then all that passed alone are removed
    together (one more run when more than one did, and one by one if that fails); otherwise the
    group is split in halves."""
    pending = [sort_capabilities(candidate)]
    while pending:
        group = frozenset(pending.pop())
        if not group:
            continue
        if verify(candidate - group):
            candidate = candidate - group
            continue
        if len(group) == 1:
            continue
        denied = last_denied[0] & group
        ordered = sort_capabilities(group)
        if not functional and denied:
            pending.append(sort_capabilities(group - denied))
        elif functional and 2 * len(denied) >= len(group) and verify_all is not None:
            alone = verify_all([candidate - {c} for c in ordered])
            removable = frozenset(c for c, ok in zip(ordered, alone, strict=True) if ok)
            if len(removable) > 1 and not verify(candidate - removable):
                pending += [[c] for c in reversed(sort_capabilities(removable))]
            else:
                candidate = candidate - removable
        elif functional and 2 * len(denied) >= len(group):
            pending += [[c] for c in reversed(ordered)]
        else:
            half = len(ordered) // 2
            # Depth first, lower capability numbers first (the order of the linear strategy).
            pending += [ordered[half:], ordered[:half]]
    return candidate


def mark_minimized_out(
    evidence: list[CapabilityEvidence], removed: frozenset[str], exercised: tuple[Exercised, ...]
) -> None:
    """The evidence of each capability --minimize removed says so, in place (with what the last
    passing run saw denied of it: ``exercised``, when a probe was the judge)."""
    lost_without = {d.capability: d for d in exercised}
    for cap in sort_capabilities(removed):
        item = next((e for e in evidence if e.capability == short(cap)), None)
        why = "--minimize removed it and verification still passed"
        if short(cap) in lost_without:
            why = f"--minimize removed it and the probe kept passing ({lost_without[short(cap)].describe()})"
        if item is None:
            never = why + " (never checked in the recording)"
            evidence.append(CapabilityEvidence(short(cap), MINIMIZED_OUT, never))
        elif item.decision == REQUIRED:
            evidence[evidence.index(item)] = replace(item, decision=MINIMIZED_OUT, reason=why)
