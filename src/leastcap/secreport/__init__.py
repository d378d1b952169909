"""``leastcap report``: the security document of a set of Compose projects, for a review.

build(ReportOptions) -> SecurityReport        (leastcap.secreport.build)
render(SecurityReport, fmt) -> str            (markdown, html, json)
"""

from __future__ import annotations

from leastcap.secreport.build import ReportOptions, build
from leastcap.secreport.model import SecurityReport

FORMATS = ("markdown", "html", "json")


def render(report: SecurityReport, fmt: str) -> str:
    if fmt == "markdown":
        from leastcap.secreport.markdown import render_markdown

        return render_markdown(report)
    if fmt == "html":
        from leastcap.secreport.html import render_html

        return render_html(report)
    if fmt == "json":
        from leastcap.secreport.jsonout import render_json

        return render_json(report)
    raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")


__all__ = ["FORMATS", "ReportOptions", "SecurityReport", "build", "render"]
