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
    return _DotenvParser(text, lookup).parse()


class _DotenvParser:
    """A cursor over the text (``pos``, and ``line`` for messages) and the variables so far."""

    def __init__(self, text: str, lookup: Callable[[str], str | None]) -> None:
        self.text = text
        self.lookup = lookup
        self.pos = 1 if text.startswith("\ufeff") else 0
        self.end_of_text = len(text)
        self.line = 1
        self.out: dict[str, str] = {}
        self.total = 0

    def parse(self) -> dict[str, str]:
        while self._next_statement():
            self._skip_export()
            key, inherited = self._read_key()
            if inherited:
                value = self.lookup(key)
                if value is not None:
                    self._store(key, value)
            elif self.pos < self.end_of_text and self.text[self.pos] in ("'", '"'):
                self._store(key, self._read_quoted())
            else:
                self._store(key, self._expand(self._read_unquoted()))
        return self.out

    def _next_statement(self) -> bool:
        """Skip blank space and comment lines; False at the end of the text."""
        text, end_of_text = self.text, self.end_of_text
        while True:
            start = self.pos
            while self.pos < end_of_text and text[self.pos].isspace():
                self.pos += 1
            self.line += text.count("\n", start, self.pos)
            if self.pos >= end_of_text:
                return False
            if text[self.pos] != "#":
                return True
            nl = text.find("\n", self.pos)
            if nl == -1:
                return False
            self.pos = nl

    def _skip_export(self) -> None:
        if _EXPORT.match(self.text, self.pos):
            self.pos += len("export")
            self._skip_space()

    def _skip_space(self) -> None:
        while self.pos < self.end_of_text and self.text[self.pos] in _SPACE:
            self.pos += 1

    def _read_key(self) -> tuple[str, bool]:
        """The name up to ``=`` or ``:``; inherited (True) when the line is a bare name.

        Leaves ``pos`` at the value's first non-space character.
        """
        text, pos, end_of_text = self.text, self.pos, self.end_of_text
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
            raise DotenvError(
                f'line {self.line}: unexpected character "{ch}" in variable name "{self._rest_of_line()}"'
            )
        if offset == -1:  # a bare key at the end of the file
            key, offset, inherited = text[pos:], end_of_text, True
        if inherited and " " not in key:
            self.line += 1
        key = key.rstrip()
        self.pos = offset
        self._skip_space()
        if " " in key:
            raise DotenvError(f"line {self.line}: key cannot contain a space")
        return key, inherited

    def _rest_of_line(self) -> str:
        nl = self.text.find("\n", self.pos)
        return self.text[self.pos : nl if nl != -1 else self.end_of_text]

    def _read_quoted(self) -> str:
        """A value in single or double quotes, which may span lines; double quotes expand."""
        text = self.text
        quote = text[self.pos]
        chars: list[str] = []
        escape = False
        end = -1
        for i in range(self.pos + 1, self.end_of_text):
            ch = text[i]
            if ch == "\n":
                self.line += 1
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
            raise DotenvError(f"line {self.line}: unterminated quoted value {self._rest_of_line()}")
        value = "".join(chars)
        if quote == '"':
            value = self._expand(_expand_escapes(value))
        self.pos = end + 1
        return value

    def _read_unquoted(self) -> str:
        """The rest of the line, up to a `` #`` comment, trailing space removed (not expanded)."""
        nl = self.text.find("\n", self.pos)
        value = self.text[self.pos : nl if nl != -1 else self.end_of_text]
        self.pos = nl + 1 if nl != -1 else self.end_of_text
        self.line += 1
        return value.split(" #", 1)[0].rstrip()

    def _resolve(self, name: str) -> str | None:
        value = self.lookup(name)
        return value if value is not None else self.out.get(name)

    def _expand(self, value: str) -> str:
        try:
            return Substitution(self._resolve).substitute(value)
        except TemplateError as exc:
            raise DotenvError(f"line {self.line}: {exc}") from None

    def _store(self, key: str, value: str) -> None:
        self.total += len(key) + len(value)
        if self.total > MAX_ENV_CHARS:
            raise DotenvError(f"line {self.line}: the variables add up to more than {MAX_ENV_CHARS} characters")
        self.out[key] = value
