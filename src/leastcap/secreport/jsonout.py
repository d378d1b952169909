"""``leastcap report --format json``: the report's data, and every finding with its fingerprint
(what ``--previous`` compares against)."""

from __future__ import annotations

import dataclasses
from typing import Any

from leastcap.report.common import dumps
from leastcap.report.json_v1 import finding_dict
from leastcap.secreport.model import SecurityReport

VERSION = 1


def report_dict(report: SecurityReport) -> dict[str, Any]:
    def plain(value: object) -> Any:
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value

    return {
        "version": VERSION,
        "kind": "leastcap-report",
        "date": report.date,
        "paths": list(report.paths),
        "summary": {**plain(report.summary), "by_severity": dict(report.summary.by_severity)},
        "services": [{**plain(r), "counts": dict(r.counts)} for r in report.services],
        "capabilities": [plain(c) for c in report.capabilities],
        "exceptions": [plain(e) for e in report.exceptions],
        "threats": [
            {
                "title": t.title,
                "why": t.why,
                "paths": [
                    {"title": p.title, "status": p.status, "exposures": [plain(e) for e in p.exposures]}
                    for p in t.paths
                ],
            }
            for t in report.threats
        ],
        "history": plain(report.history) if report.history is not None else None,
        "drift": None if report.drift is None else [plain(d) for d in report.drift],
        "changes": None if report.changes is None else [plain(c) for c in report.changes],
        "findings": [{"fingerprint": f.fingerprint, **finding_dict(f)} for f in report.findings],
        "errors": [plain(p) for p in report.errors],
        "warnings": [plain(p) for p in report.warnings],
    }


def render_json(report: SecurityReport) -> str:
    return dumps(
        report_dict(report),
        frozenset(
            {
                "findings",
                "services",
                "capabilities",
                "exceptions",
                "drift",
                "changes",
                "errors",
                "warnings",
                "rows",
                "points",
            }
        ),
    )
