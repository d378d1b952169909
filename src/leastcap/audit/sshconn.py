"""``ssh://`` engines through the ``ssh`` binary, as the docker CLI reaches them:
``ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio`` carries the Engine API over the
session's stdin and stdout.

Why not the SDK's own shell-out (``use_ssh_client=True``): docker-py imports paramiko at module
level even when it only runs ``ssh``, so without paramiko (and cryptography, bcrypt, PyNaCl) every
ssh:// host fails with "Install paramiko package to enable ssh:// support". It would also let ssh
prompt on our terminal while several hosts are inspected at once, print ssh's error to our stderr
instead of reporting it as the host's error, and its socket timeout never applies to the pipe it
actually reads.

Here ssh runs in its own session with ``BatchMode=yes`` (keys from ssh-agent or key files without a
passphrase; never a prompt) and ``ConnectTimeout`` set to the API timeout; its stderr is kept and
its last line becomes the host's error; reads wait at most the timeout. ``~/.ssh/config`` and
``/etc/ssh/ssh_config`` apply as for any ssh command. The remote user must be able to run
``docker`` (the docker CLI, 18.09 or later, on the remote PATH).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import select
import subprocess
import tempfile
from typing import Any
from urllib.parse import urlparse

import requests.adapters
import urllib3.connection
import urllib3.connectionpool


class SshFailure(ConnectionError):
    """ssh exited before the engine answered; the message is ssh's (or the remote command's) error."""


def ssh_command(url: str, timeout: float) -> list[str]:
    """The ssh invocation for ``ssh://[user@]host[:port]``."""
    parsed = urlparse(url)
    if parsed.scheme != "ssh" or not parsed.hostname:
        raise ValueError(f"not an ssh:// docker host: {url!r}")
    args = [
        "ssh",  # from PATH, like the docker CLI
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={max(1, math.ceil(timeout))}",
        "-T",
    ]
    if parsed.username:
        args += ["-l", parsed.username]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    # The docker CLI's own connection helper runs exactly this remote command.
    return [*args, "--", parsed.hostname, "docker system dial-stdio"]


class _SshProcess:
    """A socket look-alike over one ``ssh ... docker system dial-stdio`` process."""

    def __init__(self, command: list[str], timeout: float) -> None:
        self._timeout = timeout
        # A file, not a pipe: ssh may write more than a pipe holds while nobody reads it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the process; close() closes it
        # start_new_session: no controlling terminal, so ssh cannot prompt even if BatchMode is
        # overridden by a config file, and a Ctrl-C meant for us does not cut a request in half.
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )

    # -- what http.client and urllib3 call on a socket --------------------------------------
    def settimeout(self, timeout: float | None) -> None:
        if timeout is not None:
            self._timeout = timeout

    def gettimeout(self) -> float:
        return self._timeout

    def fileno(self) -> int:
        # urllib3 polls this before reusing a connection: readable with no request pending means
        # ssh exited (EOF), which is exactly "connection dropped".
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def sendall(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self.failure() or SshFailure("ssh closed its input") from None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        # A new buffered reader per response, as a socket gives; closing it leaves the pipe open
        # for the next request on this connection.
        return io.BufferedReader(_PipeReader(self))

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):  # ssh already gone
                    stream.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    # -- reading with a timeout ---------------------------------------------------------------
    def read_into(self, buffer: memoryview) -> int:
        fd = self.fileno()
        ready, _, _ = select.select([fd], [], [], self._timeout)
        if not ready:
            raise TimeoutError(f"no answer through ssh within {self._timeout:g} seconds")
        data = os.read(fd, len(buffer))
        if not data:
            failure = self.failure()
            if failure is not None:
                raise failure
        buffer[: len(data)] = data
        return len(data)

    def failure(self) -> SshFailure | None:
        """ssh's error once it has exited unsuccessfully (None while it runs or after success)."""
        try:
            code = self.proc.wait(timeout=self._timeout)
        except subprocess.TimeoutExpired:
            return None
        if code == 0:
            return None
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines()]
        lines = [line for line in lines if line]
        return SshFailure(lines[-1] if lines else f"ssh exited with status {code}")


class _PipeReader(io.RawIOBase):
    def __init__(self, owner: _SshProcess) -> None:
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._owner.read_into(memoryview(buffer).cast("B"))


class _SshConnection(urllib3.connection.HTTPConnection):
    def __init__(self, command: list[str], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._command = command
        self._seconds = timeout

    def connect(self) -> None:
        # The ssh process stands in for the socket; http.client only sends and reads through it.
        self.sock = _SshProcess(self._command, self._seconds)


class _SshPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, command: list[str], timeout: float, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._command = command
        self._seconds = timeout

    def _new_conn(self) -> _SshConnection:
        return _SshConnection(self._command, self._seconds)


class SshAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose every connection is one ssh process (reused while it lives)."""

    def __init__(self, url: str, timeout: float, maxsize: int = 2) -> None:
        self._pool = _SshPool(ssh_command(url, timeout), timeout, maxsize)
        super().__init__()

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> urllib3.connectionpool.HTTPConnectionPool:
        return self._pool

    def get_connection(self, url: Any, proxies: Any = None) -> urllib3.connectionpool.HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        super().close()
        self._pool.close()


def api_client(url: str, timeout: float) -> Any:
    """A ``docker.APIClient`` for an ``ssh://`` URL that speaks through :class:`SshAdapter`.

    The SDK is built on a unix URL (it connects lazily, so nothing is opened) with the oldest API
    version it accepts, so that its constructor neither needs paramiko nor asks the engine
    anything; then the ssh adapter is mounted and the engine's API version negotiated through it,
    which is what ``version="auto"`` does.
    """
    import docker
    import docker.constants

    client = docker.APIClient(
        base_url="unix:///leastcap-ssh-placeholder.sock",
        version=docker.constants.MINIMUM_DOCKER_API_VERSION,
        timeout=timeout,
    )
    adapter = SshAdapter(url, timeout)
    client.mount("http+docker://ssh", adapter)
    client.base_url = "http+docker://ssh"
    try:
        client._version = client._retrieve_server_version()
    except BaseException:
        client.close()
        raise
    return client
