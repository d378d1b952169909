"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

GitHub reads ``properties.security-severity`` on a rule (a number as a string: 9.0+ critical,
7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low) and tracks alerts across commits with
``partialFingerprints``; ours contain no line number so an alert survives code moving around.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from leastcap import __version__
from leastcap.model import Finding, Location, Problem, Report, Severity
from leastcap.report.common import RenderContext, dumps, fingerprints, sorted_findings, sorted_problems
from leastcap.report.rulemeta import INFORMATION_URI, RuleInfo, info_for

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "leastcap/v1"

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# One rule, result or notification per line.
_ONE_LINE = frozenset({"rules", "results", "toolExecutionNotifications"})
PRECISION = {0: "low", 1: "medium", 2: "high"}


def artifact_uri(path: str) -> str:
    """A relative path stays relative (GitHub resolves it against the checkout); absolute becomes file://."""
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix, safe="/@", errors="surrogateescape")
    # A name that is not UTF-8 keeps its real bytes, percent-encoded (quote would crash on them).
    return quote(posix, safe="/@", errors="surrogateescape")


def physical_location(loc: Location) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(loc.path)}}
    # Line 0 is not a text position (a container's inspect field): no region, which SARIF allows.
    if loc.line > 0:
        region: dict[str, Any] = {"startLine": loc.line}
        if loc.column > 0:
            region["startColumn"] = loc.column
        physical["region"] = region
    return physical


def location(loc: Location, *, message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"physicalLocation": physical_location(loc)}
    if loc.line == 0 and loc.note:
        # The symbolic place (e.g. HostConfig.Privileged) is what identifies it for a container.
        out["logicalLocations"] = [{"fullyQualifiedName": loc.note, "kind": "member"}]
    if message:
        out["message"] = {"text": message}
    return out


def rule_descriptor(info: RuleInfo) -> dict[str, Any]:
    # cis-docker-v1.6.0-5.5: the item with the benchmark version its number belongs to.
    cis = (f"cis-docker-{item.replace(' ', '-')}" for item in info.cis_items())
    tags = ["security", "docker-compose", "least-privilege", *cis]
    full = info.section("What it does") or info.summary
    descriptor: dict[str, Any] = {
        "id": info.slug,
        "name": "".join(part.capitalize() for part in info.slug.split("-")),
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": " ".join(full.split())},
        "helpUri": info.uri,
        "help": {"text": info.doc or info.summary, "markdown": info.markdown()},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "properties": {
            "tags": tags,
            "precision": PRECISION[int(info.confidence)],
            "problem.severity": "recommendation" if LEVEL[info.severity] == "note" else LEVEL[info.severity],
            "security-severity": SECURITY_SEVERITY[info.severity],
        },
    }
    return descriptor


def _suppressions(f: Finding) -> list[dict[str, Any]]:
    s = f.suppressed
    if s is None:
        return []
    out: dict[str, Any] = {
        "kind": "inSource" if s.by == "inline" else "external",
        "status": "accepted",
        "justification": s.justification,
    }
    if s.location is not None:
        out["location"] = location(s.location)
    pairs = (("approvedBy", s.approved_by), ("expires", s.expires), ("ticket", s.ticket))
    props = {k: v for k, v in pairs if v}
    if props:
        out["properties"] = props
    return [out]


def _result(f: Finding, fp: str, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [location(f.location)],
    }
    if f.related:
        result["relatedLocations"] = [
            {"id": i, **location(r, message=r.note or "related location")} for i, r in enumerate(f.related, 1)
        ]
    result["partialFingerprints"] = {FINGERPRINT_KEY: fp}
    if f.suppressed is not None:
        result["suppressions"] = _suppressions(f)
    result["properties"] = {
        "severity": f.severity.label,
        "confidence": f.confidence.label,
        "project": f.project,
        "service": f.service,
        # Per finding, because a rule's severity can be raised for one finding (SYS_ADMIN is critical).
        "security-severity": SECURITY_SEVERITY[f.severity],
    }
    return result


def _notification(p: Problem, level: str) -> dict[str, Any]:
    return {
        "level": level,
        "message": {"text": p.message},
        "locations": [location(Location(p.path, p.line, p.column))],
    }


def sarif_log(report: Report, ctx: RenderContext) -> dict[str, Any]:
    findings = sorted_findings(report)
    infos = dict(ctx.rules)
    for f in findings:
        if f.rule not in infos:
            infos[f.rule] = info_for(f.rule, ctx.rules, findings)
    ordered = sorted(infos.values(), key=lambda i: i.slug)
    index = {info.slug: i for i, info in enumerate(ordered)}
    results = [_result(f, fp, index[f.rule]) for f, fp in zip(findings, fingerprints(findings), strict=True)]
    notifications = [_notification(p, "error") for p in sorted_problems(report.errors)] + [
        _notification(p, "warning") for p in sorted_problems(report.warnings)
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "leastcap",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [rule_descriptor(info) for info in ordered],
            }
        },
        "invocations": [
            {
                # The tool ran to the end; files it could not load are error notifications.
                "executionSuccessful": True,
                "toolExecutionNotifications": notifications,
            }
        ],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report, ctx: RenderContext) -> str:
    return dumps(sarif_log(report, ctx), _ONE_LINE)
