"""The dangerous-capability rule on hand-built services: exact rule, severity, confidence, location and message."""

from __future__ import annotations

from rulebuild import PATH, at, brief, run, service

from leastcap.model import Location, Severity


def test_dangerous_capability_normalised_once_per_capability_with_severity() -> None:
    svc = service(
        cap_add=(
            at("sys_admin", 5, 9),
            at("CAP_NET_ADMIN", 6, 9),
            at("Sys_Admin", 7, 9),
            at("chown", 8, 9),
            at("ALL", 9, 9),
            at("CAP_ALL", 10, 9),
            at("syslog", 11, 9),
            at("bpf", 12, 9),
        )
    )
    found = run("dangerous-capability", svc)
    assert brief(found) == [
        ("dangerous-capability", "medium", 10, 9),  # CAP_ALL: unknown, moby refuses
        ("dangerous-capability", "critical", 5, 9),
        ("dangerous-capability", "high", 6, 9),
        ("dangerous-capability", "high", 11, 9),
        ("dangerous-capability", "critical", 12, 9),
    ]
    assert found[0].message == (
        "service 'web' adds unknown capability 'CAP_ALL': the daemon refuses to create the container"
    )
    assert found[1].message.startswith(
        "service 'web' adds SYS_ADMIN, which lets an attacker in the container mount filesystems"
    )
    assert found[1].related == (Location(PATH, 7, 9, "also added as Sys_Admin"),)
    assert found[1].facts == (("capability", "CAP_SYS_ADMIN"),)
    assert "set the system clock" not in found[2].message and "interfaces, routes" in found[2].message


def test_every_critical_capability_of_the_brief_is_critical() -> None:
    critical = [
        "SYS_ADMIN",
        "SYS_MODULE",
        "SYS_RAWIO",
        "DAC_READ_SEARCH",
        "BPF",
        "PERFMON",
        "SYS_BOOT",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
    ]
    # SYS_PTRACE is critical only with pid: host (test_sys_ptrace_depends_on_the_pid_namespace).
    high = ["SYS_PTRACE", "NET_ADMIN", "SYS_TIME", "SYSLOG", "SYS_NICE", "SYS_RESOURCE", "IPC_LOCK", "LINUX_IMMUTABLE"]
    svc = service(cap_add=tuple(at(c, i + 5) for i, c in enumerate(critical + high)))
    found = {dict(f.facts)["capability"]: f.severity for f in run("dangerous-capability", svc)}
    assert found == {
        **{f"CAP_{c}": Severity.CRITICAL for c in critical},
        **{f"CAP_{c}": Severity.HIGH for c in high},
    }
