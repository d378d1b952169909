"""The planner: for one service, what least privilege replaces ``privileged`` / ``cap_add: [ALL]``.

Pure: a function of the service, the rule slugs found on it, the image knowledge base and an
optional profile. Where the minimal capability set comes from, most trusted first:

1. a ``leastcap profile`` file for the service (``verified`` when the profile was verified);
2. the image knowledge base: ``known`` when the entry's sources cover the whole set for the
   service's mode (root or a non-root ``user:``), user switching and init included, and rest on
   upstream documentation; otherwise ``inferred``, with the uncovered part left at Docker's defaults
   and the messages saying which part is known and which is not;
3. the service's own configuration (``inferred``): ``user:`` non-root (cap_add gives it nothing),
   host networking with a port below 1024, a root entrypoint that drops to another user;
4. nothing known (``unknown``): Docker's 14 default capabilities spelled out, each marked
   "Docker default, not yet verified" - already far safer than privileged, and never a tiny guess
   that breaks production.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from leastcap.capabilities import ALL, short, try_normalize
from leastcap.fix.devices import device_access
from leastcap.fix.grants import Extra, FixConfidence, Grant
from leastcap.fix.sources import from_image_facts, starting_set, sysctl_refusal_for
from leastcap.imagefacts.model import ImageFacts
from leastcap.knowledge.image_knowledge import ImageEntry, KnowledgeBase, PrivilegedNeed
from leastcap.model import Edit, EditAction, Fix, Location, Service
from leastcap.profile.format import Profile
from leastcap.report.common import defuse
from leastcap.rules.missing_cap_drop import MissingCapDrop
from leastcap.rules.no_new_privileges import NoNewPrivileges
from leastcap.rules.privileged import Privileged
from leastcap.rules.registry import fixable_slugs
from leastcap.semantics import container_ports, is_root_user, last_of, no_new_privileges

NNP = "no-new-privileges:true"
# Programs that drop from root to another user at start-up (they call setgroups/setgid/setuid).
_DROPPERS = ("gosu", "su-exec", "setpriv", "setuidgid", "chpst", "s6-setuidgid", "runuser")
# setuid programs that no-new-privileges makes useless.
_SETUID_USERS = ("sudo", "su", "ping", "newuidmap", "newgidmap", "doas")


@dataclass(frozen=True, slots=True)
class ServicePlan:
    service: str
    project: str
    triggers: tuple[str, ...]
    # "fix": edit the file; "keep": the image truly needs privileged (explained, not edited);
    # "none": nothing to change.
    action: str
    confidence: FixConfidence = FixConfidence.UNKNOWN
    remove_privileged: bool = False
    remove_cap_add_all: bool = False
    cap_drop_all: bool = False
    cap_add: tuple[Grant, ...] = ()
    extras: tuple[Extra, ...] = ()
    no_new_privileges: bool = False
    # The documented set is Docker's defaults plus cap_add, so no cap_drop: [ALL] is written.
    on_docker_defaults: bool = False
    messages: tuple[str, ...] = field(default=())


def fix_of(plan: ServicePlan, service: Service) -> Fix | None:
    """The plan as the ``Fix`` its findings carry: None when the plan edits nothing (``keep``,
    ``none``); a ``propose`` plan, less sure than ``--min-confidence``, still has its fix.

    The edits start where the loader found the privilege written: the ``privileged`` key, else the
    ``ALL`` entry of cap_add, else the service's key. Comments are defused: a reason can carry text
    from hostile input (a file name inside an image, a profile's reason), and a newline in it must
    not end the comment and write YAML into the user's file.
    """
    if plan.action not in ("fix", "propose"):
        return None
    edits: list[Edit] = []
    at: Location | None = None
    if plan.remove_privileged and service.privileged is not None:
        at = service.privileged.origin
        edits.append(Edit(EditAction.REMOVE, "privileged", at=at))
    if plan.remove_cap_add_all:
        entry = next((c.origin for c in service.cap_add if try_normalize(c.value) == ALL), None)
        at = at or entry
        edits.append(Edit(EditAction.REMOVE, "cap_add", "ALL", at=entry))
    if plan.cap_drop_all:
        edits.append(Edit(EditAction.ADD, "cap_drop", "ALL", "drop everything, add back only what is needed"))
    edits.extend(Edit(EditAction.ADD, "cap_add", g.capability, defuse(g.comment)) for g in plan.cap_add)
    edits.extend(Edit(EditAction.ADD, e.key, e.value, defuse(e.reason)) for e in plan.extras)
    if plan.no_new_privileges:
        edits.append(Edit(EditAction.ADD, "security_opt", NNP))
    return Fix(plan.confidence.safety, plan.confidence.label, at or service.key, tuple(edits))


def _norm_set(values: Iterable[str]) -> set[str]:
    out = set()
    for value in values:
        n = try_normalize(value)
        if n is not None:
            out.add(n)
    return out


def _words(service: Service) -> list[str]:
    words: list[str] = []
    for part in (*service.entrypoint, *service.command):
        words.extend(re.split(r"[\s;&|()]+", part))
    return [w.rsplit("/", 1)[-1] for w in words if w]


def plan_service(
    service: Service,
    triggers: Iterable[str],
    knowledge: KnowledgeBase,
    profile: Profile | None = None,
    image_facts: ImageFacts | None = None,
) -> ServicePlan:
    found = tuple(sorted(set(triggers)))
    primary = any(t in fixable_slugs() for t in found)
    base = {"service": service.name, "project": service.project, "triggers": found}
    if not found:
        return ServicePlan(action="none", **base)  # type: ignore[arg-type]

    image = service.image.value if service.image else ""
    entry = knowledge.lookup(image) if image else None
    if entry is not None and entry.privileged is not None and entry.privileged.required and primary:
        why = _why_privileged(entry.privileged, entry.family, image)
        return ServicePlan(action="keep", confidence=FixConfidence.KNOWN, messages=why, **base)  # type: ignore[arg-type]

    messages: list[str] = []
    privileged_on = bool(service.privileged and service.privileged.value)
    existing_add = _norm_set(c.value for c in service.cap_add)
    existing_drop = _norm_set(c.value for c in service.cap_drop)
    non_root = not is_root_user(service.user.value if service.user else None)

    grants: list[Grant] = []
    extras: list[Extra] = []
    removes_privileged = privileged_on and Privileged.slug in found
    if removes_privileged:
        # privileged opened the device cgroup; bind-mounted devices need that carried over.
        access = device_access(service)
        if access.keep:
            return ServicePlan(action="keep", confidence=FixConfidence.KNOWN, messages=(access.keep,), **base)  # type: ignore[arg-type]
        extras.extend(Extra(key, value, reason) for key, value, reason in access.extras)
        messages.extend(access.messages)
    confidence = FixConfidence.UNKNOWN
    keep_defaults = False
    needs_caps = primary or MissingCapDrop.slug in found

    if needs_caps:
        grants, confidence, keep_defaults = _least_capabilities(
            service, found, entry, profile, image_facts, extras, messages,
            non_root=non_root, existing_drop=existing_drop,
        )  # fmt: skip
        if privileged_on:
            messages.append(
                "privileged also gave every host device and disabled seccomp and AppArmor; "
                "if the service uses a host device, list it under devices:"
            )

    # Existing explicit capabilities stay in the file; do not add them twice.
    grants = [g for g in grants if "CAP_" + g.capability not in existing_add]
    kept = sorted(short(c) for c in existing_add if c != ALL)
    if kept and primary:
        messages.append(f"kept the capabilities already in cap_add: {', '.join(kept)} (not checked)")

    nnp_flag = bool(_wants_nnp(service, found, entry, non_root=non_root, messages=messages, image_facts=image_facts))

    action = "fix"
    plan = ServicePlan(
        action=action,
        confidence=confidence if needs_caps else _nnp_confidence(entry, image_facts, messages, nnp_flag),
        remove_privileged=removes_privileged,
        remove_cap_add_all=ALL in existing_add and primary,
        cap_drop_all=needs_caps and ALL not in existing_drop and not keep_defaults,
        cap_add=tuple(grants) if needs_caps else (),
        extras=tuple(_dedupe_extras(service, _settable(service, extras, messages))),
        no_new_privileges=nnp_flag,
        on_docker_defaults=keep_defaults and ALL not in existing_drop,
        messages=tuple(messages),
        **base,  # type: ignore[arg-type]
    )
    if not (
        plan.remove_privileged
        or plan.remove_cap_add_all
        or plan.cap_drop_all
        or plan.cap_add
        or plan.extras
        or plan.no_new_privileges
    ):
        return ServicePlan(action="none", confidence=plan.confidence, messages=plan.messages, **base)  # type: ignore[arg-type]
    return plan


def _nnp_confidence(
    entry: ImageEntry | None, image_facts: ImageFacts | None, messages: list[str], adds_nnp: bool
) -> FixConfidence:
    """How sure a plan that keeps the capabilities as they are is. Adding no-new-privileges breaks
    a setuid or file-capability helper the service runs; that is known only when the image knowledge
    says whether the image has one, or its files were read whole. Otherwise it is inferred."""
    if not adds_nnp:
        return FixConfidence.KNOWN
    if entry is not None and entry.no_new_privileges is not None:
        return FixConfidence.KNOWN
    if image_facts is not None and not image_facts.limits:
        return FixConfidence.KNOWN
    messages.append(
        "nothing says whether the image runs a setuid or file-capability helper that "
        "no-new-privileges would disable (confidence inferred): run the service once with it"
    )
    return FixConfidence.INFERRED


def _why_privileged(need: PrivilegedNeed, family: str, image: str) -> tuple[str, ...]:
    """The messages of a plan that keeps privileged because the image knowledge says it is required."""
    messages = [f"{image}: {need.reason} [image knowledge: {family}]"]
    if need.advice:
        messages.append(f"advice: {need.advice}")
    messages.extend(f"source: {s}" for s in need.sources)
    return tuple(messages)


def _least_capabilities(
    service: Service,
    found: tuple[str, ...],
    entry: ImageEntry | None,
    profile: Profile | None,
    image_facts: ImageFacts | None,
    extras: list[Extra],
    messages: list[str],
    *,
    non_root: bool,
    existing_drop: set[str],
) -> tuple[list[Grant], FixConfidence, bool]:
    """The capabilities the service keeps, how sure that set is, and whether it sits on Docker's
    defaults (no cap_drop: [ALL]): the most trusted source's set, then what the service's own
    configuration and the image's files add to it. Settings it needs besides go to ``extras``."""
    grants, confidence, keep_defaults = starting_set(
        service, found, entry, profile, extras, messages, non_root=non_root, existing_drop=existing_drop
    )
    before = {g.capability for g in grants}
    _infer(service, grants, messages, entry is None and profile is None and not non_root)
    if image_facts is not None:
        confidence = from_image_facts(image_facts, grants, extras, messages, confidence,
                                       non_root=non_root, profile=profile, service=service)  # fmt: skip
    if confidence > FixConfidence.INFERRED and any(
        g.source == "inferred" and g.capability not in before for g in grants
    ):
        # An answer is only as trusted as its weakest part.
        confidence = FixConfidence.INFERRED
        messages.append("confidence lowered to inferred: part of the set is inferred from this service")
    if non_root and entry is not None and any(g.source != "default" for g in grants):
        messages.append(
            "runs as a non-root user: cap_add has no effect on its processes in Docker (no ambient "
            "capabilities) unless a binary has file capabilities"
        )
    return grants, confidence, keep_defaults


def _infer(service: Service, grants: list[Grant], messages: list[str], unknown: bool) -> None:
    """Refine the set from the service's own configuration (comments say so)."""
    have = {g.capability: i for i, g in enumerate(grants)}

    def put(cap: str, reason: str) -> None:
        grant = Grant(cap, reason, "inferred")
        if cap in have:
            # Replace the "Docker default" comment with the concrete reason, keep the position.
            if grants[have[cap]].source == "default":
                grants[have[cap]] = grant
        else:
            have[cap] = len(grants)
            grants.append(grant)

    host_net = service.network_mode is not None and service.network_mode.value == "host"
    non_root = not is_root_user(service.user.value if service.user else None)
    ports = [p for p in container_ports(p.value for p in service.ports) if 0 < p < 1024]
    if host_net and ports and not non_root:
        put("NET_BIND_SERVICE", f"host network, listens on port {ports[0]} < 1024")
    words = _words(service)
    dropper = next((w for w in words if w in _DROPPERS), None)
    if dropper and not non_root:
        for cap in ("SETUID", "SETGID", "CHOWN"):
            put(cap, f"entrypoint drops from root with {dropper}")
    if unknown and ports and not host_net:
        messages.append(
            "ports below 1024 on a bridge network need no NET_BIND_SERVICE "
            "(Docker >= 20.10 sets ip_unprivileged_port_start=0)"
        )


def _wants_nnp(
    service: Service,
    found: tuple[str, ...],
    entry: ImageEntry | None,
    *,
    non_root: bool,
    messages: list[str],
    image_facts: ImageFacts | None = None,
) -> bool | None:
    """True: add no-new-privileges:true. False/None: leave it out (with the reason in messages)."""
    if not (any(t in fixable_slugs() for t in found) or NoNewPrivileges.slug in found):
        return False
    option = last_of(service.security_opt, "no-new-privileges")
    if option is not None:
        if no_new_privileges(service.security_opt) is not True:
            messages.append(f"left {option.entry.value!r} as written: it is an explicit choice")
        return False  # already set (the last occurrence wins), or switched off on purpose
    breaker = image_facts.nnp_breakers[0] if image_facts is not None and image_facts.nnp_breakers else None
    if breaker is not None:
        messages.append(f"no-new-privileges left out: the image has {breaker.where} ({breaker.text}): {breaker.note}")
        return False
    if entry is not None and entry.no_new_privileges is not None and not entry.no_new_privileges.compatible:
        messages.append(
            f"no-new-privileges left out: {entry.no_new_privileges.reason} [image knowledge: {entry.family}]"
        )
        return False
    if entry is not None and entry.no_new_privileges is None:
        messages.append(
            f"no-new-privileges added: the image knowledge ({entry.family}) lists no setuid or "
            "file-capability helper it would disable"
        )
    setuid = next((w for w in _words(service) if w in _SETUID_USERS), None)
    if setuid:
        messages.append(f"no-new-privileges left out: the command runs {setuid}, a setuid program it would break")
        return False
    return True


def _settable(service: Service, extras: list[Extra], messages: list[str]) -> list[Extra]:
    """``extras`` without the sysctls Docker would refuse for this service (the container would not
    start), each said instead, whatever proposed it (knowledge, image facts, a profile)."""
    out: list[Extra] = []
    for extra in extras:
        name = extra.value.split("=", 1)[0]
        refusal = sysctl_refusal_for(service, name) if extra.key == "sysctls" else None
        if refusal is not None:
            messages.append(f"sysctls: {name} ({extra.reason}) is not written: {refusal}")
            continue
        out.append(extra)
    return out


def _dedupe_extras(service: Service, extras: list[Extra]) -> list[Extra]:
    present = {
        "devices": {d.value.source for d in service.devices},
        "sysctls": {s.value.split("=", 1)[0] for s in service.sysctls},
        "security_opt": {s.value for s in service.security_opt},
        "group_add": {g.value for g in service.group_add},
        "device_cgroup_rules": {r.value for r in service.device_cgroup_rules},
    }
    out: list[Extra] = []
    for extra in extras:
        key = extra.value
        if extra.key == "devices":
            key = extra.value.split(":", 1)[0]
        elif extra.key == "sysctls":
            key = extra.value.split("=", 1)[0]
        if key in present[extra.key]:
            continue
        present[extra.key].add(key)
        out.append(extra)
    return out
