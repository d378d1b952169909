"""``.env`` files as compose-go ``dotenv`` parses them (parser.go), interpolation included."""

from __future__ import annotations

import re
from collections.abc import Callable

from leastcap.loader.template import Substitution, TemplateError

_ESCAPES = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_SPACE = "\t\v\f\r \x85\xa0"
_EXPORT = re.compile(r"export\s+")


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


# The whole environment one .env file may define: values are bounded one by one (template.py),
# and so is their sum, so ten thousand lines of the largest value cannot fill memory either.
MAX_ENV_CHARS = 16 * 1024 * 1024


def parse_dotenv(text: str, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """Parse .env text. ``lookup`` is the outer environment (the OS env wins over earlier keys).

    One pass over the text by index (no copy of the rest per line), so a 100,000-line file is
    read in linear time.
    """
    pos = 1 if text.startswith("\ufeff") else 0
    end_of_text = len(text)
    out: dict[str, str] = {}
    line = 1
    total = 0

    def resolve(name: str) -> str | None:
        value = lookup(name)
        return value if value is not None else out.get(name)

    def expand(value: str) -> str:
        try:
            return Substitution(resolve).substitute(value)
        except TemplateError as exc:
            raise DotenvError(f"line {line}: {exc}") from None

    def store(key: str, value: str) -> None:
        nonlocal total
        total += len(key) + len(value)
        if total > MAX_ENV_CHARS:
            raise DotenvError(f"line {line}: the variables add up to more than {MAX_ENV_CHARS} characters")
        out[key] = value

    while True:
        # statement start: skip blank space and comment lines
        while True:
            start = pos
            while pos < end_of_text and text[pos].isspace():
                pos += 1
            line += text.count("\n", start, pos)
            if pos >= end_of_text:
                return out
            if text[pos] != "#":
                break
            nl = text.find("\n", pos)
            if nl == -1:
                return out
            pos = nl
        if _EXPORT.match(text, pos):
            pos += len("export")
            while pos < end_of_text and text[pos] in _SPACE:
                pos += 1
        key, offset, inherited = "", -1, False
        i = pos
        while i < end_of_text:
            ch = text[i]
            if ch in _SPACE:
                i += 1
                continue
            if ch in "=:\n":
                key, offset, inherited = text[pos:i], i + 1, ch == "\n"
                break
            if ch in "_.-[]" or ch.isalnum():
                i += 1
                continue
            nl = text.find("\n", pos)
            first = text[pos : nl if nl != -1 else end_of_text]
            raise DotenvError(f'line {line}: unexpected character "{ch}" in variable name "{first}"')
        if offset == -1:  # a bare key at the end of the file
            key, offset, inherited = text[pos:], end_of_text, True
        if inherited and " " not in key:
            line += 1
        key = key.rstrip()
        pos = offset
        while pos < end_of_text and text[pos] in _SPACE:
            pos += 1
        if " " in key:
            raise DotenvError(f"line {line}: key cannot contain a space")
        if inherited:
            value = lookup(key)
            if value is not None:
                store(key, value)
            continue
        if pos < end_of_text and text[pos] in ("'", '"'):
            quote = text[pos]
            chars: list[str] = []
            escape = False
            end = -1
            for i in range(pos + 1, end_of_text):
                ch = text[i]
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
                nl = text.find("\n", pos)
                first = text[pos : nl if nl != -1 else end_of_text]
                raise DotenvError(f"line {line}: unterminated quoted value {first}")
            value = "".join(chars)
            if quote == '"':
                value = expand(_expand_escapes(value))
            store(key, value)
            pos = end + 1
        else:
            nl = text.find("\n", pos)
            value = text[pos : nl if nl != -1 else end_of_text]
            pos = nl + 1 if nl != -1 else end_of_text
            line += 1
            value = value.split(" #", 1)[0].rstrip()
            store(key, expand(value))
