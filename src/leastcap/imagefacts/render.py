"""Image facts as text for people: every value read from the image is defused before printing."""

from __future__ import annotations

from leastcap.imagefacts.model import ImageFacts
from leastcap.report.common import defuse


def render_facts(facts: ImageFacts) -> str:
    user = facts.user or "root (no USER)"
    head = (
        f"read from the image {defuse(facts.image)} ({facts.image_id[:19]}, user {defuse(user)}, "
        f"{len(facts.scripts)} start-up script(s) read):"
    )
    lines = [head]
    if not facts.facts:
        lines.append("  nothing in its start-up needs a capability beyond Docker's defaults")
    for fact in facts.facts:
        lines.append(f"- {defuse(fact.where)}: {defuse(fact.text)}")
        if fact.capabilities:
            lines.append(f"    needs: {', '.join(fact.capabilities)}")
        if fact.sysctl:
            lines.append(f"    sysctl {defuse(fact.sysctl)}: {defuse(fact.note)}")
        elif fact.note:
            lines.append(f"    {defuse(fact.note)}")
        if fact.breaks_nnp:
            lines.append("    no-new-privileges: would stop it working")
    lines.extend(f"  not read: {defuse(limit)}" for limit in facts.limits)
    return "\n".join(lines)
