"""Minimal, byte-preserving edits of YAML text.

ruamel.yaml's parser tells where every node starts and ends (its events carry real positions,
aliases included); the edits themselves are splices into the original text, so every byte the fix
does not have to touch - comments, quoting, anchors, indentation, CRLF line ends, tab-indented
block scalars - stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

BOM = "\ufeff"
MERGE_KEY = "<<"


class EditError(Exception):
    """This file cannot be edited safely; it is left untouched."""


@dataclass(eq=False)
class Node:
    kind: str  # "map", "seq", "scalar", "alias"
    start: int  # character index
    end: int
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    anchor: str | None = None
    tag: str | None = None
    flow: bool = False
    value: str = ""  # scalar value / alias name
    style: str | None = None  # scalar style: None (plain), "'", '"', "|", ">"
    items: list[Node] = field(default_factory=list)  # seq items
    pairs: list[tuple[Node, Node]] = field(default_factory=list)  # map entries
    # For block collections: the index right after the last child (closing bracket for flow).
    close: int = 0
    close_line: int = 0


class YamlText:
    """One file's text, its parsed node tree, and the pending splices."""

    def __init__(self, data: bytes, path: str) -> None:
        self.path = path
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EditError(f"{path}: not UTF-8 ({exc.reason})") from None
        self.bom = text.startswith(BOM)
        if self.bom:
            text = text[1:]
        for bad, name in (("\x85", "NEL"), ("\u2028", "LINE SEPARATOR"), ("\u2029", "PARAGRAPH SEPARATOR")):
            if bad in text:
                raise EditError(f"{path}: contains a {name} line break; not edited")
        if "\r" in text.replace("\r\n", ""):
            raise EditError(f"{path}: contains a bare CR line break; not edited")
        self.text = text
        crlf = text.count("\r\n")
        self.newline = "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
        self.line_starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.line_starts.append(i + 1)
        self.anchors: dict[str, Node] = {}
        self.docs = self._parse()
        self.splices: list[tuple[int, int, str]] = []
        # Shared mappings (anchors, extends bases) already edited for another service.
        self.shared_done: set[int] = set()

    # ---------------------------------------------------------------- parsing
    def _parse(self) -> list[Node]:
        try:
            events = list(YAML(typ="rt").parse(self.text))
        except YAMLError as exc:
            raise EditError(f"{self.path}: YAML error: {exc}") from None
        docs: list[Node] = []
        stack: list[Node] = []
        pending_key: list[Node | None] = []

        def attach(node: Node) -> None:
            if not stack:
                docs.append(node)
                return
            parent = stack[-1]
            if parent.kind == "seq":
                parent.items.append(node)
            elif pending_key[-1] is None:
                pending_key[-1] = node
            else:
                key = pending_key[-1]
                assert key is not None
                parent.pairs.append((key, node))
                pending_key[-1] = None

        for ev in events:
            sm, em = ev.start_mark, ev.end_mark
            if isinstance(ev, (MappingStartEvent, SequenceStartEvent)):
                node = Node(
                    "map" if isinstance(ev, MappingStartEvent) else "seq",
                    sm.index, em.index, sm.line, sm.column, em.line, em.column,
                    anchor=ev.anchor, tag=ev.tag, flow=bool(ev.flow_style),
                )  # fmt: skip
                if ev.anchor:
                    self.anchors[ev.anchor] = node
                attach(node)
                stack.append(node)
                pending_key.append(None)
            elif isinstance(ev, (MappingEndEvent, SequenceEndEvent)):
                node = stack.pop()
                pending_key.pop()
                node.close = sm.index
                node.close_line = sm.line
                node.end, node.end_line, node.end_col = em.index, em.line, em.column
            elif isinstance(ev, ScalarEvent):
                node = Node(
                    "scalar", sm.index, em.index, sm.line, sm.column, em.line, em.column,
                    anchor=ev.anchor, tag=ev.tag, value=ev.value, style=ev.style,
                )  # fmt: skip
                if ev.anchor:
                    self.anchors[ev.anchor] = node
                attach(node)
            elif isinstance(ev, AliasEvent):
                attach(Node("alias", sm.index, em.index, sm.line, sm.column, em.line, em.column, value=ev.anchor))
        return docs

    # ---------------------------------------------------------------- lookups
    def resolve(self, node: Node) -> Node:
        if node.kind == "alias":
            target = self.anchors.get(node.value)
            if target is None:
                raise EditError(f"{self.path}: undefined alias *{node.value}")
            return target
        return node

    @staticmethod
    def get(mapping: Node, key: str) -> tuple[Node, Node] | None:
        for k, v in mapping.pairs:
            if k.kind == "scalar" and k.value == key and k.tag is None:
                return k, v
        return None

    def merged_sources(self, mapping: Node) -> list[Node]:
        """The mappings merged into ``mapping`` with ``<<`` (resolved, in priority order)."""
        out: list[Node] = []
        for k, v in mapping.pairs:
            if k.kind == "scalar" and k.value == MERGE_KEY:
                target = self.resolve(v)
                if target.kind == "seq":
                    out.extend(self.resolve(i) for i in target.items)
                else:
                    out.append(target)
        return out

    def lookup_merged(self, mapping: Node, key: str) -> tuple[Node, Node, Node] | None:
        """(owner mapping, key, value) for ``key`` as YAML merge resolves it (local keys first)."""
        found = self.get(mapping, key)
        if found:
            return mapping, found[0], found[1]
        for src in self.merged_sources(mapping):
            hit = self.lookup_merged(src, key)
            if hit:
                return hit
        return None

    def services(self) -> Node | None:
        for written in self.docs:
            doc = self.resolve(written)
            if doc.kind != "map":
                continue
            hit = self.get(doc, "services")
            if hit:
                svcs = self.resolve(hit[1])
                if svcs.kind == "map":
                    return svcs
        return None

    def service_entry(self, name: str) -> tuple[Node, Node] | None:
        """(key node, value node as written - maybe an alias) of ``services.<name>``."""
        svcs = self.services()
        if svcs is None:
            return None
        return self.get(svcs, name)

    def iter_maps(self) -> Iterator[Node]:
        todo = list(self.docs)
        while todo:
            node = todo.pop()
            if node.kind == "map":
                yield node
                todo.extend(v for _, v in node.pairs)
                todo.extend(k for k, _ in node.pairs)
            elif node.kind == "seq":
                todo.extend(node.items)

    def mapping_with_key_at(self, line: int, column: int) -> tuple[Node, Node, Node] | None:
        """The (mapping, key, value) whose key is written at 1-based ``line``/``column``."""
        for mapping in self.iter_maps():
            for k, v in mapping.pairs:
                if k.start_line + 1 == line and k.start_col + 1 == column:
                    return mapping, k, v
        return None

    # ---------------------------------------------------------------- text helpers
    def line_text(self, line: int) -> str:
        start = self.line_starts[line]
        end = self.line_starts[line + 1] if line + 1 < len(self.line_starts) else len(self.text)
        return self.text[start:end].rstrip("\n").rstrip("\r")

    def line_end(self, line: int) -> int:
        """Index of the end of ``line``'s content (before its line break)."""
        return self.line_starts[line] + len(self.line_text(line))

    def after_line(self, line: int) -> int:
        """Index where the next line starts (end of text if ``line`` is the last)."""
        if line + 1 < len(self.line_starts):
            return self.line_starts[line + 1]
        return len(self.text)

    def last_line(self, node: Node) -> int:
        """The last line holding ``node``'s own text (trailing blank lines and comments excluded)."""
        if node.kind == "alias":
            return node.end_line
        if node.kind == "scalar":
            if node.style in ("|", ">"):
                line = node.end_line if node.end_col > 0 else node.end_line - 1
                header = self.line_text(node.start_line)[node.start_col :].split("#", 1)[0]
                if "+" not in header:  # keep-chomping scalars own their trailing blank lines
                    while line > node.start_line and not self.line_text(line).strip():
                        line -= 1
                return line
            return node.end_line
        if node.flow:
            return node.close_line
        last = node.start_line
        children: list[Node] = list(node.items)
        for k, v in node.pairs:
            children.extend((k, v))
        for child in children:
            last = max(last, self.last_line(child))
        return last

    def has_comment_after(self, index: int) -> bool:
        line = self.line_of(index)
        return "#" in self.text[index : self.line_end(line)]

    def line_of(self, index: int) -> int:
        lo, hi = 0, len(self.line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.line_starts[mid] <= index:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def dash_offset(self) -> int:
        """How far this file indents a block sequence's dash from its key (0 or 2, usually)."""
        for mapping in self.iter_maps():
            if mapping.flow:
                continue
            for k, v in mapping.pairs:
                if v.kind == "seq" and not v.flow and v.items:
                    dash = self.dash_column(v)
                    if dash is not None:
                        return max(0, dash - k.start_col)
        return 2

    def dash_column(self, seq: Node) -> int | None:
        first = seq.items[0]
        line = self.line_text(first.start_line)
        before = line[: first.start_col].rstrip()
        if before.endswith("-") and (len(before) == 1 or before[-2] in " \t"):
            return len(before) - 1
        return None

    # ---------------------------------------------------------------- splicing
    def splice(self, start: int, end: int, text: str) -> None:
        for n, (s, e, old) in enumerate(self.splices):
            if start == end == s == e:
                # Two insertions at one point keep the order they were made in.
                self.splices[n] = (s, e, old + text)
                return
            if start < e and s < end:
                raise EditError(f"{self.path}: two edits overlap at line {self.line_of(start) + 1}")
        self.splices.append((start, end, text))

    def result(self) -> str:
        text = self.text
        for start, end, new in sorted(self.splices, key=lambda s: (s[0], s[1]), reverse=True):
            text = text[:start] + new + text[end:]
        return (BOM if self.bom else "") + text

    def result_bytes(self) -> bytes:
        return self.result().encode("utf-8")
