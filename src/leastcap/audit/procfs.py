"""Effective capability sets of a container's process, when this machine can see it.

``State.Pid`` is a pid in the engine's pid namespace. It only means something here when the engine
is local and shares our pid namespace, and a pid can be reused. So the process counts as the
container's only if its ``/proc/<pid>/cgroup`` names the container id (true for the cgroupfs and
systemd drivers, cgroup v1 and v2, as seen from the host's cgroup namespace).
"""

from __future__ import annotations

from pathlib import Path

from leastcap.capabilities import parse_mask, short, sort_capabilities

# /proc/<pid>/status field -> fact name.
CAP_FIELDS = {"CapEff": "cap_effective", "CapPrm": "cap_permitted", "CapBnd": "cap_bounding"}


def capability_facts(pid: int, container_id: str, proc: Path = Path("/proc")) -> tuple[tuple[str, str], ...]:
    """``(("cap_bounding", "CHOWN,KILL,..."), ...)`` or ``()`` when the process is not visible."""
    if pid <= 0 or not container_id:
        return ()
    base = proc / str(pid)
    try:
        if container_id not in (base / "cgroup").read_text(encoding="utf-8", errors="replace"):
            return ()
        status = (base / "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    facts: list[tuple[str, str]] = []
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in CAP_FIELDS:
            names = sort_capabilities(parse_mask(value.strip()))
            facts.append((CAP_FIELDS[key], ",".join(short(n) for n in names) or "(none)"))
    return tuple(sorted(facts))
