"""Position-carrying YAML nodes: what the loader merges, and what the model is extracted from.

Each node knows where its value was written (``loc``), where its key was written when it is a
mapping value (``key_loc``), the related places it travelled through (``via``: alias uses, ``<<``
merges, ``extends:`` lines, ``include:`` entries) and the variables interpolated into it.
Nodes are mutable while a project loads (merging moves them between trees); the model built from
them at the end is frozen.
"""

from __future__ import annotations

from typing import Any

from leastcap.model import Location

ScalarValue = str | int | float | bool | None


class Node:
    # Positions are kept as plain fields and turned into Location objects only when asked for:
    # a scan creates hundreds of thousands of nodes and reads the position of very few.
    __slots__ = ("column", "key_column", "key_line", "key_path", "line", "path", "tag", "variables", "via")

    def __init__(self, loc: Location, tag: str = "") -> None:
        self.path = loc.path
        self.line = loc.line
        self.column = loc.column
        self.key_path = ""
        self.key_line = 0
        self.key_column = 0
        self.via: tuple[Location, ...] = ()
        self.variables: tuple[str, ...] = ()
        self.tag = tag

    @property
    def loc(self) -> Location:
        return Location(self.path, self.line, self.column)

    @loc.setter
    def loc(self, value: Location) -> None:
        self.path, self.line, self.column = value.path, value.line, value.column

    @property
    def key_loc(self) -> Location | None:
        return Location(self.key_path, self.key_line, self.key_column) if self.key_line else None

    @key_loc.setter
    def key_loc(self, value: Location | None) -> None:
        if value is None:
            self.key_path, self.key_line, self.key_column = "", 0, 0
        else:
            self.key_path, self.key_line, self.key_column = value.path, value.line, value.column

    @property
    def where(self) -> Location:
        """The place a finding about this value points at: its key if it has one, else itself."""
        if self.key_line:
            return Location(self.key_path, self.key_line, self.key_column)
        return Location(self.path, self.line, self.column)

    def _copy_meta(self, other: Node, via: tuple[Location, ...]) -> None:
        other.path = self.path
        other.line = self.line
        other.column = self.column
        other.key_path = self.key_path
        other.key_line = self.key_line
        other.key_column = self.key_column
        other.via = self.via + via if via else self.via
        other.variables = self.variables
        other.tag = self.tag

    def clone(self, via: tuple[Location, ...] = ()) -> Node:
        raise NotImplementedError

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists, scalars)."""
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError


class Scalar(Node):
    __slots__ = ("value",)

    def __init__(self, value: ScalarValue, loc: Location, tag: str = "") -> None:
        super().__init__(loc, tag)
        self.value = value

    def clone(self, via: tuple[Location, ...] = ()) -> Scalar:
        out = Scalar.__new__(Scalar)
        out.value = self.value
        self._copy_meta(out, via)
        return out

    def plain(self) -> ScalarValue:
        return self.value

    def count(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"Scalar({self.value!r} @{self.loc})"


class Mapping(Node):
    __slots__ = ("items",)

    def __init__(self, loc: Location, tag: str = "") -> None:
        super().__init__(loc, tag)
        self.items: dict[str, Node] = {}

    def clone(self, via: tuple[Location, ...] = ()) -> Mapping:
        out = Mapping.__new__(Mapping)
        self._copy_meta(out, via)
        out.items = {k: v.clone(via) for k, v in self.items.items()}
        return out

    def plain(self) -> dict[str, Any]:
        return {k: v.plain() for k, v in self.items.items()}

    def count(self) -> int:
        return 1 + sum(v.count() for v in self.items.values())

    def get(self, key: str) -> Node | None:
        return self.items.get(key)

    def set(self, key: str, value: Node) -> None:
        self.items[key] = value

    def __repr__(self) -> str:
        return f"Mapping({list(self.items)} @{self.loc})"


class Sequence(Node):
    __slots__ = ("items",)

    def __init__(self, loc: Location, tag: str = "") -> None:
        super().__init__(loc, tag)
        self.items: list[Node] = []

    def clone(self, via: tuple[Location, ...] = ()) -> Sequence:
        out = Sequence.__new__(Sequence)
        self._copy_meta(out, via)
        out.items = [v.clone(via) for v in self.items]
        return out

    def plain(self) -> list[Any]:
        return [v.plain() for v in self.items]

    def count(self) -> int:
        return 1 + sum(v.count() for v in self.items)

    def __repr__(self) -> str:
        return f"Sequence({len(self.items)} @{self.loc})"


def scalar_text(node: Node | None) -> str | None:
    """The string form of a scalar as Compose would see it after decoding (None if not a scalar)."""
    if not isinstance(node, Scalar) or node.value is None:
        return None
    value = node.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def kind(node: Node | None) -> str:
    if isinstance(node, Mapping):
        return "mapping"
    if isinstance(node, Sequence):
        return "sequence"
    if node is None or (isinstance(node, Scalar) and node.value is None):
        return "null"
    return "scalar"
