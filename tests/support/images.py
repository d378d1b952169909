"""Images for tests, built locally from the host's static busybox (no registry is reachable).

``busybox_image()`` returns the tag of an image whose rootfs is /bin/busybox plus its applet links.
Extra files can be layered on with ``derived_image``.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
BASE_TAG = "leastcap-test/busybox:latest"


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a and a != "busybox"]


def _rootfs_tar(extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in (
            "bin",
            "sbin",
            "usr",
            "usr/bin",
            "usr/sbin",
            "etc",
            "tmp",
            "proc",
            "sys",
            "dev",
            "root",
            "var",
            "run",
        ):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in _applets():
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        for name, text in {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return buf.getvalue()


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0


@functools.cache
def busybox_image() -> str:
    """Build (once per machine) and return the busybox test image tag."""
    if not image_exists(BASE_TAG):
        subprocess.run(
            ["docker", "import", "-c", 'CMD ["/bin/sh"]', "-", BASE_TAG],
            input=_rootfs_tar(),
            check=True,
            capture_output=True,
        )
    return BASE_TAG


def rootfs_image(tag: str, extra: Callable[[tarfile.TarFile], None]) -> str:
    """The busybox rootfs plus what ``extra`` adds to its tar, imported as one layer (rebuilt each
    call). A PAX tar: ``SCHILY.xattr.*`` records become the files' xattrs (file capabilities)."""
    subprocess.run(
        ["docker", "import", "-c", 'CMD ["/bin/sh"]', "-", tag],
        input=_rootfs_tar(extra),
        check=True,
        capture_output=True,
    )
    return tag


def derived_image(tag: str, dockerfile_lines: list[str], files: dict[str, bytes] | None = None) -> str:
    """``FROM`` the busybox image plus ``dockerfile_lines``, built with the classic builder."""
    base = busybox_image()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = ("FROM " + base + "\n" + "\n".join(dockerfile_lines) + "\n").encode()
        for name, data in {"Dockerfile": dockerfile, **(files or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"], input=context.getvalue(), check=True, capture_output=True, env=env
    )
    return tag
