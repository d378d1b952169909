"""Docker and Compose plumbing for profiling: override files, compose runs, inspect.

The Compose v2 executable is found in ``composebin`` (one discovery for every caller).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from leastcap.capabilities import (
    ALL_CAPABILITIES,
    CAPABILITY_NUMBERS,
    parse_mask,
    short,
    sort_capabilities,
)
from leastcap.profile.composebin import ComposeNotFoundError, compose
from leastcap.semantics import without_option


class ComposeError(RuntimeError):
    """docker compose / docker failed; the message carries its stderr."""


def compose_executable() -> str:
    """The Compose v2 executable (composebin's one discovery), or ComposeError saying how to install it."""
    try:
        return compose().path
    except ComposeNotFoundError as exc:
        raise ComposeError(str(exc)) from None


def _run(args: list[str], timeout: float = 120) -> str:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"{' '.join(args[:4])}... timed out after {timeout}s") from exc
    except OSError as exc:
        raise ComposeError(f"cannot run {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise ComposeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def bounding_set(status_path: str = "/proc/self/status") -> frozenset[str]:
    """The capabilities this host can grant: ``CapBnd`` of our own process."""
    for line in Path(status_path).read_text().splitlines():
        if line.startswith("CapBnd:"):
            return parse_mask(line.split(":", 1)[1].strip())
    raise RuntimeError(f"no CapBnd line in {status_path}")


def kernel_capabilities() -> frozenset[str]:
    """Capabilities this kernel knows (0..cap_last_cap); newer names in our table may be absent."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return ALL_CAPABILITIES
    return frozenset(n for n, bit in CAPABILITY_NUMBERS.items() if bit <= last)


OWNER_LABEL = "io.leastcap.profile.owner"
PROJECT_PREFIX = "leastcap-prof-"
OVERRIDE_DIR_PREFIX = "leastcap-profile-"


def with_no_new_privileges(security_opt: tuple[str, ...]) -> tuple[str, ...]:
    """The service's security_opt with no-new-privileges forced on (any spelling replaced)."""
    return (*without_option(security_opt, "no-new-privileges"), "no-new-privileges:true")


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """What ``docker compose config`` says about the service (after the user's own merging)."""

    project: str
    working_dir: str | None
    image: str
    privileged: bool
    network_mode: str | None
    has_healthcheck: bool
    user: str | None
    security_opt: tuple[str, ...] = ()
    ipc: str | None = None
    sysctls: tuple[tuple[str, str], ...] = ()  # the service's own sysctls: (name, value)
    devices: tuple[str, ...] = ()  # container paths of the service's own devices
    # Two copies of the project can run side by side without touching each other: no service
    # publishes a host port, shares the host's network, pid or ipc namespace, or bind-mounts a host
    # path (named volumes are per project). Only then are verification runs run in parallel.
    isolated: bool = False


@dataclass(frozen=True, slots=True)
class ComposeTarget:
    """The user's Compose project and the service to profile. Files are absolute paths."""

    files: tuple[str, ...]
    service: str
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()

    def base_args(self, binary: str, project: str | None = None, override: str | None = None) -> list[str]:
        args = [binary]
        for f in self.files:
            args += ["-f", f]
        if override is not None:
            args += ["-f", override]
        if self.project_directory:
            args += ["--project-directory", self.project_directory]
        for e in self.env_files:
            args += ["--env-file", e]
        if project is not None:
            args += ["-p", project]
        return args

    def config(self, binary: str) -> ServiceConfig:
        data = json.loads(_run([*self.base_args(binary), "config", "--format", "json"]))
        services = data.get("services") or {}
        if self.service not in services:
            known = ", ".join(sorted(services)) or "none"
            raise ComposeError(f"service {self.service!r} is not in the Compose project (services: {known})")
        svc = services[self.service]
        image = svc.get("image") or f"{data.get('name', '')}-{self.service}"
        health = svc.get("healthcheck") or {}
        return ServiceConfig(
            project=str(data.get("name", "")),
            working_dir=self.project_directory or (str(Path(self.files[0]).parent) if self.files else None),
            image=str(image),
            privileged=bool(svc.get("privileged", False)),
            network_mode=svc.get("network_mode"),
            has_healthcheck=bool(health) and not health.get("disable", False),
            user=svc.get("user"),
            security_opt=tuple(str(o) for o in svc.get("security_opt") or ()),
            ipc=svc.get("ipc"),
            sysctls=_sysctl_pairs(svc.get("sysctls")),
            devices=_device_targets(svc.get("devices")),
            isolated=_project_isolated(data),
        )


def _project_isolated(data: dict[str, object]) -> bool:
    """No service shares anything with its copy (_isolated), and no volume or network is external
    (shared by every project that names it)."""
    services = data.get("services")
    if not isinstance(services, dict) or not all(_isolated(svc) for svc in services.values()):
        return False
    for key in ("volumes", "networks"):
        declared = data.get(key)
        if isinstance(declared, dict) and any(isinstance(v, dict) and v.get("external") for v in declared.values()):
            return False
    return True


def _isolated(svc: object) -> bool:
    """Whether a service (``compose config --format json``) shares nothing with a copy of itself."""
    if not isinstance(svc, dict):
        return False
    if svc.get("ports") or svc.get("container_name"):
        return False
    for key in ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup"):
        if str(svc.get(key) or "").startswith(("host", "container:", "service:")):
            return False
    volumes = svc.get("volumes") or []
    return all(isinstance(v, dict) and v.get("type") in ("volume", "tmpfs") for v in volumes)


def _device_targets(raw: object) -> tuple[str, ...]:
    """Container paths of ``devices``: mappings (compose v2 config) or ``HOST[:CONTAINER[:PERMS]]``."""
    out: list[str] = []
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, dict):
            out.append(str(item.get("target") or item.get("source") or ""))
        else:
            parts = str(item).split(":")
            out.append(parts[1] if len(parts) > 1 and parts[1].startswith("/") else parts[0])
    return tuple(o for o in out if o)


def _sysctl_pairs(raw: object) -> tuple[tuple[str, str], ...]:
    """``docker compose config --format json`` writes sysctls as a mapping; accept a list too."""
    if isinstance(raw, dict):
        return tuple((str(k), str(v)) for k, v in raw.items())
    if isinstance(raw, list):
        return tuple((k, v) for k, _, v in (str(i).partition("=") for i in raw))
    return ()


@dataclass(frozen=True, slots=True)
class CapabilitySetting:
    """How one run grants capabilities: privileged, or cap_drop ALL + cap_add (CAP_ names)."""

    privileged: bool
    cap_add: frozenset[str]
    no_new_privileges: bool
    security_opt: tuple[str, ...] = ()  # the service's own, kept (e.g. apparmor:unconfined)
    # Proposed devices and sysctls, added to the service's own (Compose merges both by key).
    devices: tuple[str, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    # The recording's stand-in for privileged where privileged cannot start (a bounding set short of
    # a capability): besides the capabilities, access to every device (``devices`` then lists the
    # host's nodes, touched.host_devices) and a writable /proc/sys (systempaths=unconfined), so that
    # the service's opens of devices and writes of sysctls succeed as they would privileged.
    like_privileged: bool = False

    def override_yaml(self, service: str, owner_label: str) -> str:
        # JSON strings are valid YAML scalars; !override/!reset replace the user's lists instead of
        # merging with them (Compose merges cap_add/cap_drop/security_opt by union otherwise).
        svc = json.dumps(service)
        lines = ["services:", f"  {svc}:"]
        if self.privileged:
            lines += ["    privileged: true"]
        else:
            caps = json.dumps([short(c) for c in sort_capabilities(self.cap_add)])
            lines += [
                "    privileged: false",
                '    cap_drop: !override ["ALL"]',
                f"    cap_add: !override {caps}",
            ]
        opts = with_no_new_privileges(self.security_opt) if self.no_new_privileges else self.security_opt
        if self.like_privileged:
            opts = (*opts, "systempaths=unconfined")
            lines += ['    device_cgroup_rules: !override ["a *:* rwm"]']
        lines += [f"    security_opt: !override {json.dumps(list(opts))}"]
        if self.devices:
            lines += [f"    devices: {json.dumps(list(self.devices))}"]
        if self.sysctls:
            lines += [f"    sysctls: {json.dumps(dict(self.sysctls))}"]
        # A fixed container_name would clash with the user's own container.
        lines += ["    container_name: !reset null", "    labels:", f"      {OWNER_LABEL}: {owner_label}"]
        return "\n".join(lines) + "\n"


class ComposeRun:
    """One temporary copy of the service: unique project name, temporary override file.

    ``close()`` removes the containers, networks and volumes of the temporary project and the
    override file. It is safe to call more than once and after a failed start.
    """

    def __init__(self, target: ComposeTarget, setting: CapabilitySetting, binary: str) -> None:
        self.target = target
        self.binary = binary
        self.project = f"{PROJECT_PREFIX}{uuid.uuid4().hex[:10]}"
        self._dir = tempfile.mkdtemp(prefix=OVERRIDE_DIR_PREFIX)
        self.override = os.path.join(self._dir, "override.yaml")
        Path(self.override).write_text(setting.override_yaml(target.service, json.dumps(str(os.getpid()))))
        self.container_id: str | None = None
        self._closed = False

    def _args(self) -> list[str]:
        return self.target.base_args(self.binary, self.project, self.override)

    def create(self) -> str:
        _run([*self._args(), "up", "--no-start", "--pull", "never", self.target.service], timeout=300)
        out = _run([*self._args(), "ps", "-a", "-q", self.target.service]).split()
        if len(out) != 1:
            raise ComposeError(f"expected one container for {self.target.service}, found {len(out)}")
        self.container_id = out[0]
        return out[0]

    def start(self) -> None:
        _run([*self._args(), "start", self.target.service], timeout=300)

    def close(self, stop_timeout: int = 1) -> None:
        """``stop_timeout``: seconds the service gets to stop after SIGTERM before SIGKILL."""
        if self._closed:
            return
        self._closed = True
        try:
            _run([*self._args(), "down", "-v", "--remove-orphans", "-t", str(stop_timeout)], timeout=120)
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def containerd_tasks() -> list[int]:
    """Task ids of every containerd process: shims and runc descend from them."""
    tasks: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "containerd":
                continue
            tasks += [int(t.name) for t in (proc / "task").iterdir()]
        except OSError:
            continue
    return tasks


def process_tasks(pid: int) -> list[int]:
    try:
        return [int(t.name) for t in (Path("/proc") / str(pid) / "task").iterdir()]
    except OSError:
        return []


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # Field 4 after the ")" that ends comm (comm may contain spaces and parentheses).
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(proc.name))
    return kids


def parent_pid(pid: int) -> int | None:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def cleanup_stale_projects() -> list[str]:
    """Remove temporary profile containers whose recorder died (SIGKILL); returns their names."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={OWNER_LABEL}",
            "--format",
            '{{.ID}} {{.Label "' + OWNER_LABEL + '"}} {{.Names}}',
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    removed: list[str] = []
    projects: set[str] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        labels = subprocess.run(
            [
                "docker",
                "inspect",
                "-f",
                '{{index .Config.Labels "com.docker.compose.project"}}\n'
                '{{index .Config.Labels "com.docker.compose.project.config_files"}}',
                parts[0],
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
        project = labels[0].strip() if labels else ""
        # The temporary override file's directory, if the recorder died before removing it.
        for path in labels[1].split(",") if len(labels) > 1 else []:
            folder = Path(path).parent
            if folder.name.startswith(OVERRIDE_DIR_PREFIX) and folder.parent == Path(tempfile.gettempdir()):
                shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["docker", "rm", "-f", "-v", parts[0]], capture_output=True, check=False)
        removed.append(parts[2])
        if project.startswith(PROJECT_PREFIX):
            projects.add(project)
    for project in sorted(projects):
        # The temporary project's networks go too, once none of its containers is left.
        nets = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        left = subprocess.run(
            ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if nets and not left:
            subprocess.run(["docker", "network", "rm", *nets], capture_output=True, check=False)
    return removed


_UNKNOWN_CAP = re.compile(r'unknown capability: "?(CAP_[A-Z_]+)')


def daemon_unknown_capabilities(image: str, wanted: frozenset[str]) -> frozenset[str]:
    """Capabilities dockerd refuses by name (docker 20.10 predates BPF, PERFMON, CHECKPOINT_RESTORE).

    Found by creating (never starting) a throw-away container and dropping each name the daemon
    rejects; the container is removed at once.
    """
    import docker
    from docker.errors import APIError

    client = docker.from_env()
    refused: set[str] = set()
    for _ in range(len(wanted) + 1):
        caps = [c for c in sort_capabilities(wanted - refused)]
        try:
            created = client.api.create_container(
                image,
                command=["true"],
                name=f"leastcap-capprobe-{uuid.uuid4().hex[:10]}",
                labels={OWNER_LABEL: str(os.getpid())},
                host_config=client.api.create_host_config(cap_add=caps, cap_drop=["ALL"]),
            )
        except APIError as exc:
            m = _UNKNOWN_CAP.search(str(exc.explanation or exc))
            if m is None or m.group(1) in refused:
                raise ComposeError(f"dockerd refused a test container: {exc}") from exc
            refused.add(m.group(1))
            continue
        client.api.remove_container(created["Id"], force=True)
        return frozenset(refused)
    raise ComposeError("dockerd kept refusing capabilities")
