"""A leastcap profile as ``profile --verify`` writes it, for tests of what ``fix`` does with one."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def verified_profile(compose: Path, service: str, capability: str, reason: str) -> dict[str, Any]:
    """The JSON of a verified, minimised profile of ``service`` (image example.com/app:1) that
    needs only ``capability``, used ``reason``; the project is the Compose file's directory."""
    return {
        "version": 1, "tool": "leastcap", "compose_files": [str(compose)], "working_dir": str(compose.parent),
        "project": compose.parent.name, "service": service, "image": "example.com/app:1", "privileged": False,
        "cap_drop": ["ALL"], "cap_add": [capability], "devices": [], "sysctls": {}, "security_opt": [],
        "verified": True, "minimized": True, "minimize_runs": 3,
        "verification": [{"cap_add": [capability], "passed": True, "reason": "healthy"}],
        "recording": {"mode": "compose", "source": "tracepoint", "kernel": "6.18", "duration_seconds": 5.0,
                      "privileged": False, "granted": [capability], "unavailable": [], "events": 3,
                      "lost_events": 0, "exit_code": None, "probe": None, "container": None},
        "evidence": [{"capability": capability, "decision": "required", "reason": reason,
                      "granted": 3, "denied": 0, "probes": 0, "processes": [{"comm": "app", "count": 3}],
                      "frames": [], "syscalls": ["fchownat"], "narrower": None}],
        "notes": [],
    }  # fmt: skip
