"""``.env`` files as compose-go ``dotenv`` parses them (parser.go), interpolation included."""

from __future__ import annotations

import re
from collections.abc import Callable

from leastcap.loader.template import Substitution, TemplateError

_ESCAPES = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_SPACE = "\t\v\f\r \x85\xa0"


class DotenvError(ValueError):
    pass


def _expand_escapes(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        seq = match.group(0)
        if seq == "\\$":
            return "$$"
        if seq.startswith("\\0"):
            digits = seq[2:]
            if not digits:
                return "\\"  # Go turns "\0" into "\" and fails to unquote it: kept as is
            try:
                return chr(int(digits, 8))
            except ValueError:
                return seq
        return _SIMPLE.get(seq[1], seq)

    return _ESCAPES.sub(repl, text)


def parse_dotenv(text: str, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """Parse .env text. ``lookup`` is the outer environment (the OS env wins over earlier keys)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    out: dict[str, str] = {}
    line = 1

    def resolve(name: str) -> str | None:
        value = lookup(name)
        return value if value is not None else out.get(name)

    def expand(value: str) -> str:
        try:
            return Substitution(resolve).substitute(value)
        except TemplateError as exc:
            raise DotenvError(f"line {line}: {exc}") from None

    rest = text
    while True:
        # statement start: skip blank space and comment lines
        while True:
            stripped = rest.lstrip()
            line += rest[: len(rest) - len(stripped)].count("\n")
            rest = stripped
            if not rest:
                return out
            if rest[0] != "#":
                break
            nl = rest.find("\n")
            if nl == -1:
                return out
            rest = rest[nl:]
        if re.match(r"export\s+", rest):
            rest = rest[len("export") :].lstrip(_SPACE)
        key, offset, inherited = "", -1, False
        for i, ch in enumerate(rest):
            if ch in _SPACE:
                continue
            if ch in "=:\n":
                key, offset, inherited = rest[:i], i + 1, ch == "\n"
                break
            if ch in "_.-[]" or ch.isalnum():
                continue
            first = rest.split("\n", 1)[0]
            raise DotenvError(f'line {line}: unexpected character "{ch}" in variable name "{first}"')
        if offset == -1:  # a bare key at the end of the file
            key, offset, inherited = rest, len(rest), True
        if inherited and " " not in key:
            line += 1
        key = key.rstrip()
        rest = rest[offset:].lstrip(_SPACE)
        if " " in key:
            raise DotenvError(f"line {line}: key cannot contain a space")
        if inherited:
            value = lookup(key)
            if value is not None:
                out[key] = value
            continue
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            chars: list[str] = []
            escape = False
            end = -1
            for i in range(1, len(rest)):
                ch = rest[i]
                if ch == "\n":
                    line += 1
                if ch != quote:
                    if not escape and ch == "\\":
                        escape = True
                        continue
                    if escape:
                        escape = False
                        chars.append("\\")
                    chars.append(ch)
                    continue
                if escape:
                    escape = False
                    chars.append(ch)
                    continue
                end = i
                break
            if end == -1:
                first = rest.split("\n", 1)[0]
                raise DotenvError(f"line {line}: unterminated quoted value {first}")
            value = "".join(chars)
            if quote == '"':
                value = expand(_expand_escapes(value))
            out[key] = value
            rest = rest[end + 1 :]
        else:
            value, _, rest = rest.partition("\n")
            line += 1
            value = value.split(" #", 1)[0].rstrip()
            out[key] = expand(value)
