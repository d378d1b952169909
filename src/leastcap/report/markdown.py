"""Markdown that reviewers read in a pull request or a wiki, built from hostile values.

Every value from a scanned file goes through ``md``: control characters become visible escapes
(``defuse``) and every ASCII punctuation character Markdown could read as syntax is backslash-
escaped (CommonMark allows that for all of them), so a service named ``<img src=x>`` or
``[click](http://...)`` or a message with ``|`` stays text in a table cell. Newlines become spaces:
one value never ends a table row or starts a heading.
"""

from __future__ import annotations

import re

from leastcap.report.common import defuse
from leastcap.report.rulemeta import RuleInfo

# What Markdown (GFM) can read as syntax inside a line: emphasis, code, links, images, HTML,
# entities, tables, headings, strike-through, and @mentions (a hostile name must not ping a team).
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#!|~&@])")
_RST_CODE = re.compile(r"``([^`]+)``")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`])")


def md(text: str) -> str:
    """``text`` as literal Markdown text (table cells included)."""
    flat = " ".join(defuse(text).split())
    return _SPECIAL.sub(r"\\\1", flat)


def code(text: str) -> str:
    """``text`` as an inline code span; a value with a backtick is escaped text instead."""
    flat = " ".join(defuse(text).split())
    if "`" in flat or not flat:
        return md(flat)
    return f"`{flat.replace('|', chr(92) + '|')}`"  # GFM tables read \| in a code span as |


def _prose(body: str) -> str:
    """The text before the first code block, on one line, RST literals as Markdown code."""
    prose: list[str] = []
    for line in body.splitlines():
        if line.strip().startswith("```"):
            break
        prose.append(line.strip())
    return _RST_CODE.sub(r"`\1`", " ".join(p for p in prose if p))


def _first_sentence(body: str) -> str:
    text = _prose(body)
    return _SENTENCE.split(text, maxsplit=1)[0] if text else ""


def why(info: RuleInfo | None) -> str:
    """The rule's one-line why: the first sentence of its "Why is this bad" (trusted text)."""
    if info is None:
        return ""
    return _first_sentence(info.section("Why is this bad")) or info.summary


def fix(info: RuleInfo | None) -> str:
    """The rule's "Fix" up to its example, or a pointer to its docs when it is only an example."""
    if info is None:
        return ""
    return _prose(info.section("Fix")) or f"see the example in [{info.slug}]({info.uri})"
