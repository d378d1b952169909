"""``.leastcap.yml``: rule settings, ``fail-on``, justified exceptions, and sections other commands read.

Loaded with PyYAML's C composer so every key and value keeps its line and column: a config error
and an ``exception-*`` finding both point at the exact place in the file. The shape is checked
with the shipped JSON Schema (``leastcap/schemas/leastcap-config.schema.json``); unknown keys are
errors. Semantic problems of one exception (no real justification, expired, unknown rule) are not
config errors: they become findings in :mod:`leastcap.suppress`, so one sloppy entry never hides
the scan.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from leastcap.contract import SCRIPT_KINDS
from leastcap.model import Finding, Location, Problem, Severity
from leastcap.rules.registry import slugs
from leastcap.tree import ReadRefused, read_regular_file

CONFIG_NAMES = (".leastcap.yml", ".leastcap.yaml")
# A config is a small hand-written file; anything this big is a mistake or an alias bomb.
_MAX_NODES = 200_000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_PLACEHOLDERS = frozenset(
    {
        "todo",
        "tbd",
        "tba",
        "n/a",
        "na",
        "none",
        "null",
        "nil",
        "fixme",
        "xxx",
        "temp",
        "temporary",
        "wip",
        "test",
        "testing",
        "ignore",
        "ignored",
        "reason",
        "justification",
        "because",
        "needed",
        "required",
        "necessary",
        "later",
        "fix later",
        "see ticket",
        "-",
        "...",
        "?",
        "ok",
        "yes",
        "no",
    }
)


class ConfigError(Exception):
    """The config file cannot be used (exit code 2). ``problems`` lists every error found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].message if problems else "invalid config")
        self.problems = tuple(problems)

    @property
    def message(self) -> str:
        return str(self)


def trivial_reason(text: str | None) -> str | None:
    """Why ``text`` is not a real justification, or None when it is one.

    Real means: not a placeholder, at least two words and at least 8 letters ("needs GPU
    passthrough" passes, "todo", "n/a", "temp fix" do not).
    """
    if text is None or not text.strip():
        return "it is empty"
    normal = " ".join(text.lower().split()).strip(" .!")
    if normal in _PLACEHOLDERS or all(w in _PLACEHOLDERS for w in normal.split()):
        return f"{text.strip()!r} is a placeholder"
    if len(normal.split()) < 2 or sum(c.isalpha() for c in normal) < 8:
        return f"{text.strip()!r} is too short to explain the risk"
    return None


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool = True
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class ExceptionEntry:
    """One ``exceptions:`` item as written; ``problems`` says why it cannot be honoured."""

    rule: str
    location: Location  # the item in .leastcap.yml
    project: str | None = None
    service: str | None = None
    justification: str = ""
    approved_by: str = ""
    expires: dt.date | None = None
    ticket: str = ""
    problems: tuple[str, ...] = ()
    # key -> location of its value, for precise meta findings
    fields: tuple[tuple[str, Location], ...] = ()

    def field_location(self, key: str) -> Location:
        for name, location in self.fields:
            if name == key:
                return location
        return self.location


@dataclass(frozen=True, slots=True)
class ScriptsSettings:
    """Which of ``SCRIPT_KINDS`` the scripts scanner reads (all, unless ``scripts:`` says otherwise);
    one field per kind, in that order (tests/test_contract.py)."""

    shell: bool = True
    makefile: bool = True
    dockerfile: bool = True
    systemd: bool = True
    jenkins: bool = True
    github: bool = True
    gitlab: bool = True

    def on(self, kind: str) -> bool:
        return bool(getattr(self, kind))


@dataclass(frozen=True, slots=True)
class ImageEntry:
    """A user image-knowledge entry, kept as written (the fixer defines and checks its shape)."""

    data: Mapping[str, object]
    location: Location


@dataclass(frozen=True, slots=True)
class Config:
    path: str | None = None  # display path of the file, None for the built-in defaults
    fail_on: Severity | None = None  # None: not set (the CLI default applies)
    rules: tuple[tuple[str, RuleSettings], ...] = ()
    exceptions: tuple[ExceptionEntry, ...] = ()
    scripts: ScriptsSettings = field(default_factory=ScriptsSettings)
    images: tuple[ImageEntry, ...] = ()
    # Who may approve exceptions; empty means the config names no approvers (anyone may).
    approvers: tuple[str, ...] = ()

    def settings(self, slug: str) -> RuleSettings:
        for name, settings in self.rules:
            if name == slug:
                return settings
        return RuleSettings()

    def rule_enabled(self, slug: str) -> bool:
        return self.settings(slug).enabled

    def severity_for(self, slug: str, default: Severity) -> Severity:
        override = self.settings(slug).severity
        return default if override is None else override

    def exception_problems(self, exception: ExceptionEntry) -> tuple[str, ...]:
        """Why ``exception`` cannot be honoured under this config: what is wrong with it as written,
        and whether its approver is one of ``approvers:``. Asked here, not when the entry is parsed,
        so that a config judged under another's approvers (``leastcap diff`` judges a change with
        the base's) is checked against those."""
        not_approver = approver_problem(exception.approved_by, self.approvers) if exception.approved_by else None
        return exception.problems if not_approver is None else (*exception.problems, not_approver)

    def with_severity(self, finding: Finding) -> Finding:
        severity = self.severity_for(finding.rule, finding.severity)
        return finding if severity is finding.severity else replace(finding, severity=severity)


# --- discovery -------------------------------------------------------------------------------


def find_config(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``.leastcap.yml`` (or ``.yaml``) in ``start`` or its parents; ``start`` may be a file."""
    path = Path(start).resolve()
    if not path.is_dir():
        path = path.parent
    for directory in (path, *path.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def resolve_config(paths: Sequence[str], explicit: str | None = None, cwd: str | None = None) -> Config:
    """The config a scan uses: ``--config`` if given, else the nearest one above the first scanned
    path (the current directory when none), else the defaults. Raises ConfigError."""
    cwd = cwd or os.getcwd()
    if explicit is not None:
        return load_config(explicit, cwd=cwd)
    found = find_config(paths[0] if paths else cwd)
    return load_config(found, cwd=cwd) if found is not None else Config()


def display_path(path: str | os.PathLike[str], cwd: str | None = None) -> str:
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute, cwd or os.getcwd())
    except ValueError:
        return absolute
    return absolute if relative.startswith("..") else relative


# --- loading ---------------------------------------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("leastcap").joinpath("schemas/leastcap-config.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# No config is near this size; a larger file (or /dev/zero) is refused before it is read.
MAX_CONFIG_BYTES = 1024 * 1024


def _read_config(path: str | os.PathLike[str], shown: str) -> bytes:
    """The config's bytes: only from a regular file (a FIFO must not hang the scan) and only up to
    ``MAX_CONFIG_BYTES``."""
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES)
    except ReadRefused as exc:
        if exc.kind in ("size", "grew"):
            message = f"config is over the {MAX_CONFIG_BYTES}-byte limit; not read"
        else:
            message = f"cannot read config: {exc.reason}"
        raise ConfigError([Problem(shown, message)]) from None


def load_config(path: str | os.PathLike[str], cwd: str | None = None) -> Config:
    shown = display_path(path, cwd)
    raw = _read_config(path, shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem(shown, "config is not UTF-8 text")]) from None
    return parse_config(text, shown)


def parse_config(text: str, path: str = ".leastcap.yml") -> Config:
    """Parse config text; ``path`` is only used in locations and messages."""
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise ConfigError([Problem(path, f"invalid YAML: {exc.problem or exc}", line, col)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(path, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        return Config(path=path)
    index = _Index(path)
    data = index.convert(node, ())
    if not isinstance(data, dict):
        raise ConfigError([Problem(path, "the config must be a mapping", *index.value_pos(()))])
    _validate(data, index)
    return _build(data, index, path)


class _Index:
    """Converts composed nodes to plain data and remembers where every key and value was written."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[tuple[str | int, ...], Location] = {}
        self.keys: dict[tuple[str | int, ...], Location] = {}
        self.errors: list[Problem] = []
        self.count = 0

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def value_pos(self, route: tuple[str | int, ...]) -> tuple[int, int]:
        loc = self.values.get(route)
        return (loc.line, loc.column) if loc else (0, 0)

    def convert(self, node: yaml.Node, route: tuple[str | int, ...]) -> object:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ConfigError([Problem(self.path, "config is too large (alias bomb?)", *self.value_pos(()))])
        self.values[route] = self.loc(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, object] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConfigError(
                        [
                            Problem(
                                self.path,
                                "keys must be plain scalars",
                                key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1,
                            )
                        ]
                    )
                key = str(key_node.value)
                if key == "<<":
                    raise ConfigError(
                        [
                            Problem(
                                self.path,
                                "merge keys (<<) are not supported in the config",
                                key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1,
                            )
                        ]
                    )
                if key in out:
                    first = self.keys[(*route, key)]
                    raise ConfigError(
                        [
                            Problem(
                                self.path,
                                f"duplicate key {key!r} (first defined at line {first.line})",
                                key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1,
                            )
                        ]
                    )
                self.keys[(*route, key)] = self.loc(key_node)
                out[key] = self.convert(value_node, (*route, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*route, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == _TIMESTAMP:
            return str(node.value)  # dates stay text: the schema checks the format, we parse it
        try:
            return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # an unknown tag (!foo), a bad !!binary...
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError([Problem(self.path, f"invalid value: {problem}", *self.value_pos(route))]) from None


def _describe(route: Sequence[str | int]) -> str:
    text = ""
    for part in route:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"


# What each pattern of the schema means, for messages a person can act on.
_PATTERN_MEANINGS = {
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "an ISO date (YYYY-MM-DD)",
    "\\S": "a name (it is blank)",
}


def _validate(data: dict[str, object], index: _Index) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        route = tuple(error.absolute_path)
        where = _describe(route)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    loc = index.keys.get((*route, key)) or index.values.get(route)
                    expected = ", ".join(sorted(allowed))
                    problems.append(
                        Problem(
                            index.path,
                            f"unknown key {key!r} in {where} (expected one of: {expected})",
                            loc.line if loc else 0,
                            loc.column if loc else 0,
                        )
                    )
            continue
        if "propertyNames" in error.absolute_schema_path:
            bad = error.instance
            loc = index.keys.get((*route, str(bad))) or index.values.get(route)
            problems.append(
                Problem(
                    index.path, f"unknown rule {bad!r} in {where}", loc.line if loc else 0, loc.column if loc else 0
                )
            )
            continue
        loc = index.values.get(route)
        if error.validator == "enum":
            choices = ", ".join(map(str, error.validator_value))
            message = f"{where}: {error.instance!r} is not one of {choices}"
        elif error.validator == "pattern":
            meaning = _PATTERN_MEANINGS.get(str(error.validator_value), f"a text matching {error.validator_value!r}")
            message = f"{where}: {error.instance!r} is not {meaning}"
        else:
            message = f"{where}: {error.message}"
        problems.append(Problem(index.path, message, loc.line if loc else 0, loc.column if loc else 0))
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.column, p.message)))


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _build(data: dict[str, object], index: _Index, path: str) -> Config:
    fail_on = Severity.parse(str(data["fail-on"])) if "fail-on" in data else None
    rules: list[tuple[str, RuleSettings]] = []
    for slug, raw in _mapping(data.get("rules")).items():
        settings = _mapping(raw)
        severity = settings.get("severity")
        rules.append(
            (
                slug,
                RuleSettings(
                    enabled=settings.get("enabled", True) is not False,
                    severity=Severity.parse(str(severity)) if severity is not None else None,
                ),
            )
        )
    approvers = tuple(str(name).strip() for name in _sequence(data.get("approvers")))
    exceptions = tuple(
        _exception(_mapping(item), index, ("exceptions", i)) for i, item in enumerate(_sequence(data.get("exceptions")))
    )
    scripts_raw = _mapping(data.get("scripts"))
    scripts = ScriptsSettings(**{k: scripts_raw[k] is True for k in SCRIPT_KINDS if k in scripts_raw})
    images = tuple(
        ImageEntry(_mapping(item), index.values[("images", i)]) for i, item in enumerate(_sequence(data.get("images")))
    )
    return Config(path, fail_on, tuple(rules), exceptions, scripts, images, approvers)


def approver_problem(approved_by: str, approvers: Sequence[str]) -> str | None:
    """Why ``approved_by`` may not approve, or None when it may (or the config names no approvers).

    Names are compared without regard to case: ``@Acme/Security`` and ``@acme/security`` are the
    same GitHub team, and a check that case could defeat would only invite renaming games.
    """
    if not approvers or approved_by.casefold() in {a.casefold() for a in approvers}:
        return None
    return f"approved_by {approved_by!r} is not one of the approvers (who may approve: {', '.join(approvers)})"


def _exception(item: dict[str, object], index: _Index, route: tuple[str | int, ...]) -> ExceptionEntry:
    problems: list[str] = []
    rule = _text(item.get("rule"))
    if not any(_glob(rule).fullmatch(slug) for slug in slugs()):
        problems.append(f"rule {rule!r} matches no leastcap rule")
    project, service = item.get("project"), item.get("service")
    if not project and not service:
        problems.append("it names neither a project nor a service (use '*' to mean all, explicitly)")
    justification = _text(item.get("justification")).strip()
    why_not = trivial_reason(justification)
    if why_not is not None:
        problems.append(f"its justification is not acceptable: {why_not}")
    approved_by = _text(item.get("approved_by")).strip()
    if not approved_by:
        problems.append("approved_by is missing")
    expires: dt.date | None = None
    if item.get("expires") is None:
        problems.append("expires is missing")
    else:
        try:
            expires = dt.date.fromisoformat(str(item["expires"]))
        except ValueError:
            problems.append(f"expires {item['expires']!r} is not a valid date")
    fields = tuple((key, index.values[(*route, key)]) for key in item)
    return ExceptionEntry(
        rule=rule,
        location=index.values[route],
        project=_text(project) or None,
        service=_text(service) or None,
        justification=justification,
        approved_by=approved_by,
        expires=expires,
        ticket=_text(item.get("ticket")),
        problems=tuple(problems),
        fields=fields,
    )


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _sequence(value: object) -> list[object]:
    return value if isinstance(value, list) else []


@functools.cache
def _glob(pattern: str) -> re.Pattern[str]:
    """fnmatch semantics without its platform-dependent case folding."""
    import fnmatch

    return re.compile(fnmatch.translate(pattern))


def glob_match(pattern: str | None, text: str) -> bool:
    """True when ``pattern`` is None (not given) or matches ``text`` as a shell glob."""
    return pattern is None or _glob(pattern).fullmatch(text) is not None
