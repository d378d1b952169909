"""Scripts written as plain text: shell scripts, Makefile recipes, systemd units, Dockerfiles.

Where only parts of a file are shell (recipe lines, ``ExecStart=`` values, ``RUN`` bodies), the
other characters are blanked to spaces before lexing: offsets stay those of the file, so line and
column need no mapping, and nothing outside the shell parts can be mistaken for a command.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from leastcap.model import Located, Location, Service
from leastcap.scripts.commands import find_invocations, recognise, shell_c_string
from leastcap.scripts.model import (
    KIND_FACT,
    ServiceBuilder,
    command_name,
    service_from_invocation,
    unique_names,
)
from leastcap.scripts.positions import PositionMap
from leastcap.scripts.shell import MAKE, SHELL, Command, Dialect, Word, lex, lex_slice

_SYSTEMD_EXEC = frozenset(
    {"ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost", "ExecReload", "ExecCondition"}
)


def services_in_shell(
    text: str,
    path: str,
    positions: PositionMap | None = None,
    dialect: Dialect = SHELL,
    prefix: str = "",
) -> list[Service]:
    """One service per container-starting command in ``text`` (a script, or a masked file)."""
    pmap = positions or PositionMap.for_text(text)

    def locate(offset: int) -> Location:
        line, col = pmap.at(offset)
        return Location(path, line, col)

    invocations = find_invocations(_with_shell_c(text, lex(text, dialect), dialect))
    names = [prefix + command_name(inv, locate) for inv in invocations]
    lines = [locate(inv.start.start).line for inv in invocations]
    return [
        service_from_invocation(inv, name, path, path, locate)
        for inv, name in zip(invocations, unique_names(names, lines), strict=True)
    ]


def _with_shell_c(text: str, commands: list[Command], dialect: Dialect, depth: int = 0) -> list[Command]:
    """Add the commands of ``sh -c 'SCRIPT'`` strings. Only a string whose characters are its value
    (one pair of quotes, no escapes inside) is lexed, so offsets stay exact; others are left alone."""
    if depth > 3:
        return commands
    out: list[Command] = []
    for cmd in commands:
        out.append(cmd)
        word = shell_c_string(cmd.words)
        if word is None:
            continue
        raw = text[word.start : word.end]
        inner = raw[1:-1]
        simple = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" and raw[0] not in inner
        if simple and (raw[0] == "'" or "\\" not in inner):
            nested = lex_slice(text, word.start + 1, word.end - 1, dialect)
            out.extend(_with_shell_c(text, nested, dialect, depth + 1))
    return out


def _blank(text: str, keep: list[tuple[int, int]]) -> str:
    """``text`` with every character outside the ``keep`` ranges replaced by a space (newlines kept)."""
    out = [" " if c != "\n" else "\n" for c in text]
    for start, end in keep:
        out[start:end] = text[start:end]
    return "".join(out)


def _lines(text: str) -> list[tuple[int, str]]:
    result = []
    offset = 0
    for line in text.split("\n"):
        result.append((offset, line))
        offset += len(line) + 1
    return result


def makefile_shell(text: str) -> str:
    """Only the recipe lines, without their tab and ``@``/``-``/``+`` prefixes."""
    keep = []
    continued = False
    for offset, line in _lines(text):
        if continued:  # a continued recipe line goes to the shell as it is
            keep.append((offset, offset + len(line)))
        elif line.startswith("\t"):
            body = len(line) - len(line.lstrip("\t "))
            while body < len(line) and line[body] in "@-+":
                body += 1
            keep.append((offset + body, offset + len(line)))
        else:
            continue
        continued = line.endswith("\\")
    return _blank(text, keep)


def systemd_shell(text: str) -> str:
    """Only the values of ``Exec*=`` lines (and their continuation lines), without ``-@:+!`` prefixes."""
    keep = []
    continued = False
    for offset, line in _lines(text):
        if continued:
            keep.append((offset, offset + len(line)))
            continued = line.endswith("\\")
            continue
        key, eq, _ = line.partition("=")
        if eq and key.strip() in _SYSTEMD_EXEC:
            start = offset + len(key) + 1
            while start < offset + len(line) and text[start] in " \t@-:+!":
                start += 1
            keep.append((start, offset + len(line)))
            continued = line.endswith("\\")
    return _blank(text, keep)


def _dockerfile_escape(lines: list[tuple[int, str]]) -> str:
    """The escape character: ``\\`` unless an ``# escape=`` parser directive in the leading comments sets one."""
    escape = "\\"
    for _, line in lines:
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        directive = stripped[1:].replace(" ", "").lower()
        if directive.startswith("escape=") and len(directive) > len("escape="):
            escape = directive[len("escape=")]
    return escape


def _instructions(lines: list[tuple[int, str]], escape: str) -> Iterator[tuple[int, int]]:
    """(index of its first line, offset where it ends) of each instruction, blank and comment lines included."""
    idx = 0
    while idx < len(lines):
        start_idx = idx
        # The instruction runs on while a line ends with the escape character.
        while idx < len(lines) and lines[idx][1].rstrip().endswith(escape) and idx + 1 < len(lines):
            idx += 1
        yield start_idx, lines[idx][0] + len(lines[idx][1])
        idx += 1


def _set_run_flags(b: ServiceBuilder, words: Sequence[Word], pmap: PositionMap, path: str) -> None:
    """The leading ``--security=insecure`` and ``--network=host`` flags of a RUN's words."""
    for word in words:
        if not word.value.startswith("--"):
            break
        name, _, value = word.value[2:].partition("=")
        line_no, col = pmap.at(word.start)
        at = Location(path, line_no, col)
        if name == "security" and value == "insecure":
            # Modelled as build.privileged (what the entitlement grants), not also as an entitlement:
            # one RUN flag, one finding.
            b.set("build_privileged", Located(True, at, variables=word.variables))
            b.facts.append(("script.entitlement", "security.insecure"))
        elif name == "network" and value == "host":
            b.set("network_mode", Located(value, at, variables=word.variables))


def dockerfile_services(text: str, path: str) -> list[Service]:
    """``RUN --security=insecure`` (BuildKit's security.insecure entitlement: the step runs privileged)
    and ``RUN --network=host``, one service per such RUN instruction, named ``RUN@L<line>``."""
    lines = _lines(text)
    escape = _dockerfile_escape(lines)
    pmap = PositionMap.for_text(text)
    services: list[Service] = []
    for start_idx, end in _instructions(lines, escape):
        offset, line = lines[start_idx]
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword = stripped.split(None, 1)[0]
        if keyword.upper() != "RUN":
            continue
        body_start = offset + (len(line) - len(stripped)) + len(keyword)
        body = text[body_start:end]
        if escape != "\\":
            body = body.replace(escape + "\n", "  ")
        words = lex(" " * body_start + body)[0].words if body.strip() else ()
        key = Location(path, start_idx + 1, len(line) - len(stripped) + 1)
        b = ServiceBuilder(f"RUN@L{start_idx + 1}", path, key, "dockerfile-run", path)
        _set_run_flags(b, words, pmap, path)
        if b.fields:
            services.append(b.build())
    return services


__all__ = [
    "KIND_FACT",
    "MAKE",
    "dockerfile_services",
    "makefile_shell",
    "recognise",
    "services_in_shell",
    "systemd_shell",
]
