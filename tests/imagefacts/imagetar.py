"""Image filesystems as tar bytes, for the pure tests and for ``docker import`` in the live ones."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from leastcap.imagefacts.filecaps import encode


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes | None = None  # None: a directory (or a link, with link)
    mode: int = 0o755
    uid: int = 0
    link: str = ""  # a symbolic link to this target
    caps: tuple[str, ...] = ()  # file capabilities (security.capability), effective


def build_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode = entry.mode
            info.uid = entry.uid
            if entry.link:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                if entry.caps:
                    blob = encode(entry.caps)
                    info.pax_headers = {"SCHILY.xattr.security.capability": blob.decode("utf-8", "surrogateescape")}
                tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56  # a stand-in binary: never run, only its mode matters

ENTRYPOINT = b"""\
#!/bin/sh
set -e
# prepare the data directory for the app user
chown -R app:app /data
for f in /docker-entrypoint.d/*.sh; do . "$f"; done
if [ "$VPN" = on ]; then
  ip link set dev eth0 mtu 1400
  iptables -t nat -A POSTROUTING -j MASQUERADE
  ip addr show
fi
sysctl -w net.ipv4.ip_forward=1
echo 1 > /proc/sys/kernel/randomize_va_space
pinger -c1 127.0.0.1
setcap cap_net_bind_service=+ep /usr/local/bin/server
exec gosu app "$@"
"""

# A service image laid out like Debian's merged /usr: /bin is a link to usr/bin.
SERVICE = [
    Entry("usr", None),
    Entry("usr/bin", None),
    Entry("usr/local", None),
    Entry("usr/local/bin", None),
    Entry("bin", link="usr/bin"),
    Entry("etc", None),
    Entry("data", None),
    Entry("docker-entrypoint.d", None),
    Entry("usr/bin/sh", ELF),
    Entry("usr/bin/su", ELF, mode=0o4755),  # a distribution's setuid tool, never called: not a fact
    Entry("usr/bin/ping", ELF, caps=("NET_RAW",)),  # likewise
    Entry("usr/local/bin/pinger", ELF, caps=("NET_RAW",)),  # called at start-up
    Entry("usr/local/bin/helper", ELF, mode=0o4750),  # the image's own setuid-root helper, not called
    Entry("usr/local/bin/server", ELF),
    Entry("usr/local/bin/gosu", ELF),
    Entry("usr/local/bin/docker-entrypoint.sh", ENTRYPOINT),
    Entry("docker-entrypoint.d/10-tun.sh", b"mknod /dev/net/tun c 10 200\n", mode=0o644),
    Entry("docker-entrypoint.d/20-wg.sh", b"#!/bin/sh\nmodprobe wireguard\nwg-quick up wg0\n"),
    Entry("docker-entrypoint.d/README", b"not a script\n", mode=0o644),
]
