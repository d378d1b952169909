"""Map offsets in the text that was lexed back to 1-based line and column in the real file.

A script file is lexed as it is, so its map is just the line starts. A shell command embedded in
YAML (a ``run: |`` block, a quoted ``options:`` string) is lexed from its decoded value, so every
character of that value carries its own (line, column) in the file.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import yaml


class PositionMap:
    def __init__(self, line_starts: Sequence[int] = (0,), points: Sequence[tuple[int, int]] | None = None):
        self._line_starts = list(line_starts)
        self._points = list(points) if points is not None else None

    @classmethod
    def for_text(cls, text: str) -> PositionMap:
        starts = [0]
        starts.extend(i + 1 for i, c in enumerate(text) if c == "\n")
        return cls(starts)

    def at(self, offset: int) -> tuple[int, int]:
        if self._points is not None:
            if not self._points:
                return (0, 0)
            return self._points[min(max(offset, 0), len(self._points) - 1)]
        idx = bisect.bisect_right(self._line_starts, offset) - 1
        return (idx + 1, offset - self._line_starts[idx] + 1)


def scalar_text(node: yaml.ScalarNode, lines: Sequence[str]) -> tuple[str, PositionMap]:
    """The scalar's value rebuilt from the source lines, with the position of each character.

    The rebuilt text is what a shell would run: block literals keep their lines, folded and flow
    scalars are folded (a single line break becomes a space). Where the rebuild cannot follow the
    source (an escape it does not model), the caller still gets ``node.value`` with every character
    mapped to the scalar's start, so a finding points at the scalar rather than nowhere.
    """
    style = node.style or ""
    sl, sc = node.start_mark.line, node.start_mark.column
    el, ec = node.end_mark.line, node.end_mark.column
    try:
        if style in ("|", ">"):
            chars = _block(node, lines, folded=style == ">")
        elif style == "'":
            chars = _flow(lines, sl=sl, sc=sc + 1, el=el, ec=ec - 1, single=True)
        elif style == '"':
            chars = _flow(lines, sl=sl, sc=sc + 1, el=el, ec=ec - 1, double=True)
        else:
            chars = _flow(lines, sl=sl, sc=sc, el=el, ec=ec)
    except IndexError:
        chars = []
    text = "".join(c for c, _ in chars)
    if text.rstrip("\n") != node.value.rstrip("\n"):
        point = (sl + 1, sc + 1)
        return node.value, PositionMap(points=[point] * max(len(node.value), 1))
    return text, PositionMap(points=[p for _, p in chars] + [chars[-1][1] if chars else (sl + 1, sc + 1)])


def _block(node: yaml.ScalarNode, lines: Sequence[str], folded: bool) -> list[tuple[str, tuple[int, int]]]:
    sl = node.start_mark.line
    end_line = node.end_mark.line  # first line after the block (or the last line at EOF)
    body = list(range(sl + 1, min(end_line + 1, len(lines))))
    # The content indentation: the first non-blank line's indentation, less the spaces that the
    # value itself starts with (only possible with an explicit indentation indicator, whose number
    # is relative to a parent indentation that the line alone does not show).
    first_value_line = node.value.lstrip("\n").split("\n", 1)[0]
    extra = len(first_value_line) - len(first_value_line.lstrip(" "))
    indent = 0
    for ln in body:
        if lines[ln].strip():
            indent = len(lines[ln]) - len(lines[ln].lstrip(" ")) - extra
            break
    out: list[tuple[str, tuple[int, int]]] = []
    prev_text_line = False
    pending_breaks: list[tuple[int, int]] = []
    for ln in body:
        raw = lines[ln]
        if not raw.strip() and (len(raw) - len(raw.lstrip(" ")) < indent or not raw[indent:]):
            pending_breaks.append((ln + 1, len(raw) + 1))
            continue
        if raw.strip() and len(raw) - len(raw.lstrip(" ")) < indent:
            break  # the block has ended (end_mark may sit on the next key's line)
        content = raw[indent:]
        more_indented = content[:1] in (" ", "\t")
        if out or pending_breaks:
            if folded and prev_text_line and not pending_breaks and not more_indented:
                out.append((" ", out[-1][1]))
            else:
                if not (folded and prev_text_line and pending_breaks and not more_indented):
                    out.append(("\n", out[-1][1] if out else (ln + 1, 1)))
                out.extend(("\n", p) for p in pending_breaks)
        pending_breaks = []
        out.extend((ch, (ln + 1, indent + k + 1)) for k, ch in enumerate(content))
        prev_text_line = not more_indented
    return out


def _flow(
    lines: Sequence[str],
    *,
    sl: int,
    sc: int,
    el: int,
    ec: int,
    single: bool = False,
    double: bool = False,
) -> list[tuple[str, tuple[int, int]]]:
    out: list[tuple[str, tuple[int, int]]] = []
    for ln in range(sl, el + 1):
        raw = lines[ln]
        start = sc if ln == sl else len(raw) - len(raw.lstrip(" \t"))
        stop = ec if ln == el else len(raw.rstrip(" \t"))
        if ln != sl:
            out.append((" ", out[-1][1] if out else (ln + 1, start + 1)))
        k = start
        while k < stop:
            ch = raw[k]
            if single and ch == "'" and k + 1 < stop and raw[k + 1] == "'":
                out.append(("'", (ln + 1, k + 1)))
                k += 2
                continue
            if double and ch == "\\" and k + 1 < stop:
                esc = raw[k + 1]
                decoded = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", " ": " "}.get(esc)
                if decoded is None:
                    raise IndexError("unmodelled escape")
                out.append((decoded, (ln + 1, k + 1)))
                k += 2
                continue
            out.append((ch, (ln + 1, k + 1)))
            k += 1
    return out
