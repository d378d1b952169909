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
    __slots__ = ("key_loc", "loc", "tag", "variables", "via")

    def __init__(self, loc: Location, tag: str = "") -> None:
        self.loc = loc
        self.key_loc: Location | None = None
        self.via: tuple[Location, ...] = ()
        self.variables: tuple[str, ...] = ()
        self.tag = tag

    @property
    def where(self) -> Location:
        """The place a finding about this value points at: its key if it has one, else itself."""
        return self.key_loc or self.loc

    def _copy_meta(self, other: Node, via: tuple[Location, ...]) -> None:
        other.key_loc = self.key_loc
        other.via = self.via + via
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
        out = Scalar(self.value, self.loc)
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
        out = Mapping(self.loc)
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
        out = Sequence(self.loc)
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
