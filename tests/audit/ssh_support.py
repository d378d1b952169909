"""A real sshd on 127.0.0.1 for the ``ssh://`` audit tests, and an ssh client set up to reach it.

The server is ``sshd -D`` with its own config, host key, authorized_keys and pid file in a temp
dir: it listens on 127.0.0.1 only, on a free port, accepts only the temp client key (for root,
whose shell runs ``docker system dial-stdio`` against the local engine) and is stopped afterwards.

The client side touches nothing in ``/root/.ssh``: leastcap runs ``ssh`` from PATH (as the docker
CLI and the SDK do), and ssh takes no environment variable for its config file and reads
``~/.ssh`` from the passwd entry, not ``$HOME``. So the fixture puts a one-line ``ssh`` wrapper
first on PATH that runs the real ``/usr/bin/ssh`` with ``-F <temp ssh_config>`` (the temp key,
a known_hosts holding the temp host key, strict host key checking). Everything else (the ssh
binary, the protocol, sshd, the remote docker CLI, the engine) is the real thing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.components import require

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on (free a moment ago; nobody here binds random ports)."""
    return free_port()


@dataclass(frozen=True)
class LocalSshd:
    port: int
    # The environment for leastcap: PATH starts with the ssh wrapper.
    env: dict[str, str]

    def url(self, user: str = "root") -> str:
        return f"ssh://{user}@127.0.0.1:{self.port}"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def local_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSshd]:
    ssh = shutil.which("ssh")
    require(
        os.path.exists(SSHD) and ssh is not None,
        "OpenSSH server and client (/usr/sbin/sshd, ssh; scripts/setup-components installs them)",
    )
    require(shutil.which("docker") is not None, "the docker CLI (sshd runs `docker system dial-stdio`)")
    assert ssh is not None
    tmp = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"leastcap-test-{key}", "-f", str(tmp / key)],
            check=True,
            capture_output=True,
        )
    (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
    port = free_port()
    (tmp / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\n"
        f"HostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\n"
        f"PidFile {tmp / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        # The temp dir lives under /tmp (world-writable), which StrictModes would refuse.
        "StrictModes no\n"
        "LogLevel VERBOSE\n"
    )
    host_key = (tmp / "host_key.pub").read_text().split()
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (tmp / "ssh_config").write_text(
        "Host 127.0.0.1\n"
        f"  IdentityFile {tmp / 'client_key'}\n"
        "  IdentitiesOnly yes\n"
        "  IdentityAgent none\n"
        f"  UserKnownHostsFile {tmp / 'known_hosts'}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n"
    )
    bindir = tmp / "bin"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {ssh} -F {tmp / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)

    # sshd's privilege separation directory; Debian's init script creates it, we start sshd directly.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    ssh_dir = Path.home() / ".ssh"
    had_ssh_dir = ssh_dir.exists()
    log = (tmp / "sshd.log").open("w")
    # -e: log to stderr (our log file); -D: stay in the foreground, so we own the process.
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sshd did not start: {(tmp / 'sshd.log').read_text()}")
            time.sleep(0.1)
        env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
        yield LocalSshd(port, env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        # The ssh client creates an empty ~/.ssh on first use; leave the home as we found it.
        if not had_ssh_dir and ssh_dir.is_dir() and not any(ssh_dir.iterdir()):
            ssh_dir.rmdir()
