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

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from leastcap.capabilities import ALL, DOCKER_DEFAULT_CAPABILITIES, short, try_normalize
from leastcap.fix.devices import device_access
from leastcap.imagefacts.model import FactKind, ImageFacts
from leastcap.knowledge.image_knowledge import NOT_COVERED, ImageEntry, KnowledgeBase, Need, PrivilegedNeed
from leastcap.model import Service
from leastcap.profile.format import Profile
from leastcap.profile.touched import sysctl_refusal
from leastcap.report.common import defuse
from leastcap.rules.cap_add_all import CapAddAll
from leastcap.rules.missing_cap_drop import MissingCapDrop
from leastcap.rules.no_new_privileges import NoNewPrivileges
from leastcap.rules.privileged import Privileged
from leastcap.semantics import container_ports, is_root_user, last_of, no_new_privileges

NNP = "no-new-privileges:true"
_DEFAULT_KEPT = "Docker default, kept: the source adds to Docker's defaults"
# Rules whose findings fix acts on (named by the rule classes, so a renamed rule cannot silently drop
# out); the last two only with ``fix --all``.
PRIMARY_RULES = (Privileged.slug, CapAddAll.slug)
WITH_ALL_FLAG = (*PRIMARY_RULES, MissingCapDrop.slug, NoNewPrivileges.slug)
# Programs that drop from root to another user at start-up (they call setgroups/setgid/setuid).
_DROPPERS = ("gosu", "su-exec", "setpriv", "setuidgid", "chpst", "s6-setuidgid", "runuser")
# setuid programs that no-new-privileges makes useless.
_SETUID_USERS = ("sudo", "su", "ping", "newuidmap", "newgidmap", "doas")


class FixConfidence(enum.IntEnum):
    """How much the proposed set is backed by evidence (higher is better)."""

    UNKNOWN = 0
    INFERRED = 1
    KNOWN = 2
    VERIFIED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


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

    def signature(self) -> tuple[object, ...]:
        """What the file edit depends on: services with equal signatures can share one edit."""
        return (
            self.action,
            self.remove_privileged,
            self.remove_cap_add_all,
            self.cap_drop_all,
            tuple((g.capability, g.comment) for g in self.cap_add),
            self.extras,
            self.no_new_privileges,
        )


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
    primary = any(t in PRIMARY_RULES for t in found)
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
    removes_privileged = privileged_on and "privileged" in found
    if removes_privileged:
        # privileged opened the device cgroup; bind-mounted devices need that carried over.
        access = device_access(service)
        if access.keep:
            return ServicePlan(action="keep", confidence=FixConfidence.KNOWN, messages=(access.keep,), **base)  # type: ignore[arg-type]
        extras.extend(Extra(key, value, reason) for key, value, reason in access.extras)
        messages.extend(access.messages)
    confidence = FixConfidence.UNKNOWN
    keep_defaults = False
    needs_caps = primary or "missing-cap-drop" in found

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

    nnp_flag = bool(
        _wants_nnp(service, found, entry, profile, non_root=non_root, messages=messages, image_facts=image_facts)
    )

    action = "fix"
    plan = ServicePlan(
        action=action,
        confidence=confidence if needs_caps else FixConfidence.KNOWN,
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
    grants, confidence, keep_defaults = _starting_set(
        service, found, entry, profile, extras, messages, non_root=non_root, existing_drop=existing_drop
    )
    before = {g.capability for g in grants}
    _infer(service, grants, messages, entry is None and profile is None and not non_root)
    if image_facts is not None:
        confidence = _from_image_facts(image_facts, grants, extras, messages, confidence,
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


def _starting_set(
    service: Service,
    found: tuple[str, ...],
    entry: ImageEntry | None,
    profile: Profile | None,
    extras: list[Extra],
    messages: list[str],
    *,
    non_root: bool,
    existing_drop: set[str],
) -> tuple[list[Grant], FixConfidence, bool]:
    """The set from the most trusted source there is (the module's list): a profile, the image
    knowledge, a non-root user (nothing), or Docker's defaults spelled out."""
    if profile is not None:
        grants, found_extras, confidence = _from_profile(profile, messages)
        extras.extend(found_extras)
        return grants, confidence, False
    if entry is not None:
        grants, found_extras, confidence = _from_knowledge(entry, service.name, non_root, messages)
        extras.extend(found_extras)
        keep_defaults = _on_documented_defaults(entry, service, found, grants, messages,
                                                non_root=non_root, existing_drop=existing_drop)  # fmt: skip
        return grants, confidence, keep_defaults
    if non_root:
        messages.append(
            f"runs as user {service.user.value if service.user else ''!r} (not root): Docker gives a "
            "non-root process no effective capabilities from cap_add (it sets no ambient capabilities), "
            "so dropping them all loses nothing unless a binary carries file capabilities"
        )
        return [], FixConfidence.INFERRED, False
    primary = any(t in PRIMARY_RULES for t in found)
    grants = _docker_defaults(existing_drop if not primary else set())
    image = service.image.value if service.image else ""
    messages.append(
        f"nothing is known about {image or 'this image'}: kept Docker's default capabilities "
        f"explicitly; run `leastcap profile {service.name} --verify --minimize` to measure the "
        "minimal set"
    )
    return grants, FixConfidence.UNKNOWN, False


def _on_documented_defaults(
    entry: ImageEntry,
    service: Service,
    found: tuple[str, ...],
    grants: list[Grant],
    messages: list[str],
    *,
    non_root: bool,
    existing_drop: set[str],
) -> bool:
    """True when the knowledge documents its set as Docker's defaults plus cap_add and the file can
    keep the defaults as they are (no cap_drop: [ALL]); when the file already drops ALL, or a fix is
    asked to add cap_drop (--all), the defaults are spelled out into ``grants`` instead."""
    coverage = entry.coverage(non_root=non_root)
    if not (coverage.complete and coverage.base == "docker-default"):
        return False
    keep_defaults = False
    if ALL in existing_drop or "missing-cap-drop" in found:
        grants.extend(_docker_defaults({g.capability for g in grants}, _DEFAULT_KEPT))
        how = "they are spelled out beside cap_drop: [ALL]"
    else:
        keep_defaults = True
        how = "those stay (no cap_drop: [ALL])"
    messages.append(
        f"image knowledge ({entry.family}) documents this set on top of Docker's default "
        f"capabilities, so {how}; run `leastcap profile {service.name} --verify --minimize` to "
        "find a smaller set"
    )
    return keep_defaults


def _from_image_facts(
    facts: ImageFacts,
    grants: list[Grant],
    extras: list[Extra],
    messages: list[str],
    confidence: FixConfidence,
    *,
    non_root: bool,
    profile: Profile | None,
    service: Service,
) -> FixConfidence:
    """What the image's own files add to the answer, and how sure the answer still is.

    A verified profile measured the service and was re-run without anything else, so facts only
    become notes there. Otherwise each capability the image's start-up needs is granted with the
    file and line it rests on; an answer from the knowledge base that lacked it was incomplete for
    this image, so its confidence drops to inferred. A service that runs as a non-root user never
    runs root start-up code, so only file capabilities (which work for any user) count then.
    """
    granted = {g.capability for g in grants}
    added: list[str] = []
    for fact in facts.facts:
        if non_root and fact.kind is not FactKind.FILE_CAPABILITY:
            continue
        for cap in fact.capabilities:
            if cap in granted:
                continue
            if profile is not None and profile.verified:
                messages.append(
                    f"the image's start-up can also need {cap} ({fact.where}: {fact.text}); the "
                    "verified profile did not: re-record with that code path if the service uses it"
                )
                continue
            granted.add(cap)
            added.append(cap)
            # The reason becomes a comment in the user's file: one defused line, never raw image text.
            grants.append(Grant(cap, defuse(fact.text)[:120], f"image-file:{defuse(fact.where)}"))
        # Whether Docker can set the sysctl depends on this service's namespaces too (a net.* sysctl
        # on the host network, an IPC one with ipc: host: runc refuses the container).
        refusal = _sysctl_refusal(service, fact.sysctl) if fact.sysctl else None
        if fact.sysctl and refusal is None and fact.value:
            extras.append(Extra("sysctls", f"{fact.sysctl}={fact.value}", f"written at start-up ({fact.where})"))
        elif fact.sysctl or fact.needs_host:
            messages.append(f"the image's start-up at {fact.where} ({fact.text}): {refusal or fact.note}")
    if facts.limits:
        messages.append(f"the image was read only in part ({'; '.join(facts.limits)})")
    if added and confidence > FixConfidence.INFERRED:
        messages.append(
            f"confidence lowered to inferred: the image's own start-up needs {', '.join(added)}, "
            "which the source of the answer did not list"
        )
        return FixConfidence.INFERRED
    return confidence


def _docker_defaults(already_dropped: set[str], reason: str = "Docker default, not yet verified") -> list[Grant]:
    """Docker's default capabilities not in ``already_dropped`` (full or short names)."""
    return [
        Grant(short(c), reason, "default")
        for c in DOCKER_DEFAULT_CAPABILITIES
        if c not in already_dropped and short(c) not in already_dropped
    ]


def _from_profile(profile: Profile, messages: list[str]) -> tuple[list[Grant], list[Extra], FixConfidence]:
    source = "profile-verified" if profile.verified else "profile"
    grants = []
    for cap in profile.cap_add:
        ev = profile.evidence_for(cap)
        reason = ev.reason if ev is not None and ev.reason else "used during the recording"
        grants.append(Grant(cap, reason, source))
    extras = [Extra("devices", d, "used during the recording (profile)") for d in profile.devices]
    extras += [Extra("sysctls", f"{k}={v}", "needed by the service (profile)") for k, v in profile.sysctls.items()]
    extras += [
        Extra("security_opt", s, "needed by the service (profile)")
        for s in profile.security_opt
        if not s.replace("=", ":").startswith("no-new-privileges")
    ]
    if not profile.verified:
        messages.append("the profile was not verified: run `leastcap profile --verify` to confirm the set")
    if profile.recording.lost_events:
        messages.append(f"the recording lost {profile.recording.lost_events} events: the set may be incomplete")
    confidence = FixConfidence.VERIFIED if profile.verified else FixConfidence.INFERRED
    return grants, extras, confidence


def _from_knowledge(
    entry: ImageEntry, service: str, non_root: bool, messages: list[str]
) -> tuple[list[Grant], list[Extra], FixConfidence]:
    """The entry's set for the service's mode, and how far the entry's sources cover that mode.

    "known" only when the entry marks the mode complete and every applied fact is documented
    upstream; an incomplete mode keeps Docker's defaults for the part it does not cover.
    """
    grants: list[Grant] = []
    extras: list[Extra] = []
    seen: set[str] = set()
    third_party = False
    for need in entry.default_needs:
        if need.unless_user and non_root:
            messages.append(
                f"not adding {', '.join(need.cap_add) or 'anything'} for {need.feature!r}: "
                "the service runs as a non-root user, so that start-up code is skipped"
            )
            continue
        third_party = third_party or need.confidence == "third-party"
        for cap in need.cap_add:
            if cap not in seen:
                seen.add(cap)
                grants.append(Grant(cap, need.feature, f"image:{entry.family}"))
        extras.extend(_need_extras(need))
    for need in entry.optional_needs:
        what = ", ".join([*need.cap_add, *need.devices, *need.sysctls, *need.security_opt]) or "nothing more"
        messages.append(f"only for {need.feature}: {what} ({need.reason}) [image knowledge: {entry.family}]")
    messages.extend(f"{note.text} [image knowledge: {entry.family}]" for note in entry.notes)
    mode = "a non-root user" if non_root else "its default user"
    coverage = entry.coverage(non_root=non_root)
    if not coverage.complete:
        grants.extend(_docker_defaults(seen, "Docker default, not covered by the image knowledge"))
        if coverage == NOT_COVERED:
            what = f"image knowledge ({entry.family}) does not describe running as {mode}"
        else:
            what = (
                f"image knowledge ({entry.family}, run as {mode}) covers {coverage.known}; it does not "
                f"cover {coverage.unknown}"
            )
        messages.append(
            f"{what}: kept Docker's default capabilities for the rest (confidence inferred); run "
            f"`leastcap profile {service} --verify --minimize` to measure it"
        )
        return grants, extras, FixConfidence.INFERRED
    if third_party:
        messages.append(
            f"image knowledge ({entry.family}) rests partly on third-party reports, not on "
            "upstream documentation: confidence inferred"
        )
        return grants, extras, FixConfidence.INFERRED
    return grants, extras, FixConfidence.KNOWN


def _need_extras(need: Need) -> list[Extra]:
    out = [Extra("devices", d, need.feature) for d in need.devices]
    out += [Extra("device_cgroup_rules", r, need.feature) for r in need.device_cgroup_rules]
    out += [Extra("sysctls", s, need.feature) for s in need.sysctls]
    out += [Extra("security_opt", s, need.feature) for s in need.security_opt]
    # Placeholders such as "<render group id>" cannot be written; they are advice only.
    out += [Extra("group_add", g, need.feature) for g in need.group_add if "<" not in g]
    return out


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
    profile: Profile | None,
    *,
    non_root: bool,
    messages: list[str],
    image_facts: ImageFacts | None = None,
) -> bool | None:
    """True: add no-new-privileges:true. False/None: leave it out (with the reason in messages)."""
    if not (any(t in PRIMARY_RULES for t in found) or "no-new-privileges" in found):
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
    if profile is not None and any(s.startswith("no-new-privileges") for s in profile.security_opt):
        return True
    return True


def _sysctl_refusal(service: Service, name: str) -> str | None:
    """Why Docker cannot set sysctl ``name`` for this service (runc refuses a net.* sysctl in the
    host's network namespace, an IPC one in the host's IPC namespace, any non-namespaced one)."""
    return sysctl_refusal(
        name,
        host_network=service.network_mode is not None and service.network_mode.value == "host",
        host_ipc=service.ipc is not None and service.ipc.value == "host",
    )


def _settable(service: Service, extras: list[Extra], messages: list[str]) -> list[Extra]:
    """``extras`` without the sysctls Docker would refuse for this service (the container would not
    start), each said instead, whatever proposed it (knowledge, image facts, a profile)."""
    out: list[Extra] = []
    for extra in extras:
        name = extra.value.split("=", 1)[0]
        refusal = _sysctl_refusal(service, name) if extra.key == "sysctls" else None
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
