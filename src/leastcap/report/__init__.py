"""Reporters: one module per output format over the same ``Report``.

``render(report, fmt)`` is the single entry point; format modules are imported on first use so the
CLI starts fast (rich is only loaded for text output).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

from leastcap.model import Report
from leastcap.report.common import RenderContext, SourceLine, defang_commands, escape_surrogates
from leastcap.report.rulemeta import catalogue

# format name -> module under leastcap.report, in the order shown by --help.
_MODULES = {
    "text": "text",
    "json": "json_v1",
    "sarif": "sarif",
    "github": "github",
    "codeclimate": "codeclimate",
    "junit": "junit",
}
FORMATS: tuple[str, ...] = tuple(_MODULES)


def shows_fixes(fmt: str) -> bool:
    """Whether ``fmt`` renders each finding's fix (its module's ``SHOWS_FIXES``): scan plans fixes
    only for a format that shows them."""
    return bool(getattr(importlib.import_module(f"leastcap.report.{_MODULES[fmt]}"), "SHOWS_FIXES", False))


def use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything non-empty (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def render(
    report: Report,
    fmt: str,
    *,
    source_line: SourceLine | None = None,
    color: bool | None = None,
    rules: Iterable[object] | None = None,
) -> str:
    """Render ``report`` as ``fmt`` (one of ``FORMATS``).

    ``source_line(path, line)`` supplies snippet text (git blobs, containers); the default reads
    files from disk. ``color`` None means: decide from stdout and NO_COLOR. ``rules`` is the rule
    catalogue (rule classes or instances) for SARIF metadata and JUnit suites; None means the registry.
    """
    module_name = _MODULES.get(fmt)
    if module_name is None:
        raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if source_line is None:
        from leastcap.report.source import DiskSourceLines

        source_line = DiskSourceLines()
    ctx = RenderContext(
        rules=catalogue(rules),
        source_line=source_line,
        color=use_color() if color is None else color,
    )
    module = importlib.import_module(f"leastcap.report.{module_name}")
    text: str = module.render(report, ctx)
    return safe_output(text, fmt)


def safe_output(text: str, fmt: str) -> str:
    """The last step of every format: no byte of a non-UTF-8 file name survives as a lone
    surrogate (JSON and SARIF stay valid, XML well-formed), and text output forges no workflow
    command with a name or message that starts a line."""
    text = escape_surrogates(text, inside_json=fmt in ("json", "sarif", "codeclimate"))
    return defang_commands(text) if fmt in ("text", "markdown") else text


__all__ = ["FORMATS", "RenderContext", "SourceLine", "render", "safe_output", "shows_fixes", "use_color"]
