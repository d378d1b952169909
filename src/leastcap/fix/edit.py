"""Apply ``Fix`` objects (leastcap.model.fix): splices of the files where the values are written.

Where to edit: the mapping that holds ``privileged: true`` (or the ``ALL`` entry). When that mapping
is the service's own, it is edited there (in an override file if that is where it is written).
When it is shared - a YAML anchor merged with ``<<``, or an ``extends`` base - it is edited only
if every user of it gets the same fix; otherwise each service overrides it locally
(``privileged: false`` plus its own lists; with ``<<`` the local list replaces the merged one, so
the merged entries are copied).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from leastcap.capabilities import ALL, try_normalize
from leastcap.fix.yamltext import EditError, Node, YamlText
from leastcap.model import EditAction, Fix, Location, Project
from leastcap.model.fix import FIX_KEYS

# The lists a fix adds to, in the order new ones are written.
LIST_KEYS = tuple(k for k in FIX_KEYS if k != "privileged")
_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./:=,+@-]*$")


@dataclass(frozen=True, slots=True)
class Item:
    text: str
    comment: str = ""


_BOOLISH = ("true", "false", "yes", "no", "on", "off", "null", "y", "n")


def _quote(value: str, flow: bool = False) -> str:
    # In a flow list a ':' is safer quoted (YAML 1.1 parsers differ on "a:b" there).
    if _PLAIN.match(value) and value.lower() not in _BOOLISH and not (flow and ":" in value):
        return value
    return json.dumps(value)


def fix_items(fix: Fix) -> dict[str, list[Item]]:
    """The entries ``fix`` adds, per list (their comments are defused where the fix is made)."""
    items: dict[str, list[Item]] = {k: [] for k in LIST_KEYS}
    for edit in fix.edits:
        if edit.action is EditAction.ADD:
            items[edit.key].append(Item(edit.value, edit.comment))
    return items


def _is_null(node: Node) -> bool:
    return node.kind == "scalar" and node.style is None and node.value in ("", "~", "null", "Null", "NULL")


def _is_all(node: Node) -> bool:
    return node.kind == "scalar" and try_normalize(node.value) == ALL


def edit_mapping(
    yt: YamlText,
    mapping: Node,
    fix: Fix,
    service: str,
    privileged_mode: str,
) -> None:
    """Splice ``fix`` (of ``service``) into ``mapping``. ``privileged_mode``: remove | false | none."""
    if mapping.kind != "map" or mapping.flow or not mapping.pairs:
        raise EditError(f"{yt.path}:{mapping.start_line + 1}: service {service!r} is not a block mapping")
    indent = mapping.pairs[0][0].start_col
    item_indent = indent + yt.dash_offset()
    wanted = fix_items(fix)
    new_lines: list[str] = []  # the lists the mapping does not write yet
    for key in LIST_KEYS:
        adds = wanted[key]
        drop_all = key == "cap_add" and fix.removes("cap_add", "ALL")
        if not adds and not drop_all:
            continue
        local = yt.get(mapping, key)
        if local is not None:
            _edit_local_list(yt, local, key, adds, indent, item_indent, drop_all=drop_all)
            continue
        copied = _merged_entries(yt, mapping, key, drop_all=drop_all)
        if not adds and not copied:
            continue
        new_lines.append(f"{' ' * indent}{key}:")
        new_lines.extend(_item_line(item_indent, c, "") for c in copied)
        new_lines.extend(_item_line(item_indent, _quote(a.text), a.comment) for a in adds)
    _splice_privileged_and_lists(yt, mapping, new_lines, privileged_mode, indent)


def _item_line(indent: int, text: str, comment: str) -> str:
    line = f"{' ' * indent}- {text}"
    return f"{line}  # {comment}" if comment else line


def _edit_local_list(
    yt: YamlText, local: tuple[Node, Node], key: str, adds: list[Item], indent: int, item_indent: int, *, drop_all: bool
) -> None:
    """Adds ``adds`` to a list the mapping writes itself (and drops its ALL entry if ``drop_all``);
    an empty value becomes the list, a form it cannot edit safely is refused."""
    k, v = local
    if v.kind == "alias":
        raise EditError(f"{yt.path}:{k.start_line + 1}: {key} is written through an alias; not edited")
    if v.kind == "map" and key == "sysctls":
        _append_map(yt, v, list(adds), item_indent)
        return
    if v.kind == "seq":
        _edit_seq(yt, k, v, adds, drop_all=drop_all)
        return
    if _is_null(v):
        lines = [f"{' ' * indent}{key}:"] + [_item_line(item_indent, _quote(a.text), a.comment) for a in adds]
        start = yt.line_starts[k.start_line]
        yt.splice(start, yt.after_line(yt.last_line(v)), "".join(x + yt.newline for x in lines))
        return
    raise EditError(f"{yt.path}:{k.start_line + 1}: {key} has an unexpected form; not edited")


def _merged_entries(yt: YamlText, mapping: Node, key: str, *, drop_all: bool) -> list[str]:
    """The entries ``mapping`` gets for ``key`` through a ``<<`` merge, as written (without the ALL
    entry if ``drop_all``): a local key replaces the merged one entirely, so they must be carried over."""
    merged = yt.lookup_merged(mapping, key)
    if merged is None:
        return []
    _, mk, mv = merged
    mv = yt.resolve(mv)
    if mv.kind == "seq":
        return [yt.text[i.start : i.end] for i in mv.items if not (drop_all and _is_all(i))]
    if mv.kind == "map" and key == "sysctls":
        return [f"{yt.text[a.start : a.end]}={yt.text[b.start : b.end]}" for a, b in mv.pairs]
    if not _is_null(mv):
        raise EditError(f"{yt.path}:{mk.start_line + 1}: merged {key} has an unexpected form")
    return []


def _splice_privileged_and_lists(
    yt: YamlText, mapping: Node, new_lines: list[str], privileged_mode: str, indent: int
) -> None:
    """Removes privileged (``remove``: its lines take the new lists' place) or sets it false
    (``false``, or ``remove`` where the mapping does not write it), then adds the new lists at the
    mapping's end."""
    local_priv = yt.get(mapping, "privileged")
    block = "".join(x + yt.newline for x in new_lines)
    if privileged_mode == "remove" and local_priv is not None:
        k, v = local_priv
        _check_own_line(yt, k)
        # The user's comment on the removed line moves to the first line that replaces it (or, with
        # nothing to replace it, stays where it was, on a line of its own).
        comment = trailing_comment(yt, v)
        if comment and new_lines:
            new_lines[0] += comment
        elif comment:
            new_lines = [f"{' ' * indent}{comment.lstrip()}"]
        block = "".join(x + yt.newline for x in new_lines)
        yt.splice(yt.line_starts[k.start_line], yt.after_line(yt.last_line(v)), block)
        return
    if privileged_mode in ("false", "remove"):
        if local_priv is not None:
            _, v = local_priv
            yt.splice(v.start, v.end, "false")
        else:
            block = f"{' ' * indent}privileged: false{yt.newline}" + block
    if block:
        yt.splice(yt.after_line(yt.last_line(mapping)), yt.after_line(yt.last_line(mapping)), block)


def trailing_comment(yt: YamlText, node: Node) -> str:
    """The comment after ``node`` on its last line, with the spaces before it ("  # why"), or ""."""
    last = yt.last_line(node)
    start = node.end if yt.line_of(node.end) == last else yt.line_starts[last]
    rest = yt.text[start : yt.line_end(last)]
    at = rest.find("#")
    before = rest[:at].rstrip()
    if at < 0 or before not in ("", ":"):  # after a key, the colon comes first
        return ""
    return rest[len(before) :]


def _comment_lines(yt: YamlText, nodes: list[Node], column: int) -> str:
    """The comments written after ``nodes``, each on a line of its own at ``column``."""
    return "".join(f"{' ' * column}{c.lstrip()}{yt.newline}" for c in (trailing_comment(yt, n) for n in nodes) if c)


def _check_own_line(yt: YamlText, key: Node) -> None:
    if yt.line_text(key.start_line)[: key.start_col].strip():
        raise EditError(f"{yt.path}:{key.start_line + 1}: privileged shares its line with other YAML; not edited")


def _edit_seq(yt: YamlText, k: Node, seq: Node, adds: list[Item], *, drop_all: bool) -> None:
    have = {try_normalize(i.value) or i.value for i in seq.items if i.kind == "scalar"}
    have |= {i.value for i in seq.items if i.kind == "scalar"}
    adds = [a for a in adds if a.text not in have and (try_normalize(a.text) or a.text) not in have]
    removed = [i for i in seq.items if drop_all and _is_all(i)]
    if not adds and not removed:
        return
    if seq.flow:
        kept = [yt.text[i.start : i.end] for i in seq.items if i not in removed]
        kept += [_quote(a.text, flow=True) for a in adds]
        yt.splice(seq.start, seq.close + 1, "[" + ", ".join(kept) + "]")
        notes = [f"{a.text}: {a.comment}" for a in adds if a.comment]
        if notes and not yt.has_comment_after(seq.close + 1):
            end = yt.line_end(seq.close_line)
            yt.splice(end, end, "  # " + "; ".join(notes))
        return
    dash_col = yt.dash_column(seq)
    if dash_col is None:
        raise EditError(f"{yt.path}:{k.start_line + 1}: cannot find the list's dashes; not edited")
    if removed and len(removed) == len(seq.items) and not adds:
        # The list goes; a comment on its key or entries stays, on a line of its own.
        comments = _comment_lines(yt, [k, *removed], k.start_col)
        yt.splice(yt.line_starts[k.start_line], yt.after_line(yt.last_line(seq)), comments)
        return
    for item in removed:
        line = yt.line_text(item.start_line)
        if line[:dash_col].strip() or item.start_line != yt.last_line(item):
            raise EditError(f"{yt.path}:{item.start_line + 1}: the ALL entry shares its line; not edited")
        # Its comment stays where the entry was (the added entries carry their own reasons).
        comments = _comment_lines(yt, [item], dash_col)
        yt.splice(yt.line_starts[item.start_line], yt.after_line(item.start_line), comments)
    if adds:
        lines = "".join(
            f"{' ' * dash_col}- {_quote(a.text)}" + (f"  # {a.comment}" if a.comment else "") + yt.newline for a in adds
        )
        at = yt.after_line(yt.last_line(seq))
        yt.splice(at, at, lines)


def _append_map(yt: YamlText, mapping: Node, adds: list[Item], indent: int) -> None:
    have = {k.value for k, _ in mapping.pairs}
    pairs = [(a.text.split("=", 1)[0], a.text.split("=", 1)[1], a.comment) for a in adds]
    pairs = [p for p in pairs if p[0] not in have]
    if not pairs:
        return
    if mapping.flow:
        text = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v, _ in pairs)
        if mapping.pairs:
            end = mapping.pairs[-1][1].end
            yt.splice(end, end, ", " + text)
        else:
            yt.splice(mapping.start + 1, mapping.start + 1, text)
        return
    col = mapping.pairs[0][0].start_col if mapping.pairs else indent
    lines = "".join(
        f"{' ' * col}{_quote(k)}: {_quote(v)}" + (f"  # {c}" if c else "") + yt.newline for k, v, c in pairs
    )
    at = yt.after_line(yt.last_line(mapping))
    yt.splice(at, at, lines)


# ------------------------------------------------------------------ project level


@dataclass(frozen=True, slots=True)
class Outcome:
    service: str
    where: str  # "own", "shared", "override", "skipped"
    path: str
    message: str = ""


def _own_mapping(yt: YamlText, name: str) -> Node | None:
    entry = yt.service_entry(name)
    if entry is None or entry[1].kind != "map":
        return None
    return entry[1]


def _find(yt: YamlText, loc: Location) -> tuple[Node, Node, Node] | None:
    hit = yt.mapping_with_key_at(loc.line, loc.column)
    if hit is not None:
        return hit
    for mapping in yt.iter_maps():
        for k, v in mapping.pairs:
            if v.start_line + 1 == loc.line and v.start_col + 1 == loc.column:
                return mapping, k, v
            if v.kind == "seq":
                for item in v.items:
                    if item.start_line + 1 == loc.line and item.start_col + 1 == loc.column:
                        return mapping, k, v
    return None


def _merges(yt: YamlText, mapping: Node, target: Node, depth: int = 0) -> bool:
    if mapping is target:
        return True
    if depth > 20:
        return False
    return any(_merges(yt, src, target, depth + 1) for src in yt.merged_sources(mapping))


def _users(yt: YamlText, path: str, shared: Node, texts: Mapping[str, YamlText]) -> set[str]:
    """Services that use ``shared`` (by alias/merge in its file, or by ``extends`` from any file)."""
    svcs = yt.services()
    if svcs is None:
        return set()
    users = {k.value for k, v in svcs.pairs if _merges(yt, yt.resolve(v), shared)}
    base_name = None
    for k, v in svcs.pairs:
        if yt.resolve(v) is shared:
            base_name = k.value
    if base_name is None:
        return users
    return users | _extenders(texts, path, base_name)


def _extenders(texts: Mapping[str, YamlText], path: str, base_name: str) -> set[str]:
    """Services in any of ``texts`` whose ``extends`` names service ``base_name`` of file ``path``."""
    users: set[str] = set()
    for other_path, other in texts.items():
        osvcs = other.services()
        if osvcs is None:
            continue
        for k, written in osvcs.pairs:
            target = _extends_target(other, other_path, other.resolve(written))
            if target == (os.path.normpath(path), base_name):
                users.add(k.value)
    return users


def _extends_target(yt: YamlText, path: str, service: Node) -> tuple[str, str] | None:
    """(normalised file, service name) that ``service``'s ``extends`` names, or None without one;
    the file is ``path`` itself unless ``extends: {file: ...}`` names another (relative to ``path``)."""
    if service.kind != "map":
        return None
    ext = yt.lookup_merged(service, "extends")
    if ext is None:
        return None
    ev = yt.resolve(ext[2])
    target_file, target_name = path, ""
    if ev.kind == "scalar":
        target_name = ev.value
    elif ev.kind == "map":
        svc = yt.get(ev, "service")
        fil = yt.get(ev, "file")
        target_name = svc[1].value if svc else ""
        if fil:
            target_file = os.path.normpath(os.path.join(os.path.dirname(path), fil[1].value))
    return os.path.normpath(target_file), target_name


def _earlier_layers_privileged(name: str, path: str, project_files: list[str], texts: Mapping[str, YamlText]) -> bool:
    for other_path in project_files:
        if os.path.normpath(other_path) == os.path.normpath(path):
            continue
        other = texts.get(other_path)
        if other is None:
            continue
        mapping = _own_mapping(other, name)
        if mapping is None:
            continue
        hit = other.lookup_merged(mapping, "privileged")
        if hit is not None and hit[2].kind == "scalar" and hit[2].value.lower() in ("true", "yes", "on", "y"):
            return True
    return False


def apply_fixes(
    project: Project,
    fixes: Mapping[str, Fix],
    texts: Mapping[str, YamlText],
    resolve: Callable[[str], str],
    *,
    project_files: list[str],
    all_fixes: Mapping[str, Fix] | None = None,
) -> list[Outcome]:
    """Splice each service's ``Fix`` into ``texts`` (absolute path -> YamlText). Returns what was done.

    ``all_fixes``: every service's fix being applied in this run (a base shared by services is
    edited in place only when all of its users get equal fixes).

    A service whose edit cannot be made safely is skipped (its Outcome says why); its file's other
    edits still happen unless an EditError left the file inconsistent, which the caller handles by
    dropping the whole file.
    """
    outcomes: list[Outcome] = []
    every = fixes if all_fixes is None else all_fixes
    for name, fix in fixes.items():
        service = project.service(name)
        loc = fix.at
        removes_privileged = fix.removes("privileged")
        path = resolve(loc.path)
        yt = texts.get(path)
        if yt is None:
            outcomes.append(Outcome(name, "skipped", loc.path, f"{loc.path} is not an editable file"))
            continue
        own = _own_mapping(yt, name)
        hit = _find(yt, loc) if loc != service.key else None
        mapping = hit[0] if hit is not None else own
        if mapping is None:
            outcomes.append(Outcome(name, "skipped", loc.path, f"cannot find where {name} is written"))
            continue
        if mapping is own:
            shared_users = _users(yt, path, mapping, texts) - {name}
            if not shared_users:
                mode = "remove"
                if removes_privileged and _earlier_layers_privileged(name, path, project_files, texts):
                    mode = "false"  # an earlier layer also sets it: removing would unmask that
                edit_mapping(yt, mapping, fix, name, mode if removes_privileged else "none")
                outcomes.append(Outcome(name, "own", loc.path))
                continue
        users = _users(yt, path, mapping, texts)
        same = all(u in every and every[u].signature() == fix.signature() for u in users)
        if same and users:
            if id(mapping) not in yt.shared_done:
                yt.shared_done.add(id(mapping))
                edit_mapping(yt, mapping, fix, name, "remove" if removes_privileged else "none")
            outcomes.append(Outcome(name, "shared", loc.path, f"shared by {', '.join(sorted(users))}"))
            continue
        # Different needs: override in the service's own mapping.
        own_path = resolve(service.key.path)
        own_yt = texts.get(own_path)
        own_map = _own_mapping(own_yt, name) if own_yt is not None else None
        if own_yt is None or own_map is None or own_map is mapping:
            outcomes.append(
                Outcome(
                    name,
                    "skipped",
                    loc.path,
                    f"privileged is written in {name}'s own definition, which is also the base of "
                    f"{', '.join(sorted(users - {name}))} with different needs; left as is (split the base "
                    "or fix it by hand)",
                )
            )
            continue
        via_merge = own_yt is yt and _merges(yt, own_map, mapping)
        if fix.removes("cap_add", "ALL") and not via_merge:
            outcomes.append(
                Outcome(name, "skipped", loc.path, "cap_add: ALL comes from a shared extends base; edit it by hand")
            )
            continue
        edit_mapping(own_yt, own_map, fix, name, "false" if removes_privileged else "none")
        outcomes.append(Outcome(name, "override", service.key.path, f"shared with {', '.join(sorted(users))}"))
    return outcomes
