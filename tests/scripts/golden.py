"""Render script projects as compact golden lines: one line per located value, and per finding."""

from __future__ import annotations

from typing import Any

from leastcap.model import Device, Finding, Located, Mount, Project

_FIELDS = (
    "privileged", "cap_add", "cap_drop", "security_opt", "devices", "device_cgroup_rules", "volumes",
    "pid", "ipc", "network_mode", "userns_mode", "uts", "cgroup", "user", "read_only", "use_api_socket",
    "build_privileged", "image",
)  # fmt: skip


def _value(value: Any) -> str:
    if isinstance(value, Mount):
        ro = ",ro" if value.read_only else ""
        return f"{value.type}:{value.source}->{value.target}{ro}"
    if isinstance(value, Device):
        return f"{value.source}->{value.target}:{value.permissions}" + (" cdi" if value.cdi else "")
    return str(value)


def model_lines(projects: list[Project]) -> list[str]:
    out = []
    for project in sorted(projects, key=lambda p: p.name):
        for svc in project.services:
            kind = dict(svc.runtime_facts).get("script.kind", "?")
            out.append(f"{project.name} | {svc.name} [{kind}] key {svc.key.line}:{svc.key.column}")
            for name in _FIELDS:
                raw = getattr(svc, name)
                values: tuple[Located[Any], ...] = raw if isinstance(raw, tuple) else (() if raw is None else (raw,))
                for v in values:
                    var = f" vars={','.join(v.variables)}" if v.variables else ""
                    out.append(f"    {name}={_value(v.value)} @{v.origin.line}:{v.origin.column}{var}")
    return out


def finding_lines(findings: list[Finding]) -> list[str]:
    return [
        f"{f.location.path}:{f.location.line}:{f.location.column} {f.rule} {f.severity.label} [{f.service}]"
        + (" suppressed" if f.suppressed else "")
        for f in findings
    ]
