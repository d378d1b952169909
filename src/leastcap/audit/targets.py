"""Which Docker engines to audit: ``--host``, ``--context``, ``DOCKER_HOST``, the current context.

The precedence is the docker CLI's: explicit ``--host``/``--context`` options, then ``DOCKER_HOST``
(with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``), then ``DOCKER_CONTEXT``, then ``currentContext`` in
the docker config file, then the local socket. Contexts are read from the docker CLI's own store
(``$DOCKER_CONFIG`` or ``~/.docker``: ``contexts/meta/<sha256(name)>/meta.json`` and
``contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem``). The SDK's ``ContextAPI`` is not used for
this: it looks for the store next to ``config.json`` and finds nothing when that file is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
SCHEMES = ("unix", "tcp", "ssh", "http", "https")


class TargetError(ValueError):
    """A host or context that cannot be used at all (a usage error: exit 2 before anything runs)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: str | None
    client_cert: str | None
    client_key: str | None
    verify: bool


@dataclass(frozen=True, slots=True)
class HostTarget:
    """One engine to audit.

    ``label`` is the short name findings use (``local``, ``db1:2376``, ``ops@db1``, a context name);
    ``url`` is what the SDK connects to.
    """

    label: str
    url: str
    tls: TlsFiles | None = None

    @property
    def scheme(self) -> str:
        return urlparse(self.url).scheme

    @property
    def is_local_socket(self) -> bool:
        """A unix socket on this machine: the engine's processes may be visible in our /proc."""
        return self.scheme == "unix"


def host_label(url: str) -> str:
    """The short, stable name of a host in locations: ``local`` for the default socket."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        path = parsed.path or "/var/run/docker.sock"
        return "local" if path in ("/var/run/docker.sock", "/run/docker.sock") else path
    return parsed.netloc or url


def parse_host(url: str) -> HostTarget:
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme not in SCHEMES:
        raise TargetError(f"unsupported docker host {url!r} (expected unix://, tcp://, ssh://, http(s)://)")
    if parsed.scheme == "unix" and not parsed.path:
        url = DEFAULT_SOCKET
    elif parsed.scheme != "unix" and not parsed.hostname:
        raise TargetError(f"docker host {url!r} names no host")
    return HostTarget(label=host_label(url), url=url)


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get("DOCKER_CONFIG")
    if configured:
        return Path(configured)
    return Path(environ.get("HOME") or Path.home()) / ".docker"


def context_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def read_context(name: str, environ: Mapping[str, str]) -> HostTarget:
    """The docker endpoint of a docker CLI context; ``default`` is DOCKER_HOST or the local socket."""
    if name == "default":
        return _from_docker_host(environ) or HostTarget("local", DEFAULT_SOCKET)
    store = docker_config_dir(environ) / "contexts"
    meta_file = store / "meta" / context_id(name) / "meta.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetError(f"docker context {name!r} not found (looked for {meta_file})") from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"docker context {name!r}: cannot read {meta_file}: {exc}") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host")
    if not isinstance(host, str) or not host:
        raise TargetError(f"docker context {name!r} has no docker endpoint")
    base = parse_host(host)
    tls_dir = store / "tls" / context_id(name) / "docker"
    tls: TlsFiles | None = None
    if tls_dir.is_dir():

        def pem(file: str) -> str | None:
            path = tls_dir / file
            return str(path) if path.is_file() else None

        tls = TlsFiles(
            ca_cert=pem("ca.pem"),
            client_cert=pem("cert.pem"),
            client_key=pem("key.pem"),
            verify=not bool(endpoint.get("SkipTLSVerify")),
        )
    return HostTarget(label=name, url=base.url, tls=tls)


def _from_docker_host(environ: Mapping[str, str]) -> HostTarget | None:
    url = environ.get("DOCKER_HOST", "").strip()
    if not url:
        return None
    target = parse_host(url)
    cert_path = environ.get("DOCKER_CERT_PATH") or None
    verify_env = environ.get("DOCKER_TLS_VERIFY")
    verify = verify_env is not None and verify_env != ""
    if not (cert_path or verify):
        return target
    base = Path(cert_path) if cert_path else docker_config_dir(environ)
    tls = TlsFiles(str(base / "ca.pem"), str(base / "cert.pem"), str(base / "key.pem"), verify)
    return HostTarget(target.label, target.url, tls)


def current_context_name(environ: Mapping[str, str]) -> str:
    name = environ.get("DOCKER_CONTEXT", "").strip()
    if name:
        return name
    config = docker_config_dir(environ) / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "default"
    current = data.get("currentContext") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else "default"


def resolve_targets(
    hosts: Sequence[str], contexts: Sequence[str], environ: Mapping[str, str] | None = None
) -> list[HostTarget]:
    """Every engine to audit, deduplicated by URL, in the order given (hosts first, then contexts)."""
    env = os.environ if environ is None else environ
    targets: list[HostTarget] = [parse_host(h) for h in hosts]
    targets += [read_context(c, env) for c in contexts]
    if not targets:
        targets = [_from_docker_host(env) or read_context(current_context_name(env), env)]
    seen: set[str] = set()
    unique: list[HostTarget] = []
    for target in targets:
        if target.url not in seen:
            seen.add(target.url)
            unique.append(target)
    # Two different URLs with the same short label (two contexts on one host are fine, two
    # sockets named alike are not) would make locations ambiguous: fall back to the URL.
    labels = [t.label for t in unique]
    return [HostTarget(t.url, t.url, t.tls) if labels.count(t.label) > 1 else t for t in unique]
