"""YAML text -> position-carrying nodes, with go-yaml v4 (YAML 1.2 core) semantics.

PyYAML's C parser produces the events; this module composes them into ``nodes`` itself, which is
what lets it keep alias-use positions, detect duplicate keys, apply ``<<`` merges exactly like
go-yaml (explicit keys win, the first merge source wins), record ``!reset``/``!override`` tags at
every alias site, and resolve plain scalars with YAML 1.2 rules (``yes``/``on`` stay strings;
only Compose's boolean cast turns them into true on boolean fields).

Hostile input is bounded: alias expansion and nesting depth have hard limits, so an alias bomb is
an error after at most ``MAX_ALIAS_NODES`` copied nodes instead of eating the machine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from leastcap.loader.nodes import Mapping, Node, Scalar, ScalarValue, Sequence
from leastcap.model import Location

try:  # the C parser is the fast path; the pure-Python one gives the same events
    from yaml import CSafeLoader as _EventLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _EventLoader  # type: ignore[assignment]

# Nodes created by alias expansion, per file: across all of its documents, so a bomb cut into
# many documents just under a per-document limit is still one bomb (compose: 100 000 visits).
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 128  # nesting depth; Compose files are about ten deep
RESET = "!reset"
OVERRIDE = "!override"
_YAML_TAG = "tag:yaml.org,2002:"


class YamlError(Exception):
    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Document:
    root: Node | None
    # Paths (tuples of keys) tagged !reset / !override in this document, at every alias site.
    reset_paths: list[tuple[str, ...]] = field(default_factory=list)
    override_paths: list[tuple[str, ...]] = field(default_factory=list)
    # False when the document's text has no "$": interpolation then has nothing to substitute.
    has_dollar: bool = True
    # Nodes this document's aliases created (the loader also bounds their sum over a project).
    alias_nodes: int = 0


_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf}
_NAN = {".nan", ".NaN", ".NAN"}
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT_BASES = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text with '_' removed, 0, 64)."""
    s = text.replace("_", "")
    if not s:
        return None
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        return None
    base = 10
    if s[:2] in _INT_BASES:
        base, s = _INT_BASES[s[:2]], s[2:]
    elif len(s) > 1 and s[0] == "0":
        base, s = 8, s[1:]
    if not s or not s.isascii() or not s.isalnum():
        return None
    try:
        value = sign * int(s, base)
    except ValueError:
        return None
    if not -(2**63) <= value < 2**63:
        return None
    return value


def resolve_plain(text: str) -> ScalarValue:
    """Implicit typing of a plain scalar, as go-yaml v4 decodes into interface{}."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    first = text[0]
    if first in "0123456789+-.":
        as_int = _go_parse_int(text)
        if as_int is not None:
            return as_int
        if _FLOAT.match(text):
            return float(text)
        bare = text.lstrip("+-")
        if bare in _INF:
            return -math.inf if text.startswith("-") else math.inf
        if text in _NAN:
            return math.nan
    return text


def _scalar_value(event: yaml.ScalarEvent) -> ScalarValue:
    tag = event.tag
    if tag is None or tag == "!":
        if event.implicit[0] and not event.style:
            return resolve_plain(event.value)
        return str(event.value)
    if tag.startswith(_YAML_TAG):
        kind = tag[len(_YAML_TAG) :]
        if kind == "null":
            return None
        if kind == "bool":
            resolved = resolve_plain(event.value)
            return resolved if isinstance(resolved, bool) else str(event.value)
        if kind in ("int", "float"):
            resolved = resolve_plain(event.value)
            return resolved if isinstance(resolved, (int, float)) else str(event.value)
        return str(event.value)
    # Custom tags (including !override) leave the scalar a string; !reset drops it later.
    return str(event.value)


class _Key:
    """A mapping key: half of all scalars, and never a node of the model, so kept light."""

    __slots__ = ("column", "line", "path", "tag", "value")

    def __init__(self, value: ScalarValue, path: str, line: int, column: int, tag: str) -> None:
        self.value = value
        self.path = path
        self.line = line
        self.column = column
        self.tag = tag

    @property
    def loc(self) -> Location:
        return Location(self.path, self.line, self.column)


class _Frame:
    __slots__ = ("anchor", "explicit", "key", "merge_sources", "node")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.key: Scalar | _Key | None = None  # pending mapping key
        self.explicit: dict[str, int] = {}  # key -> line, for duplicate detection
        self.merge_sources: list[tuple[Node, Location]] = []


def _loc(display: str, mark: yaml.Mark, note: str = "") -> Location:
    return Location(display, mark.line + 1, mark.column + 1, note)


def _mark(event: yaml.Event) -> yaml.Mark:
    mark = event.start_mark
    assert mark is not None  # libyaml always sets marks
    return mark  # type: ignore[return-value]


def _tag_of(event: yaml.NodeEvent) -> str:
    tag = getattr(event, "tag", None)
    return tag if tag in (RESET, OVERRIDE) else ""


def _finish_mapping(frame: _Frame) -> None:
    """Apply ``<<`` merges: explicit keys win; among merge sources the first one wins."""
    mapping = frame.node
    assert isinstance(mapping, Mapping)
    for source, merge_loc in frame.merge_sources:
        sources = list(source.items) if isinstance(source, Sequence) else [source]
        for src in sources:
            if not isinstance(src, Mapping):
                raise YamlError(
                    "map merge requires map or sequence of maps as the value", merge_loc.line, merge_loc.column
                )
            for key, value in src.items.items():
                if key not in mapping.items:
                    mapping.items[key] = value


def parse_documents(data: bytes | str, display: str) -> list[Document]:
    """Parse every document of a YAML stream. Raises YamlError with a 1-based position.

    This loop runs once per event of every scanned file, so it is written for speed: events are
    dispatched on their exact class and nodes get their fields set directly.
    """
    has_dollar = (b"$" if isinstance(data, bytes) else "$") in data  # type: ignore[operator]
    composer = _Composer(display, has_dollar)
    handlers: dict[type, Callable[[Any], None]] = {
        yaml.ScalarEvent: composer.scalar,
        yaml.MappingStartEvent: composer.start_mapping,
        yaml.SequenceStartEvent: composer.start_sequence,
        yaml.MappingEndEvent: composer.end_container,
        yaml.SequenceEndEvent: composer.end_container,
        yaml.AliasEvent: composer.alias,
        yaml.DocumentStartEvent: composer.start_document,
        yaml.DocumentEndEvent: composer.end_document,
    }
    parser = _EventLoader(data)
    try:
        while True:
            event: Any = parser.get_event()
            if event is None:
                break
            handler = handlers.get(event.__class__)
            if handler is not None:
                handler(event)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, data) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return composer.documents


def _syntax_error(exc: yaml.YAMLError, data: bytes | str) -> YamlError:
    """PyYAML's error as a YamlError, its position kept inside the text."""
    error_mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else str(problem)
    if error_mark is not None:
        line, column = _inside(data, error_mark.line + 1, error_mark.column + 1)
        return YamlError(f"YAML syntax error: {text}", line, column)
    return YamlError(f"YAML error: {text}")


class _Composer:
    """Builds nodes from parser events: one method per kind of event.

    ``stack`` holds the open mappings and sequences; anchors (and their sizes, for the alias
    budget) are per document; the alias budget is per file.
    """

    def __init__(self, display: str, has_dollar: bool) -> None:
        self.display = display
        self.has_dollar = has_dollar
        self.documents: list[Document] = []
        self.anchors: dict[str, Node] = {}
        self.sizes: dict[str, int] = {}
        self.in_progress: set[str] = set()
        self.stack: list[_Frame] = []
        self.root: Node | None = None
        self.alias_budget = self.document_budget = MAX_ALIAS_NODES
        self.tagged = False  # the document has a !reset or !override tag

    def make(self, cls: type[Node], line: int, column: int, tag: str) -> Node:
        node = object.__new__(cls)
        node.path = self.display
        node.line = line + 1
        node.column = column + 1
        node.key_path = ""
        node.key_line = 0
        node.key_column = 0
        node.via = ()
        node.variables = ()
        node.tag = tag
        return node

    def scalar(self, event: Any) -> None:
        mark = event.start_mark
        tag = event.tag
        if tag is None:
            value: ScalarValue = resolve_plain(event.value) if event.implicit[0] and not event.style else event.value
            special = "str" if event.style in ("'", '"') else ""
        else:
            value = _scalar_value(event)
            special = tag if tag in (RESET, OVERRIDE) else ("str" if tag == _STR_TAG else "")
            self.tagged = self.tagged or special in (RESET, OVERRIDE)
        stack = self.stack
        if stack and not event.anchor:
            frame = stack[-1]
            if frame.key is None and frame.node.__class__ is Mapping:
                # A plain key: kept light, it never becomes a node of the model.
                frame.key = _Key(value, self.display, mark.line + 1, mark.column + 1, special)
                return
        node = self.make(Scalar, mark.line, mark.column, special)
        node.value = value  # type: ignore[attr-defined]
        if event.anchor:
            self.anchors[event.anchor] = node
            self.sizes[event.anchor] = 1
        self.attach(node, mark.line, mark.column)

    def start_mapping(self, event: Any) -> None:
        mapping = self._open(event, Mapping)
        mapping.items = {}  # type: ignore[attr-defined]
        self._push(event, mapping)

    def start_sequence(self, event: Any) -> None:
        sequence = self._open(event, Sequence)
        sequence.items = []  # type: ignore[attr-defined]
        self._push(event, sequence)

    def _open(self, event: Any, cls: type[Node]) -> Node:
        """A new mapping or sequence where the event starts; refused past MAX_DEPTH."""
        mark = event.start_mark
        if len(self.stack) >= MAX_DEPTH:
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1, mark.column + 1)
        tag = _tag_of(event)
        self.tagged = self.tagged or bool(tag)
        return self.make(cls, mark.line, mark.column, tag)

    def _push(self, event: Any, container: Node) -> None:
        if event.anchor:
            self.in_progress.add(event.anchor)
        self.stack.append(_Frame(container, event.anchor))

    def end_container(self, event: Any) -> None:
        frame = self.stack.pop()
        if frame.node.__class__ is Mapping:
            if frame.key is not None:
                mark = event.start_mark
                raise YamlError("mapping key without a value", mark.line + 1, mark.column + 1)
            if frame.merge_sources:
                _finish_mapping(frame)
        if frame.anchor:
            self.in_progress.discard(frame.anchor)
            template = _without_nested_resets(frame.node) if self.tagged else frame.node
            self.anchors[frame.anchor] = template
            self.sizes[frame.anchor] = template.count()
        self.attach(frame.node, frame.node.line - 1, frame.node.column - 1)

    def alias(self, event: Any) -> None:
        name = event.anchor or ""
        mark = event.start_mark
        if name in self.in_progress:
            raise YamlError(f"alias *{name} refers to its own enclosing node (a cycle)", mark.line + 1, mark.column + 1)
        target = self.anchors.get(name)
        if target is None:
            raise YamlError(f"unknown anchor '{name}' referenced", mark.line + 1, mark.column + 1)
        self.alias_budget -= self.sizes.get(name, 1)
        if self.alias_budget < 0:
            raise YamlError(
                f"aliases expand to more than {MAX_ALIAS_NODES} nodes in one file "
                "(a YAML alias bomb?); refusing to expand",
                mark.line + 1,
                mark.column + 1,
            )
        self.attach(target.clone((_loc(self.display, mark, f"alias *{name}"),)), mark.line, mark.column)

    def start_document(self, event: Any) -> None:
        self.anchors.clear()
        self.sizes.clear()
        self.root = None
        self.document_budget = self.alias_budget
        self.tagged = False

    def end_document(self, event: Any) -> None:
        root = self.root
        doc = Document(root, has_dollar=self.has_dollar, alias_nodes=self.document_budget - self.alias_budget)
        if self.tagged and root is not None:
            doc.root = _collect_tags(root, (), doc)
        self.documents.append(doc)

    def attach(self, node: Node, line: int, column: int) -> None:
        """Put a finished node in its parent: the root, a list item, a mapping's key or value."""
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame.node
        if parent.__class__ is Sequence:
            parent.items.append(node)
            return
        key_node = frame.key
        if key_node is None:
            if node.__class__ is not Scalar:
                raise YamlError("non-string key: a mapping or sequence used as a key", line + 1, column + 1)
            frame.key = node
            return
        frame.key = None
        key = key_node.value
        if key == "<<" and key_node.tag != "str":
            frame.merge_sources.append((node, key_node.loc))
            return
        if key.__class__ is not str:
            raise YamlError(f"non-string key in mapping: {key!r}", key_node.line, key_node.column)
        explicit = frame.explicit
        if key in explicit:
            raise YamlError(
                f'line {key_node.line}: mapping key "{key}" already defined at line {explicit[key]}',
                key_node.line,
                key_node.column,
            )
        explicit[key] = key_node.line
        node.key_path = self.display
        node.key_line = key_node.line
        node.key_column = key_node.column
        parent.items[key] = node  # type: ignore[attr-defined]


_STR_TAG = _YAML_TAG + "str"


_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _inside(data: bytes | str, line: int, column: int) -> tuple[int, int]:
    """Clamp an error position to the text: at the end of a file without a final newline, libyaml
    reports the line after the last one, which an editor or a SARIF viewer cannot show."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    lines = _LINE_BREAKS.split(text.lstrip("\ufeff"))
    if line > len(lines):
        return len(lines), len(lines[-1]) + 1
    return line, min(column, len(lines[line - 1]) + 1)


def _without_nested_resets(node: Node) -> Node:
    """The copy of an anchored node that its aliases receive.

    docker compose 2.40 (compose-go's ResetProcessor before v2.10) walks the YAML tree in document
    order and removes each ``!reset`` node from its parent the first time it is visited: at the
    anchor's definition. Every alias of that anchor therefore sees the anchored node without its
    nested ``!reset`` keys, and those keys reset nothing at the alias sites (``<<: *a`` or ``b: *a``).
    A node that is itself tagged ``!reset`` stays tagged, so ``cap_add: *empty`` still resets.
    ``!override`` nodes are kept, so they apply at every alias site. (The oracle binary shows this;
    keeping the base values is also the conservative reading for a privilege audit.)
    """
    copy = node.clone()
    stack: list[Node] = [copy]
    while stack:
        current = stack.pop()
        if isinstance(current, Mapping):
            for key in [k for k, v in current.items.items() if v.tag == RESET]:
                del current.items[key]
            stack.extend(current.items.values())
        elif isinstance(current, Sequence):
            current.items = [item for item in current.items if item.tag != RESET]
            stack.extend(current.items)
    return copy


def _collect_tags(node: Node, path: tuple[str, ...], doc: Document) -> Node | None:
    """Record !reset/!override paths; drop !reset nodes. Returns the node, or None if reset."""
    if node.tag == RESET:
        doc.reset_paths.append(path)
        return None
    if node.tag == OVERRIDE:
        doc.override_paths.append(path)
    if isinstance(node, Mapping):
        for key in list(node.items):
            kept = _collect_tags(node.items[key], (*path, key), doc)
            if kept is None:
                del node.items[key]
    elif isinstance(node, Sequence):
        kept_items = []
        for item in node.items:
            # A reset sequence item only leaves the current document (compose records "[i]"
            # paths that never match later; see compose-semantics §4).
            if item.tag == RESET:
                continue
            kept_item = _collect_tags(item, (*path, "[]"), doc)
            if kept_item is not None:
                kept_items.append(kept_item)
        node.items = kept_items
    return node
