"""``leastcap report --format html``: one self-contained file.

Inline CSS and inline SVG only: no script, no font, no image, no link to anything outside the
file, and a Content-Security-Policy that forbids loading any (``default-src 'none'``), so it opens
offline and cannot be made to call out. Every value from the scanned files is HTML-escaped after
``defuse``. Two charts: open findings by severity per service, and services with a high or critical
finding over the git history.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from leastcap.report.common import defuse
from leastcap.secreport.model import HistoryPoint, SecurityReport, ServiceRow

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
COLORS = {"critical": "#8b0000", "high": "#d7301f", "medium": "#fc8d59", "low": "#4575b4", "info": "#91bfdb"}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:75rem;color:#1b1b1b;
padding:0 1rem;background:#fff}
h1{border-bottom:3px solid #8b0000;padding-bottom:.3rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;background:#f3f3f3;padding:0 .2rem}
.open{color:#b00000;font-weight:700}.accepted{color:#8a5a00}.closed{color:#2e7d32}
.flag{color:#b00000;font-weight:700}.none{color:#b00000;font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;
min-width:9rem}.card b{display:block;font-size:1.6rem}figure{margin:1rem 0}figcaption{font-size:.9rem;color:#444}
"""


def _e(text: str) -> str:
    return html.escape(defuse(text), quote=True)


def _code(values: Sequence[str]) -> str:
    return ", ".join(f"<code>{_e(v)}</code>" for v in values) if values else "—"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], table_id: str) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _severity_chart(services: Sequence[ServiceRow]) -> str:
    rows = [s for s in services if any(n for _, n in s.counts)]
    label_w, bar_w, row_h = 320, 420, 22
    height = max(1, len(rows)) * row_h + 40
    peak = max((sum(n for _, n in s.counts) for s in rows), default=1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-severity" role="img" width="{label_w + bar_w + 60}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 60} {height}">',
        "<title>Open findings by severity per service</title>",
    ]
    if not rows:
        parts.append('<text x="10" y="24">No open findings.</text>')
    for i, s in enumerate(rows):
        y = i * row_h + 4
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{_e(f'{s.project}/{s.service}')}</text>"
        )
        x = float(label_w)
        for label, n in s.counts:
            if not n:
                continue
            w = bar_w * n / peak
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{COLORS[label]}">'
                f"<title>{n} {label}</title></rect>"
            )
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="12">{sum(n for _, n in s.counts)}</text>')
    legend_y = height - 12
    for i, (label, color) in enumerate(COLORS.items()):
        parts.append(
            f'<rect x="{label_w + i * 90}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>'
            f'<text x="{label_w + i * 90 + 16}" y="{legend_y}" font-size="12">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _history_chart(points: Sequence[HistoryPoint]) -> str:
    width, height, pad = 720, 220, 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-history" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        "<title>Services with a high or critical finding over the git history</title>",
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#444"/>',
        f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="#444"/>',
    ]
    if not points:
        parts.append(f'<text x="{pad + 10}" y="{height // 2}">No git history for these paths.</text></svg>')
        return "".join(parts)
    peak = max(1, *(p.services for p in points))
    step = (width - pad - 20) / max(len(points) - 1, 1)
    coords = [(pad + i * step, (height - pad) - (height - pad - 20) * p.services / peak) for i, p in enumerate(points)]
    # a step line: the count holds until the next commit changes it
    path = f"M{coords[0][0]:.1f} {coords[0][1]:.1f}" + "".join(f" H{x:.1f} V{y:.1f}" for x, y in coords[1:])
    parts.append(f'<path d="{path}" fill="none" stroke="#8b0000" stroke-width="2"/>')
    for (x, y), p in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#8b0000"><title>{_e(p.commit)} {p.date}: '
            f"{p.services} service(s)</title></circle>"
        )
    parts.append(
        f'<text x="{pad - 6}" y="18" text-anchor="end" font-size="11">{peak}</text>'
        f'<text x="{pad - 6}" y="{height - pad}" text-anchor="end" font-size="11">0</text>'
        f'<text x="{pad}" y="{height - pad + 16}" font-size="11">{points[0].date}</text>'
        f'<text x="{width - 10}" y="{height - pad + 16}" text-anchor="end" font-size="11">'
        f"{points[-1].date}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _status(text: str) -> str:
    cls = "open" if text.startswith("open") else "accepted" if text.startswith("accepted") else "closed"
    return f'<span class="{cls}">{_e(text)}</span>'


def render_html(report: SecurityReport) -> str:
    s = report.summary
    open_total = sum(n for _, n in s.by_severity)
    cards = [
        ("Projects", s.projects),
        ("Services", s.services),
        ("Open findings", open_total),
        ("Privileged services", s.privileged_services),
        ("Suppressed", s.suppressed),
        ("Exceptions active", s.exceptions_active),
        ("Expiring ≤30 days", s.exceptions_expiring),
        ("Expired", s.exceptions_expired),
        ("Verified profiles", f"{s.profiles_verified}/{s.profiles}"),
    ]
    body = [
        f"<h1>Privilege report</h1><p>Paths: {_code(report.paths)}. Date: {report.date}. "
        "Generated by <code>leastcap report</code>.</p>",
        '<h2 id="summary">Summary</h2><div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b>{k}</div>' for k, v in cards)
        + "</div>",
        _table(["Severity", "Open findings"], [[label, str(n)] for label, n in s.by_severity], "severity"),
        f"<figure>{_severity_chart(report.services)}<figcaption>Open findings by severity per service"
        "</figcaption></figure>",
        '<h2 id="services">Services</h2>',
        _table(
            [
                "Service",
                "Image",
                "Privileged",
                "cap_add",
                "cap_drop",
                "Devices",
                "Host namespaces",
                "Sensitive mounts",
                "no-new-privileges",
                "Status",
            ],
            [
                [
                    _code([f"{r.project}/{r.service}"]),
                    _code([r.image] if r.image else []),
                    '<span class="open">yes</span>' if r.privileged else "no",
                    _code(r.cap_add),
                    _code(r.cap_drop),
                    _code(r.devices),
                    _code(r.host_namespaces),
                    _code(r.sensitive_mounts),
                    "yes" if r.no_new_privileges else "no",
                    _status(r.status),
                ]
                for r in report.services
            ],
            "services",
        ),
        '<h2 id="capabilities">Capabilities and rationale</h2>',
        _table(
            ["Service", "Capability", "Rationale (source)"],
            [
                [
                    _code([f"{k.project}/{k.service}"]),
                    _code([k.capability]),
                    "<br>".join(
                        f"<b>{_e(r.source)}</b>: {_e(r.text)}"
                        + (f" (<code>{_e(r.reference)}</code>)" if r.reference else "")
                        for r in k.rationales
                    )
                    or '<span class="none">no rationale recorded</span>',
                ]
                for k in report.capabilities
            ],
            "capabilities",
        ),
        '<h2 id="exceptions">Exceptions register</h2>',
        _table(
            ["Rule", "Scope", "Justification", "Approved by", "Expires (days left)", "Ticket", "Flags"],
            [
                [
                    _code([e.rule]),
                    _code(["/".join(x for x in (e.project, e.service) if x) or "*"]),
                    _e(e.justification) or "—",
                    _e(e.approved_by) or "—",
                    f"{_e(e.expires)} ({e.days_left})" if e.expires else "—",
                    _e(e.ticket) or "—",
                    ", ".join(f'<span class="flag">{_e(f)}</span>' for f in e.flags) or "—",
                ]
                for e in report.exceptions
            ],
            "exceptions",
        ),
        '<h2 id="threats">Threat model</h2>',
    ]
    for i, threat in enumerate(report.threats):
        rows = []
        for path in threat.paths:
            if not path.exposures:
                rows.append([_e(path.title), _status("closed"), "—", "—"])
            rows += [
                [_e(path.title), _status(e.status), _code([f"{e.project}/{e.service}"]), _e(e.detail)]
                for e in path.exposures
            ]
        body.append(f"<h3>{_e(threat.title)}</h3><p>When it happens, {_e(threat.why)}</p>")
        body.append(_table(["Path", "Status", "Service", "Detail"], rows, f"threat-{i + 1}"))
    body.append('<h2 id="history">History</h2>')
    if report.history is None:
        body.append("<p>Not in a git repository, or not asked for (<code>--no-history</code>).</p>")
    else:
        h = report.history
        body.append(
            f"<p>From the walk of <code>leastcap history</code> (tip <code>{_e(h.tip)}</code>). {_e(h.note)}</p>"
        )
        body.append(
            _table(
                ["Rule", "What", "Service", "File", "Introduced", "Removed", "At tip"],
                [
                    [
                        _code([r.rule]),
                        _code([r.detail] if r.detail else []),
                        _code([r.service] if r.service else []),
                        _code([r.path]),
                        _e(r.introduced) or "—",
                        _e(r.removed) or "—",
                        _e(r.at_tip),
                    ]
                    for r in h.rows
                ],
                "history-table",
            )
        )
    body.append(
        f"<figure>{_history_chart(report.history.points if report.history else ())}<figcaption>Services "
        "with a high or critical finding over the git history</figcaption></figure>"
    )
    body.append('<h2 id="drift">Drift</h2>')
    if report.drift is None:
        body.append("<p>No audit given (<code>--audit</code>).</p>")
    else:
        body.append(
            _table(
                ["Container", "Service", "Severity", "Difference"],
                [[_code([d.container]), _code([d.service]), _e(d.severity), _e(d.message)] for d in report.drift],
                "drift",
            )
        )
    body.append('<h2 id="changes">Changes since the previous report</h2>')
    if report.changes is None:
        body.append("<p>No previous report given (<code>--previous</code>).</p>")
    else:
        body.append(
            _table(
                ["Change", "Rule", "Service", "Severity", "Detail"],
                [
                    [_e(c.change), _code([c.rule]), _code([f"{c.project}/{c.service}"]), _e(c.severity), _e(c.detail)]
                    for c in report.changes
                ],
                "changes",
            )
        )
    if report.errors or report.warnings:
        body.append(
            '<h2 id="problems">Problems</h2><ul>'
            + "".join(f"<li>error: <code>{_e(p.path)}</code>: {_e(p.message)}</li>" for p in report.errors)
            + "".join(f"<li>warning: <code>{_e(p.path)}</code>: {_e(p.message)}</li>" for p in report.warnings)
            + "</ul>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Privilege report {report.date}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
