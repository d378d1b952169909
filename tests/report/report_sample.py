"""A hand-built report that exercises every reporter feature, and the small rule catalogue it uses.

Built from the model types directly (not through the loader and rules) so the golden files pin the
reporters alone: several files, related locations, inline and config suppressions, a fix, a
container finding with line 0, a path with a space, an error in a path with ',' and ':' to escape,
a warning, and a message with characters that need escaping in every format.
"""

from __future__ import annotations

from leastcap.model import (
    Confidence,
    Edit,
    EditAction,
    Finding,
    Fix,
    FixSafety,
    Location,
    Problem,
    Report,
    Severity,
    Suppression,
)
from leastcap.rules.base import Rule

SOURCES: dict[str, str] = {
    "compose.yaml": (
        "x-caps: &caps\n"
        "  cap_add: [SYS_ADMIN, NET_ADMIN]\n"
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    privileged: true\n"
        "    <<: *caps\n"
        "  db:\n"
        "    image: postgres\n"
        "    pid: host  # leastcap: ignore[host-namespace] needed for pg_stat monitoring\n"
        "    volumes:\n"
        "      - /var/run/docker.sock:/var/run/docker.sock\n"
    ),
    "base/compose.yaml": ("services:\n  api:\n    image: example/api\n    devices:\n      - /dev/kvm:/dev/kvm\n"),
    "my app/compose.yml": (
        "services:\n\tproxy:  # a tab before the key: the caret must still line up\n\t\tnetwork_mode: host\n"
    ),
}


def source_line(path: str, line: int) -> str | None:
    text = SOURCES.get(path)
    if text is None or line < 1:
        return None
    lines = text.split("\n")
    return lines[line - 1] if line <= len(lines) else None


class Privileged(Rule):
    """Flags ``privileged: true``.

    ## What it does
    Reports a service that runs privileged.

    ## Why is this bad
    A privileged container is root on the host.

    ## Example
    ```yaml
    services:
      web:
        privileged: true
    ```

    ## Fix
    Remove it and add only the capabilities the service needs.
    """

    slug = "privileged"
    summary = "A service runs privileged"
    severity = Severity.CRITICAL
    cis = ("5.5",)


class DangerousCapability(Rule):
    """Flags capabilities beyond Docker's defaults.

    ## What it does
    Reports each added capability that Docker does not grant by default.

    ## Why is this bad
    Each one widens what root in the container can do to the host.

    ## Example
    ```yaml
    cap_add: [SYS_ADMIN]
    ```

    ## Fix
    Drop it, or keep only the one capability the workload uses.
    """

    slug = "dangerous-capability"
    summary = "A capability beyond Docker's defaults is added"
    severity = Severity.HIGH
    cis = ("5.4",)


class HostNamespace(Rule):
    """Flags host namespaces.

    ## What it does
    Reports pid, ipc, network, userns, uts or cgroup set to host.

    ## Why is this bad
    The container sees and can signal the host's processes or network.

    ## Example
    ```yaml
    pid: host
    ```

    ## Fix
    Remove the setting.
    """

    slug = "host-namespace"
    summary = "A namespace is shared with the host"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    cis = ("5.10", "5.16")


class DockerSocket(Rule):
    """Flags the Docker socket.

    ## What it does
    Reports a bind of docker.sock.

    ## Why is this bad
    Access to the socket is root on the host.

    ## Example
    ```yaml
    volumes: [/var/run/docker.sock:/var/run/docker.sock]
    ```

    ## Fix
    Use a socket proxy that allows only the calls needed.
    """

    slug = "docker-socket"
    summary = "The Docker socket is mounted"
    severity = Severity.CRITICAL
    cis = ("5.32",)


class MissingCapDrop(Rule):
    """Flags services that keep the default capabilities.

    ## What it does
    Reports a service without ``cap_drop: [ALL]``.

    ## Why is this bad
    The defaults include capabilities few services need.

    ## Example
    ```yaml
    services: {api: {image: x}}
    ```

    ## Fix
    Add ``cap_drop: [ALL]``.
    """

    slug = "missing-cap-drop"
    summary = "Docker's default capabilities are kept"
    severity = Severity.MEDIUM
    confidence = Confidence.MEDIUM


class NoNewPrivileges(Rule):
    """Flags a missing no-new-privileges.

    ## What it does
    Reports a service without ``no-new-privileges:true``.

    ## Why is this bad
    setuid binaries can raise privileges.

    ## Example
    ```yaml
    services: {api: {image: x}}
    ```

    ## Fix
    Add ``security_opt: [no-new-privileges:true]``.
    """

    slug = "no-new-privileges"
    summary = "no-new-privileges is not set"
    severity = Severity.LOW


class HostDevice(Rule):
    """Flags host devices.

    ## What it does
    Reports ``devices`` entries.

    ## Why is this bad
    A device node is a direct line to a kernel driver.

    ## Example
    ```yaml
    devices: [/dev/kvm:/dev/kvm]
    ```

    ## Fix
    Remove the device or narrow it.
    """

    slug = "host-device"
    summary = "A host device is exposed"
    severity = Severity.HIGH


class CapAddAll(Rule):
    """Flags ``cap_add: [ALL]``.

    ## What it does
    Reports ALL in cap_add.

    ## Why is this bad
    It is privileged in all but name.

    ## Example
    ```yaml
    cap_add: [ALL]
    ```

    ## Fix
    List the capabilities needed.
    """

    slug = "cap-add-all"
    summary = "All capabilities are added"
    severity = Severity.CRITICAL


RULES: tuple[type[Rule], ...] = (
    Privileged,
    DangerousCapability,
    HostNamespace,
    DockerSocket,
    MissingCapDrop,
    NoNewPrivileges,
    HostDevice,
    CapAddAll,
)

ESCAPE_MESSAGE = (
    "service 'db' mounts the Docker socket /var/run/docker.sock: 100% of the host, a, b: c\n"
    'second line <tag attr="x"> & [bold]not markup[/bold] \x1b[31mred\x1b[0m'
)


def sample_report() -> Report:
    alias_use = Location("compose.yaml", 7, 5, "merged into web by <<: *caps")
    findings = (
        # Deliberately out of order: every reporter must sort.
        Finding(
            rule="docker-socket",
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message=ESCAPE_MESSAGE,
            location=Location("compose.yaml", 12, 9),
            project="shop",
            service="db",
            facts=(("source", "/var/run/docker.sock"),),
        ),
        Finding(
            rule="privileged",
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message="service 'web' runs privileged",
            location=Location("compose.yaml", 6, 5),
            project="shop",
            service="web",
            fix=Fix(
                FixSafety.NEEDS_VERIFICATION,
                "known",
                Location("compose.yaml", 6, 5),
                (
                    Edit(EditAction.REMOVE, "privileged", at=Location("compose.yaml", 6, 5)),
                    Edit(EditAction.ADD, "cap_drop", "ALL", "drop everything, add back only what is needed"),
                    Edit(EditAction.ADD, "cap_add", "NET_BIND_SERVICE", 'binds port 80 ("nginx" image knowledge)'),
                ),
            ),
        ),
        Finding(
            rule="dangerous-capability",
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message="service 'web' adds SYS_ADMIN: mount, BPF, namespaces (near root)",
            location=Location("compose.yaml", 2, 13),
            project="shop",
            service="web",
            related=(alias_use,),
            facts=(("capability", "CAP_SYS_ADMIN"),),
        ),
        Finding(
            rule="dangerous-capability",
            severity=Severity.HIGH,
            confidence=Confidence.HIGH,
            message="service 'web' adds NET_ADMIN: reconfigure interfaces, routes and firewall",
            location=Location("compose.yaml", 2, 24),
            project="shop",
            service="web",
            related=(alias_use,),
            facts=(("capability", "CAP_NET_ADMIN"),),
        ),
        Finding(
            rule="host-namespace",
            severity=Severity.HIGH,
            confidence=Confidence.HIGH,
            message="service 'db' shares the host's PID namespace (pid: host)",
            location=Location("compose.yaml", 10, 5),
            project="shop",
            service="db",
            suppressed=Suppression(
                by="inline",
                justification="needed for pg_stat monitoring",
                location=Location("compose.yaml", 10, 16),
            ),
            facts=(("namespace", "pid"),),
        ),
        Finding(
            rule="missing-cap-drop",
            severity=Severity.MEDIUM,
            confidence=Confidence.MEDIUM,
            message="service 'api' keeps Docker's 14 default capabilities (no cap_drop: [ALL])",
            location=Location("base/compose.yaml", 2, 3),
            project="base",
            service="api",
            related=(Location("base/compose.override.yaml", 2, 3, "-f layer"),),
        ),
        Finding(
            rule="no-new-privileges",
            severity=Severity.LOW,
            confidence=Confidence.HIGH,
            message="service 'api' does not set no-new-privileges:true",
            location=Location("base/compose.yaml", 2, 3),
            project="base",
            service="api",
        ),
        Finding(
            rule="host-device",
            severity=Severity.HIGH,
            confidence=Confidence.HIGH,
            message="service 'api' gets host device /dev/kvm",
            location=Location("base/compose.yaml", 5, 9),
            project="base",
            service="api",
            suppressed=Suppression(
                by="exception",
                justification="KVM is needed for the emulator tests",
                approved_by="sec-team",
                expires="2031-01-01",
                ticket="SEC-42",
                location=Location(".leastcap.yml", 4, 5),
            ),
            facts=(("device", "/dev/kvm"),),
        ),
        Finding(
            rule="host-namespace",
            severity=Severity.HIGH,
            confidence=Confidence.HIGH,
            message="service 'proxy' uses the host's network stack (network_mode: host)",
            location=Location("my app/compose.yml", 3, 3),
            project="my-app",
            service="proxy",
            facts=(("namespace", "network"),),
        ),
        Finding(
            rule="privileged",
            severity=Severity.CRITICAL,
            confidence=Confidence.HIGH,
            message="container 'ci-runner' runs privileged",
            location=Location("container/ci-runner", 0, 0, "HostConfig.Privileged"),
            project="audit",
            service="ci-runner",
        ),
    )
    return Report(
        findings=findings,
        errors=(Problem("legacy,v1/compose:old.yaml", "mapping values are not allowed here", 3, 9),),
        warnings=(Problem("base/compose.override.yaml", 'service "api" has neither an image nor a build context'),),
        fail_on=Severity.HIGH,
        command="scan",
        scanned_files=(
            "base/compose.override.yaml",
            "base/compose.yaml",
            "compose.yaml",
            "legacy,v1/compose:old.yaml",
            "my app/compose.yml",
        ),
    )


def clean_report() -> Report:
    return Report(findings=(), scanned_files=("compose.yaml",))
