"""--drift against real Compose projects: the file changes after ``up``, a service disappears, a
container started by hand claims a Compose origin, a container has none, a file is gone."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from leastcap.audit import AuditOptions, audit
from leastcap.model import Problem

pytestmark = [pytest.mark.docker, pytest.mark.compose]

IMAGE = "leastcap-test/busybox:latest"
BEFORE = f"""\
services:
  agent:
    image: {IMAGE}
    command: sleep 600
    cap_add: [SYS_ADMIN]
    pid: host
  root:
    image: {IMAGE}
    command: sleep 600
    privileged: true
  web:
    image: {IMAGE}
    command: sleep 600
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
  gone:
    image: {IMAGE}
    command: sleep 600
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
"""
# The fix lands in the file; nobody runs `docker compose up` again. web gets more in the file.
AFTER = f"""\
services:
  agent:
    image: {IMAGE}
    command: sleep 600
    cap_drop: [ALL]
  root:
    image: {IMAGE}
    command: sleep 600
    cap_add: [NET_ADMIN]
  web:
    image: {IMAGE}
    command: sleep 600
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    security_opt: [no-new-privileges:true]
"""


def drift_of(project: str, findings: tuple[object, ...]) -> list[tuple[str, str, str, str, str]]:
    return sorted(
        (f.severity.label, f.service, f.location.path, f.location.note, f.message)  # type: ignore[attr-defined]
        for f in findings
        if f.rule == "drift" and f.project == project  # type: ignore[attr-defined]
    )


def test_file_fixed_but_containers_not_recreated(compose_project) -> None:  # type: ignore[no-untyped-def]
    compose_project.file.write_text(BEFORE)
    compose_project.up("agent", "web", "gone")
    compose_project.create("root")  # privileged cannot start here
    time.sleep(1.1)  # the file's mtime must be later than the containers' creation
    compose_project.file.write_text(AFTER)
    p = compose_project.name
    result = audit(AuditOptions(hosts=("unix:///var/run/docker.sock",), include_stopped=True, drift=True))
    recreate = "the Compose file changed after the container was created: recreate it (docker compose up -d)"
    assert drift_of(p, result.findings) == sorted(
        [
            (
                "high",
                "agent",
                f"local/{p}-agent-1",
                "HostConfig.CapAdd[0]",
                "capabilities differ from the Compose file: the container has CHOWN, DAC_OVERRIDE, FOWNER, FSETID,"
                " KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, SYS_ADMIN, MKNOD,"
                f" AUDIT_WRITE, SETFCAP; {recreate}",
            ),
            (
                "high",
                "agent",
                f"local/{p}-agent-1",
                "HostConfig.PidMode",
                f"pid: the container shares the host's namespace, the Compose file does not; {recreate}",
            ),
            (
                "high",
                "root",
                f"local/{p}-root-1",
                "HostConfig.Privileged",
                f"the container runs privileged, the Compose file says not; {recreate}",
            ),
            (
                "low",
                "web",
                f"local/{p}-web-1",
                "HostConfig.CapDrop[0]",
                "capabilities differ from the Compose file: the file grants NET_BIND_SERVICE"
                f" (the file grants more); {recreate}",
            ),
            (
                "medium",
                "gone",
                f"local/{p}-gone-1",
                "container",
                f"service 'gone' of Compose project '{p}' is no longer in its Compose files"
                f" ({compose_project.file}): the container runs settings no file describes",
            ),
        ]
    )
    # The related location points into the file: the value, or the service key when the file does
    # not set it (root: no privileged key any more, so its `root:` line).
    root = next(f for f in result.findings if f.rule == "drift" and f.service == "root")
    assert (root.related[0].path, root.related[0].line, root.related[0].column) == (str(compose_project.file), 6, 3)
    pid = next(f for f in result.findings if f.rule == "drift" and f.location.note == "HostConfig.PidMode")
    assert (pid.related[0].line, pid.related[0].column) == (2, 3)
    assert str(compose_project.file) in result.compose_files


def test_hand_made_and_foreign_containers(compose_project, container: Callable[..., str]) -> None:  # type: ignore[no-untyped-def]
    compose_project.file.write_text(AFTER)
    p = compose_project.name
    # Started by hand with Compose's labels (as `docker run` after copying a compose service) and
    # more privilege than the file, after the file was written: not a missed recreate.
    time.sleep(1.1)
    hand = container(
        "create",
        "--privileged",
        "--label",
        f"com.docker.compose.project={p}",
        "--label",
        "com.docker.compose.service=root",
        "--label",
        f"com.docker.compose.project.config_files={compose_project.file}",
        "--label",
        f"com.docker.compose.project.working_dir={compose_project.directory}",
        suffix="hand",
    )
    plain = container("run", "--cap-drop", "ALL", suffix="plain")
    missing = container(
        "create",
        "--label",
        f"com.docker.compose.project={p}x",
        "--label",
        "com.docker.compose.service=web",
        "--label",
        f"com.docker.compose.project.config_files={compose_project.directory}/nowhere.yaml",
        suffix="missing",
    )
    result = audit(AuditOptions(hosts=("unix:///var/run/docker.sock",), include_stopped=True, drift=True))
    other = (
        "the container was created with other settings than the current file (by hand, other -f files"
        " or another environment)"
    )
    assert drift_of(p, result.findings) == [
        (
            "high",
            "root",
            f"local/{hand}",
            "HostConfig.Privileged",
            f"the container runs privileged, the Compose file says not; {other}",
        ),
    ]
    assert [d for d in drift_of("", result.findings) if d[1] == plain] == [
        (
            "medium",
            plain,
            f"local/{plain}",
            "container",
            f"container '{plain}' was not created by Docker Compose: no Compose file describes its settings",
        ),
    ]
    assert [w for w in result.warnings if w.path == f"local/{missing}"] == [
        Problem(
            f"local/{missing}",
            f"drift not checked: Compose file not readable on this machine: {compose_project.directory}/nowhere.yaml",
        ),
    ]
    # Without --drift there is no drift finding at all.
    plain_audit = audit(AuditOptions(hosts=("unix:///var/run/docker.sock",), include_stopped=True))
    assert [f for f in plain_audit.findings if f.rule == "drift"] == []
