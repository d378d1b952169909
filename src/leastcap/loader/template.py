"""Compose variable substitution, a faithful port of compose-go ``template/template.go``.

The greedy braced pattern, the brace-matching split (``getFirstBraceClosingIndex``), the choice of
operator by smallest index and the recursive substitution of defaults are all reproduced, because
``privileged: ${PRIV:-true}`` must mean here exactly what it means to ``docker compose``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Lookup = Callable[[str], "str | None"]

_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))"
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")
# Hostile input: `A1=${A0}${A0}`, `A2=${A1}${A1}`, ... doubles with every line. No real value comes
# near a mebibyte; a longer one is an error, never built.
MAX_VALUE_CHARS = 1024 * 1024


class TemplateError(ValueError):
    """Invalid template or a required variable without a value (compose's messages)."""

    def __init__(self, message: str, invalid_template: bool) -> None:
        super().__init__(message)
        self.invalid_template = invalid_template


def _closing_brace(s: str) -> int:
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if s[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operator_for(template: str) -> str:
    best, best_index = _OPERATORS[0], -1
    for op in _OPERATORS:
        idx = template.find(op)
        if idx >= 0 and (best_index < 0 or idx < best_index):
            best, best_index = op, idx
    return best


class Substitution:
    """One substitution run; collects the variable names it looked up."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.used: list[str] = []
        self.unset: list[str] = []

    def _get(self, name: str) -> str | None:
        if name not in self.used:
            self.used.append(name)
        return self.lookup(name)

    def substitute(self, template: str) -> str:
        if "$" not in template:
            return template
        error: list[TemplateError] = []
        size = [len(template)]

        def replace(match: re.Match[str]) -> str:
            if error:
                return ""
            try:
                value = self._replacement(match.group(0))
            except TemplateError as exc:
                error.append(exc)
                return ""
            size[0] += len(value)
            if size[0] > MAX_VALUE_CHARS:
                error.append(too_long())
                return ""
            return value

        result = _PATTERN.sub(replace, template)
        if error:
            exc = error[0]
            if exc.invalid_template and not str(exc):
                raise TemplateError(f'Invalid template: "{template}"', True)
            raise exc
        return result

    def _replacement(self, substring: str) -> str:
        op = _operator_for(substring)
        closing = _closing_brace(substring)
        rest = ""
        if closing > -1:
            rest = substring[closing + 1 :]
            substring = substring[: closing + 1]
        match = _PATTERN.match(substring)
        if match is None:  # pragma: no cover - the substring came from this pattern
            raise TemplateError("", True)
        if match.group("escaped"):
            return "$"
        substitution = match.group("named")
        braced = False
        if not substitution:
            substitution = match.group("braced")
            braced = True
        if not substitution:
            raise TemplateError("", True)
        if braced:
            applied = self._apply(op, substitution)
            if applied is not None:
                return applied + self.substitute(rest)
        value = self._get(substitution)
        if value is None:
            self.unset.append(substitution)
            return ""
        return value

    def _apply(self, op: str, substitution: str) -> str | None:
        if op not in substitution:
            return None
        name, _, arg = substitution.partition(op)
        value = self._get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return self.substitute(arg)
            return value
        if op in (":+", "+"):
            if value is not None and (op == "+" or value != ""):
                return self.substitute(arg)
            return value or ""
        # ":?" and "?"
        if value is None or (op == ":?" and value == ""):
            reason = self.substitute(arg)
            message = f"required variable {name} is missing a value"
            raise TemplateError(f"{message}: {reason}" if reason else message, False)
        return value


def too_long() -> TemplateError:
    return TemplateError(
        f"the interpolated value is longer than {MAX_VALUE_CHARS} characters (a variable expansion bomb?)", False
    )


def substitute(template: str, lookup: Lookup) -> str:
    return Substitution(lookup).substitute(template)
