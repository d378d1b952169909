"""Every capability a service keeps, and where its rationale comes from: a profile's evidence
(``--profiles``), the knowledge base's need with its source, or the comment written beside it in
the Compose file; none of those is "no rationale recorded". Image facts need a local image
(``leastcap explain-image``) and are not read here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leastcap.config import Config
from leastcap.model import Located, Service
from leastcap.secreport.model import KeptCapability, Rationale
from leastcap.tree import Tree, TreeError

DEFAULTS = "Docker's default set (no cap_drop: [ALL])"
PRIVILEGED = "ALL (privileged)"


def _knowledge(config: Config) -> Any:
    from leastcap.knowledge.image_knowledge import KnowledgeError, config_knowledge, load_knowledge

    try:
        return config_knowledge(config)
    except KnowledgeError:
        return load_knowledge()


class _Comments:
    """The comment written on a value's line, or alone on the line above it."""

    def __init__(self, tree: Tree, cwd: str) -> None:
        self._tree = tree
        self._cwd = cwd
        self._lines: dict[str, list[str]] = {}

    def _file(self, path: str) -> list[str]:
        if path not in self._lines:
            full = path if path.startswith("/") else f"{self._cwd}/{path}"
            try:
                self._lines[path] = self._tree.read_bytes(full).decode("utf-8", "replace").splitlines()
            except TreeError:
                self._lines[path] = []
        return self._lines[path]

    def near(self, value: Located[Any]) -> str:
        loc = value.origin
        lines = self._file(loc.path)
        if not 0 < loc.line <= len(lines):
            return ""
        line = lines[loc.line - 1]
        hash_at = line.find(" #", max(loc.column - 1, 0))
        if hash_at >= 0:
            return line[hash_at + 2 :].strip()
        above = lines[loc.line - 2].strip() if loc.line >= 2 else ""
        return above[1:].strip() if above.startswith("#") else ""


def capabilities(
    services: Sequence[Service],
    profiles: Mapping[tuple[str, str], tuple[str, object]],
    config: Config,
    tree: Tree,
) -> tuple[KeptCapability, ...]:
    kb = _knowledge(config)
    comments = _Comments(tree, getattr(tree, "cwd", "/"))
    out: list[KeptCapability] = []
    for service in services:
        profile_file, profile = profiles.get((service.project, service.name), ("", None))
        entry = kb.lookup(service.image.value) if service.image is not None else None
        kept: list[tuple[str, Located[Any] | None]] = []
        if service.privileged is not None and service.privileged.value is True:
            kept.append((PRIVILEGED, service.privileged))
        kept += [(c.value.upper().removeprefix("CAP_"), c) for c in service.cap_add]
        privileged = bool(kept) and kept[0][0] == PRIVILEGED
        if not privileged and not any(c.value.upper() in ("ALL", "CAP_ALL") for c in service.cap_drop):
            kept.append((DEFAULTS, None))
        for capability, located in dict.fromkeys(kept):
            reasons: list[Rationale] = []
            if profile is not None:
                reasons += _from_profile(capability, profile_file, profile)
            if entry is not None:
                reasons += _from_knowledge(capability, entry)
            comment = comments.near(located) if located is not None else ""
            if comment:
                reasons.append(Rationale("compose comment", comment, str(located.origin) if located else ""))
            out.append(KeptCapability(service.project, service.name, capability, tuple(reasons)))
    return tuple(out)


def _from_profile(capability: str, file: str, profile: Any) -> list[Rationale]:
    verified = "verified" if profile.verified else "not verified"
    if capability == PRIVILEGED:
        need = ", ".join(profile.cap_add) or "no capability"
        return [Rationale("profile", f"measured need: {need} ({verified}); privileged is not needed", file)]
    evidence = profile.evidence_for(capability)
    if evidence is None:
        if capability in profile.cap_add:
            return [Rationale("profile", f"kept by the profile ({verified})", file)]
        return [Rationale("profile", f"not used in the recording ({verified}): a candidate to drop", file)]
    return [
        Rationale(
            "profile",
            f"{evidence.decision}: {evidence.reason} (granted {evidence.granted}, "
            f"denied {evidence.denied}; {verified})",
            file,
        )
    ]


def _from_knowledge(capability: str, entry: Any) -> list[Rationale]:
    out: list[Rationale] = []
    if capability == PRIVILEGED and entry.privileged is not None:
        source = entry.privileged.sources[0].url if entry.privileged.sources else ""
        state = "required" if entry.privileged.required else "not required"
        out.append(Rationale("knowledge base", f"{entry.title}: privileged {state}: {entry.privileged.reason}", source))
    for need in entry.needs:
        if capability in need.cap_add:
            source = need.sources[0].url if need.sources else ""
            out.append(Rationale("knowledge base", f"{entry.title}: {need.feature}: {need.reason}", source))
    if capability == DEFAULTS and entry.coverage_root.base == "docker-default":
        out.append(Rationale("knowledge base", f"{entry.title}: its sources add to Docker's default set", ""))
    return out
