"""Real programs from Debian packages, measured again: each must need exactly its stored capability set.

The images are built once per run (debootstrap --variant=minbase + docker import, two at a time,
one package cache) and reused while their recipe label matches (leastcap.measure.debian). Each test
runs the harness (bench/measure_images.py's code): ``leastcap profile --verify --minimize`` with a
probe inside the container, and compares the minimised set with the set checked by hand and with
the stored knowledge entry (knowledge/measured/<program>.yaml).

How each set was checked by hand, once: the program's image run with ``docker run --cap-drop ALL
--security-opt no-new-privileges`` and the set minus one capability, then its probe (``docker exec``);
the comment beside each set says what broke without which capability (the program's own log, and
the probe or exit code; the stored entry's ``removals`` has the harness's verdict for the same
removal). Sets are measured with the rule on main when they were measured (the entry's ``rule``):
``functional``, the probe decides, so a capability whose removal only causes denials while the
program keeps working is left out and listed in the entry's ``exercised``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leastcap.knowledge.measured import MEASURED_DIR, load_measured_file
from leastcap.measure.debian import BuiltImage, Recipe, build_all, debian_mirror
from leastcap.measure.harness import measure
from leastcap.measure.programs import BY_NAME, PROGRAMS
from support.components import require, require_compose, require_docker, require_tracefs

pytestmark = [pytest.mark.docker, pytest.mark.compose, pytest.mark.tracefs, pytest.mark.slow]

CACHE_DIR = Path("/var/cache/leastcap-measure")

EXPECTED: dict[str, tuple[str, ...]] = {
    # without CHOWN: exit 1, 'chown("/var/lib/nginx/body", 33) failed (1: Operation not permitted)';
    # without DAC_OVERRIDE: exit 1, 'open() "/var/log/nginx/error.log" failed (13: Permission denied)'
    #   (Debian's postinst makes the logs www-data:adm 0640; the official image's list lacks it);
    # without SETGID / SETUID: the workers cannot switch to www-data; the probe times out (124).
    "nginx": ("CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"),
    # without SETGID: exit 5, "failed to change group-id to dip: Operation not permitted";
    # without SETUID: exit 5, "setting capabilities failed: Operation not permitted".
    # CHOWN is exercised, not needed: "chown of PID file /var/run/dnsmasq.pid failed", DNS answers.
    "dnsmasq": ("SETGID", "SETUID"),
    # without AUDIT_WRITE: "Accepted publickey for root", then the pty session is closed: no output;
    # without SETGID: "setgroups: Operation not permitted [preauth]";
    # without SETUID: "setresuid 100: Operation not permitted [preauth]";
    # without SYS_CHROOT: 'chroot("/run/sshd"): Operation not permitted [preauth]'. The probe fails (1).
    "openssh-server": ("AUDIT_WRITE", "SETGID", "SETUID", "SYS_CHROOT"),
    # without SETGID: exit 1, "named: initgroups(): Operation not permitted";
    # without SETUID: exit 1, "named: setuid(): Operation not permitted".
    # SETPCAP is exercised (named's capset), not needed; port 53 needs no NET_BIND_SERVICE (Docker
    # sets net.ipv4.ip_unprivileged_port_start=0).
    "bind9": ("SETGID", "SETUID"),
    # Strict rule, without no-new-privileges (the entry's note says why):
    # without SETUID: exit 139 after "ALERT: setgid: (1) Operation not permitted" (squid crashes);
    # without SETGID: squid logs that ALERT and serves as group root (denied setgid/setgroups x11);
    # without NET_RAW: the setuid-root pinger's ICMP sockets are denied (x2); squid serves without it.
    "squid": ("NET_RAW", "SETGID", "SETUID"),
    # without SETGID: exit 1, "Cannot set gid 101"; without SETUID: exit 1, "Cannot set uid 100";
    # without SYS_CHROOT: exit 1, "Cannot chroot(/var/lib/haproxy)" (Debian's global section).
    "haproxy": ("SETGID", "SETUID", "SYS_CHROOT"),
    # without SETGID: exit 255, "(server.c.1606) setgid(): Operation not permitted";
    # without SETUID: exit 255, "(server.c.1636) setuid(): Operation not permitted".
    # DAC_READ_SEARCH is exercised (a stat by lighttpd is denied), not needed.
    "lighttpd": ("SETGID", "SETUID"),
    # without NET_RAW: exit 1, "lo: You don't have permission to perform this capture on that device
    #   (socket: Operation not permitted)";
    # without SETGID or SETUID: exit 1, "Couldn't change to 'tcpdump' uid=100 gid=101: Operation not
    #   permitted" (Debian's tcpdump drops to user tcpdump after opening the device).
    "tcpdump": ("NET_RAW", "SETGID", "SETUID"),
    # without CHOWN: exit 1, "chown: changing ownership of '/var/spool/postfix/hold': Operation not
    #   permitted" (postfix-script's set-permissions);
    # without DAC_READ_SEARCH: "find: '/var/spool/postfix/private': Permission denied", no greeting (124);
    # without SETGID / SETUID: exit 1, "postsuper: fatal: setgid(102)" / "setuid(100): Operation not permitted";
    # without SYS_CHROOT: the chrooted smtpd cannot start, no greeting (124).
    # FOWNER is exercised (chmod of hold/trace is denied), not needed.
    "postfix": ("CHOWN", "DAC_READ_SEARCH", "SETGID", "SETUID", "SYS_CHROOT"),
    # without NET_ADMIN: exit 1, "ERROR: Cannot ioctl TUNSETIFF tun0: Operation not permitted";
    # and the device /dev/net/tun (the entry's devices): without it, "Cannot open TUN/TAP dev
    # /dev/net/tun: No such file or directory". (wireguard-tools cannot be measured: this kernel has
    # no WireGuard, CONFIG_WIREGUARD is not set and modules cannot be loaded.)
    "openvpn": ("NET_ADMIN",),
    # without NET_ADMIN: exit 1, "/etc/nftables.conf:5:1-2: Error: Could not process rule: Operation
    #   not permitted" (the container's own network namespace; nothing on the host changes).
    "nftables": ("NET_ADMIN",),
    # without NET_ADMIN: exit 4, "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id:
    #   Permission denied (you must be root)".
    "iptables": ("NET_ADMIN",),
    # without SETGID: exit 1, "fatal error: unable to set group id of unbound: Operation not permitted";
    # without SETUID: exit 1, "fatal error: unable to set user id of unbound: Operation not permitted".
    # CHOWN is exercised (unbound's chown is denied), not needed.
    "unbound": ("SETGID", "SETUID"),
    # without CHOWN: exit 1, "Could not change ownership of /var/log/chrony : Operation not permitted";
    # without DAC_OVERRIDE: exit 1, "Could not open /run/chrony/chronyd.pid : Permission denied";
    # without NET_BIND_SERVICE: exit 1, "Fatal error : cap_set_proc() failed" (no recording shows
    #   it: see the entry's note; the harness starts minimising from it);
    # without SETGID / SETUID: exit 1, "setgroups() failed" / "setuid(100) failed : Operation not permitted".
    # -x: chronyd never touches the host clock, so SYS_TIME is neither checked nor needed.
    "chrony": ("CHOWN", "DAC_OVERRIDE", "NET_BIND_SERVICE", "SETGID", "SETUID"),
    # Strict rule (the entry's note says why):
    # without CHOWN: exit 1, "chown: changing ownership of '/var/run/apache2/socks.*': Operation not permitted";
    # without SETGID: the workers' setgid is denied (x2) and they serve as group root;
    # without SETUID: exit 0 after "AH02162: setuid: unable to change to uid: 33 ... Apache is exiting!".
    "apache2": ("CHOWN", "SETGID", "SETUID"),
}


@pytest.fixture(scope="session")
def images() -> dict[str, BuiltImage]:
    require_docker()
    require_compose()
    require_tracefs()
    require(shutil.which("debootstrap") is not None, "debootstrap (scripts/setup-components installs it)")
    mirror = debian_mirror()
    built = build_all([Recipe(p.tag, p.packages, mirror=mirror) for p in PROGRAMS], CACHE_DIR, jobs=2)
    return {p.name: image for p, image in zip(PROGRAMS, built, strict=True)}


def test_every_measured_program_is_pinned_here() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in PROGRAMS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_program_needs_exactly_its_measured_set(name: str, images: dict[str, BuiltImage]) -> None:
    program = BY_NAME[name]
    stored = load_measured_file(MEASURED_DIR / f"{name}.yaml")
    result = measure(program, images[name], rule=stored.rule).entry["result"]
    assert tuple(result["cap_add"]) == EXPECTED[name] == stored.cap_add
    assert (tuple(result["devices"]), tuple(sorted(result["sysctls"].items()))) == (stored.devices, stored.sysctls)
    assert result["no_new_privileges"] == stored.no_new_privileges
    # Each kept capability was shown to be needed: a run without it (and with every other) failed.
    assert [r["capability"] for r in result["removals"]] == list(EXPECTED[name])
