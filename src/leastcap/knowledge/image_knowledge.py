"""The image knowledge base: what popular images need instead of ``privileged: true``.

The facts are data (one YAML file per image family in ``knowledge/images/``), each with the
public source it comes from; this module only validates, loads and matches them. Users add or
override entries under ``images:`` in ``.leastcap.yml`` in the same shape (checked against the same
schema), so a site can record what its own images need.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import yaml

from leastcap.capabilities import short, try_normalize

if TYPE_CHECKING:
    from leastcap.config import Config

IMAGES_DIR = Path(__file__).with_name("images")
SCHEMA_PATH = Path(__file__).with_name("image.schema.json")
_GLOB_CHARS = "*?["


class KnowledgeError(ValueError):
    """An image knowledge entry does not match the schema (or names an unknown capability).

    ``detail`` is the message without the file it is about (``origin``), for reports that give the
    file and line apart; ``entry`` the index of the user entry at fault (``images[entry]``), if any.
    """

    def __init__(self, detail: str, origin: str = "", entry: int | None = None) -> None:
        super().__init__(f"{origin}: {detail}" if origin else detail)
        self.detail = detail
        self.entry = entry


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    quote: str  # the sentence (or script/Compose line) of the source the fact rests on, verbatim
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.url} ({self.file})" if self.file else self.url
        return f'{where}: "{self.quote}"'


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of an image's set its sources cover in one mode (root, or a non-root ``user:``).

    ``complete`` is the only state in which fix calls an answer "known"; otherwise ``known`` and
    ``unknown`` say which part the sources cover and which part they leave open.
    """

    complete: bool
    known: str = ""
    unknown: str = ""
    # "docker-default": the source adds its capabilities to Docker's default set (docker run
    # --cap-add), so only that whole set is known to work; "none": it works with cap_drop: [ALL].
    base: str = "none"


NOT_COVERED = Coverage(False, "nothing", "the sources do not describe this mode")


@dataclass(frozen=True, slots=True)
class Need:
    feature: str
    default: bool
    reason: str
    sources: tuple[Source, ...]
    cap_add: tuple[str, ...] = ()  # short names (NET_ADMIN)
    devices: tuple[str, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()  # "c 13:* rmw"
    sysctls: tuple[str, ...] = ()  # "key=value"
    security_opt: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    unless_user: bool = False
    confidence: str = "documented"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class PrivilegedNeed:
    required: bool
    reason: str
    sources: tuple[Source, ...]
    advice: str = ""


@dataclass(frozen=True, slots=True)
class NoNewPrivileges:
    compatible: bool
    reason: str
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class ImageEntry:
    family: str
    title: str
    patterns: tuple[str, ...]
    needs: tuple[Need, ...]
    coverage_root: Coverage = NOT_COVERED
    coverage_non_root: Coverage = NOT_COVERED
    exclude: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    privileged: PrivilegedNeed | None = None
    no_new_privileges: NoNewPrivileges | None = None
    origin: str = "built-in"  # "built-in" or the config file the entry came from

    def matches(self, image: str) -> bool:
        name, tag = split_image(image)
        if any(_pattern_matches(normalize_pattern(p), name, tag) for p in self.exclude):
            return False
        return any(_pattern_matches(normalize_pattern(p), name, tag) for p in self.patterns)

    def coverage(self, *, non_root: bool) -> Coverage:
        """What the sources cover for a service run as root (the default) or as a non-root user."""
        return self.coverage_non_root if non_root else self.coverage_root

    @property
    def default_needs(self) -> tuple[Need, ...]:
        return tuple(n for n in self.needs if n.default)

    @property
    def optional_needs(self) -> tuple[Need, ...]:
        return tuple(n for n in self.needs if not n.default)


def split_image(image: str) -> tuple[str, str]:
    """``nginx:1.25`` -> (``docker.io/library/nginx``, ``1.25``): Docker's reference normalisation."""
    ref = image.strip().lower()
    ref = ref.split("@", 1)[0]
    tag = ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    return _normalize_name(ref), tag


def _normalize_name(name: str) -> str:
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, "/".join(parts[1:])
    else:
        domain, path = "docker.io", name
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    return f"{domain}/{path}"


@functools.lru_cache(maxsize=4096)  # every lookup tries every pattern: normalise each once
def normalize_pattern(pattern: str) -> str:
    """Patterns are written like image references; one starting with a glob is used as written."""
    pattern = pattern.lower()
    if pattern[0] in _GLOB_CHARS:
        return pattern
    slash = pattern.rfind("/")
    colon = pattern.rfind(":")
    if colon > slash:
        return _normalize_name(pattern[:colon]) + pattern[colon:]
    return _normalize_name(pattern)


def _pattern_matches(pattern: str, name: str, tag: str) -> bool:
    last = pattern.rsplit("/", 1)[-1]
    if ":" in last:  # a pattern with a tag part only matches references with a matching tag
        return bool(tag) and fnmatch.fnmatchcase(f"{name}:{tag}", pattern)
    return fnmatch.fnmatchcase(name, pattern)


@functools.cache
def load_schema(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@functools.cache
def _validator(schema_path: Path) -> Any:
    """The schema's validator, made (and the schema itself checked) once: ``jsonschema.validate``
    checks the schema against its meta-schema on every call, which costs far more than the entry."""
    schema = load_schema(schema_path)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_violation(data: Any, schema_path: Path) -> str | None:
    """Where and how ``data`` breaks the JSON schema at ``schema_path`` ("at a/b: message"), or None."""
    # best_match picks the error jsonschema.validate would raise.
    error = jsonschema.exceptions.best_match(_validator(schema_path).iter_errors(data))
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(top)"
    return f"at {path}: {error.message}"


def validate_entry(data: Any, where: str) -> None:
    """Raise KnowledgeError when ``data`` is not a valid entry; ``where`` names it in the message."""
    violation = schema_violation(data, SCHEMA_PATH)
    if violation is not None:
        raise KnowledgeError(f"{where}: invalid image entry {violation}")
    caps = [c for need in data["needs"] for c in need.get("cap_add", ())]
    for cap in caps:
        if try_normalize(cap) in (None, "ALL"):
            raise KnowledgeError(f"{where}: unknown capability {cap!r}")


def _sources(items: Iterable[Mapping[str, str]]) -> tuple[Source, ...]:
    return tuple(Source(s["url"], s["quote"], s.get("file", "")) for s in items)


def _coverage(data: Mapping[str, Any] | None) -> Coverage:
    if data is None:
        return NOT_COVERED
    return Coverage(data["complete"], data.get("known", ""), data.get("unknown", ""), data.get("base", "none"))


def entry_from_dict(data: Any, where: str, origin: str = "built-in") -> ImageEntry:
    validate_entry(data, where)
    needs = tuple(
        Need(
            feature=n["feature"],
            default=n["default"],
            reason=n["reason"],
            sources=_sources(n["sources"]),
            cap_add=tuple(short(try_normalize(c) or c) for c in n.get("cap_add", ())),
            devices=tuple(n.get("devices", ())),
            device_cgroup_rules=tuple(n.get("device_cgroup_rules", ())),
            sysctls=tuple(n.get("sysctls", ())),
            security_opt=tuple(n.get("security_opt", ())),
            group_add=tuple(n.get("group_add", ())),
            volumes=tuple(n.get("volumes", ())),
            unless_user=n.get("unless_user", False),
            confidence=n.get("confidence", "documented"),
        )
        for n in data["needs"]
    )
    priv = data.get("privileged")
    nnp = data.get("no_new_privileges")
    return ImageEntry(
        family=data["family"],
        title=data["title"],
        patterns=tuple(data["patterns"]),
        needs=needs,
        coverage_root=_coverage(data["coverage"]["root"]),
        coverage_non_root=_coverage(data["coverage"].get("non_root")),
        exclude=tuple(data.get("exclude", ())),
        notes=tuple(Note(n["text"], _sources(n["sources"])) for n in data.get("notes", ())),
        privileged=None
        if priv is None
        else PrivilegedNeed(priv["required"], priv["reason"], _sources(priv["sources"]), priv.get("advice", "")),
        no_new_privileges=None
        if nnp is None
        else NoNewPrivileges(nnp["compatible"], nnp["reason"], _sources(nnp["sources"])),
        origin=origin,
    )


@functools.cache
def builtin_entries() -> tuple[ImageEntry, ...]:
    entries = []
    for path in sorted(IMAGES_DIR.glob("*.yaml")):
        # The C loader: scan loads the knowledge on every run, and the pure-Python one costs 0.1 s.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        entries.append(entry_from_dict(data, f"knowledge/images/{path.name}"))
    return tuple(entries)


# Images remembered per knowledge base: a scan asks about the same few images again and again.
_LOOKUPS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    entries: tuple[ImageEntry, ...]
    _found: dict[str, ImageEntry | None] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def lookup(self, image: str) -> ImageEntry | None:
        """The first entry matching ``image``; user entries come before the built-in ones."""
        if image in self._found:
            return self._found[image]
        found = next((entry for entry in self.entries if entry.matches(image)), None)
        if len(self._found) < _LOOKUPS_KEPT:
            self._found[image] = found
        return found

    def family(self, name: str) -> ImageEntry | None:
        for entry in self.entries:
            if entry.family == name:
                return entry
        return None


def _user_entries(items: Sequence[Any], origin: str) -> list[ImageEntry]:
    """The user's entries (``images:`` in ``.leastcap.yml``), validated."""
    users: list[ImageEntry] = []
    for i, item in enumerate(items):
        try:
            users.append(entry_from_dict(item, f"images[{i}]", origin))
        except KnowledgeError as exc:
            raise KnowledgeError(exc.detail, origin, i) from None
    seen: set[str] = set()
    for i, entry in enumerate(users):
        if entry.family in seen:
            raise KnowledgeError(f"image family {entry.family!r} is defined twice", origin, i)
        seen.add(entry.family)
    return users


def load_knowledge(user_entries: Sequence[Any] = (), origin: str = ".leastcap.yml") -> KnowledgeBase:
    """Built-in entries plus the user's (``images:`` in ``.leastcap.yml``), validated.

    A user entry whose ``family`` matches a built-in one replaces it; the others are consulted first.
    """
    users = _user_entries(user_entries, origin)
    seen = {entry.family for entry in users}
    builtin = [e for e in builtin_entries() if e.family not in seen]
    return KnowledgeBase((*users, *builtin))


def config_knowledge(config: Config) -> KnowledgeBase:
    """The knowledge every command plans with: the bundled entries plus the ``images:`` entries of
    the ``.leastcap.yml`` in use. Raises KnowledgeError for a bad entry (``entry`` says which)."""
    return load_knowledge([dict(entry.data) for entry in config.images], config.path or ".leastcap.yml")


def check_config_images(config: Config) -> None:
    """Raises what ``config_knowledge`` would for the ``images:`` entries, without loading the
    bundled knowledge: for a run that plans nothing but must fail on a bad entry all the same."""
    _user_entries([dict(entry.data) for entry in config.images], config.path or ".leastcap.yml")
