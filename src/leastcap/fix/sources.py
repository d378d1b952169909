"""Where a plan's capability set comes from, most trusted first (see leastcap.fix.plan): a
``leastcap profile`` file, the image knowledge base, the service's own user, or Docker's defaults
spelled out; then what the image's own files add."""

from __future__ import annotations

from leastcap.capabilities import ALL, DOCKER_DEFAULT_CAPABILITIES, short
from leastcap.fix.grants import Extra, FixConfidence, Grant
from leastcap.imagefacts.model import FactKind, ImageFacts
from leastcap.knowledge.image_knowledge import NOT_COVERED, ImageEntry, Need
from leastcap.model import Service
from leastcap.profile.format import Profile
from leastcap.profile.touched import sysctl_refusal
from leastcap.report.common import defuse
from leastcap.rules.missing_cap_drop import MissingCapDrop
from leastcap.rules.registry import fixable_slugs
from leastcap.semantics import without_option

_DEFAULT_KEPT = "Docker default, kept: the source adds to Docker's defaults"


def starting_set(
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
        grants, found_extras, confidence = from_profile(profile, messages)
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
    primary = any(t in fixable_slugs() for t in found)
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
    if ALL in existing_drop or MissingCapDrop.slug in found:
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


def from_image_facts(
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
        refusal = sysctl_refusal_for(service, fact.sysctl) if fact.sysctl else None
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


# (full, short) names of Docker's defaults: spelled out for most services a scan plans.
_DEFAULT_NAMES = tuple((c, short(c)) for c in DOCKER_DEFAULT_CAPABILITIES)


def _docker_defaults(already_dropped: set[str], reason: str = "Docker default, not yet verified") -> list[Grant]:
    """Docker's default capabilities not in ``already_dropped`` (full or short names)."""
    return [
        Grant(name, reason, "default")
        for full, name in _DEFAULT_NAMES
        if full not in already_dropped and name not in already_dropped
    ]


def from_profile(profile: Profile, messages: list[str]) -> tuple[list[Grant], list[Extra], FixConfidence]:
    source = "profile-verified" if profile.verified else "profile"
    grants = []
    for cap in profile.cap_add:
        ev = profile.evidence_for(cap)
        reason = ev.reason if ev is not None and ev.reason else "used during the recording"
        grants.append(Grant(cap, reason, source))
    extras = [Extra("devices", d, "used during the recording (profile)") for d in profile.devices]
    extras += [Extra("sysctls", f"{k}={v}", "needed by the service (profile)") for k, v in profile.sysctls.items()]
    # no-new-privileges is the planner's own decision (plan._wants_nnp), in whatever spelling the
    # profile recorded it.
    extras += [
        Extra("security_opt", s, "needed by the service (profile)")
        for s in without_option(profile.security_opt, "no-new-privileges")
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


def sysctl_refusal_for(service: Service, name: str) -> str | None:
    """Why Docker cannot set sysctl ``name`` for this service (runc refuses a net.* sysctl in the
    host's network namespace, an IPC one in the host's IPC namespace, any non-namespaced one)."""
    return sysctl_refusal(
        name,
        host_network=service.network_mode is not None and service.network_mode.value == "host",
        host_ipc=service.ipc is not None and service.ipc.value == "host",
    )
