"""Jenkinsfiles (Groovy): ``docker.image(..).inside('ARGS')``, ``.withRun('ARGS')``, ``.run('ARGS')``
and ``sh '...'`` steps.

A small Groovy tokenizer finds string literals (with their escapes decoded and each character's
position kept) and the identifiers before them; comments are skipped. ``inside``/``withRun``/``run``
arguments are ``docker run`` options (Jenkins adds its own ``-t -d -u`` and the image); ``sh``
strings are shell scripts and go through the shell lexer like any script.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from leastcap.model import Located, Location, Service
from leastcap.scripts.commands import parse_run
from leastcap.scripts.model import service_from_invocation, unique_names
from leastcap.scripts.positions import PositionMap
from leastcap.scripts.shell import lex
from leastcap.scripts.textfiles import services_in_shell

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"', "$": "\\$"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "ident", "string", "punct"
    text: str
    start: int
    # For strings: each decoded character's offset in the file.
    offsets: tuple[int, ...] = ()


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ("'''", '"""') else c
            j = i + len(quote)
            chars: list[str] = []
            offsets: list[int] = []
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\" and j + 1 < n:
                    if text[j + 1] == "\n":  # line continuation inside a Groovy string
                        j += 2
                        continue
                    decoded = _ESCAPES.get(text[j + 1], "\\" + text[j + 1])
                    chars.extend(decoded)
                    offsets.extend([j] * len(decoded))
                    j += 2
                    continue
                if len(quote) == 1 and text[j] == "\n":
                    break  # unterminated single-line string: stop at the line's end
                chars.append(text[j])
                offsets.append(j)
                j += 1
            toks.append(_Tok("string", "".join(chars), i, tuple(offsets)))
            i = j + len(quote)
        elif c.isalnum() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            toks.append(_Tok("ident", text[i:j], i))
            i = j
        else:
            toks.append(_Tok("punct", c, i))
            i += 1
    return toks


def _string_arg(toks: list[_Tok], k: int) -> _Tok | None:
    """The string argument of a call whose name is ``toks[k]``: ``f('s')``, ``f 's'``, ``f(script: 's')``."""
    j = k + 1
    if j < len(toks) and toks[j].text == "(":
        j += 1
    if j + 2 < len(toks) and toks[j].kind == "ident" and toks[j + 1].text == ":":
        j += 2
    if j < len(toks) and toks[j].kind == "string":
        return toks[j]
    return None


def _docker_image_call(toks: list[_Tok], k: int) -> int | None:
    """For ``docker.image('x').run(...)`` / ``docker.build('x').run(...)`` (``toks[k]`` is the method
    name), the index of the ``(`` of ``image(``/``build(``; None when the chain is something else."""
    j = k - 2
    if j < 0 or toks[j].text != ")":
        return None
    depth = 0
    while j >= 0:
        if toks[j].text == ")":
            depth += 1
        elif toks[j].text == "(":
            depth -= 1
            if depth == 0:
                break
        j -= 1
    chained = (
        j >= 3 and toks[j - 1].text in ("image", "build") and toks[j - 2].text == "." and toks[j - 3].text == "docker"
    )
    return j if chained else None


def jenkins_services(text: str, path: str) -> list[Service]:
    file_map = PositionMap.for_text(text)
    toks = _tokens(text)
    services: list[Service] = []
    names: list[str] = []
    lines: list[int] = []
    for k, tok in enumerate(toks):
        if tok.kind != "ident":
            continue
        arg = _string_arg(toks, k)
        if arg is None:
            continue
        points = [file_map.at(o) for o in arg.offsets] or [file_map.at(arg.start)]
        pmap = PositionMap(points=[*points, points[-1]])
        if tok.text == "sh":
            for svc in services_in_shell(arg.text, path, positions=pmap):
                services.append(svc)
                names.append(svc.name)
                lines.append(svc.key.line)
        elif (
            tok.text in ("inside", "withRun", "run")
            and k > 0
            and toks[k - 1].text == "."
            and (tok.text != "run" or _docker_image_call(toks, k) is not None)
        ):
            commands = lex(arg.text)
            words = tuple(w for cmd in commands for w in cmd.words)
            start_line, start_col = file_map.at(tok.start)

            def locate(offset: int, pmap: PositionMap = pmap) -> Location:
                line, col = pmap.at(offset)
                return Location(path, line, col)

            if not words:
                continue
            inv = parse_run(words, 0, start=words[0], first=words[0], kind="jenkins-" + tok.text)
            name = f"{tok.text}@L{start_line}"
            svc = service_from_invocation(inv, name, path, path, locate)
            svc = replace(svc, key=Location(path, start_line, start_col))
            call = _docker_image_call(toks, k)
            image = toks[call + 1] if call is not None and call + 1 < len(toks) else None
            if call is not None and image is not None and image.kind == "string" and toks[call - 1].text == "image":
                line, col = file_map.at(image.start)
                svc = replace(svc, image=Located(image.text, Location(path, line, col)))
            services.append(svc)
            names.append(name)
            lines.append(start_line)
    final = unique_names(names, lines)
    return [_renamed(s, n) for s, n in zip(services, final, strict=True)]


def _renamed(svc: Service, name: str) -> Service:
    return svc if svc.name == name else replace(svc, name=name)
