"""The programs the harness measures: Debian package, how the service runs, and the probe that proves it works.

A probe runs inside the service's container and must exercise what the program is for (a DNS
answer, an HTTP response, an SSH login, a captured packet), not merely that a process is alive.
Probes use only what the image has (bash's ``/dev/tcp``, the program's own client) plus the tools
named in ``packages``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    title: str
    package: str  # the Debian package that ships the program
    command: tuple[str, ...]  # the Compose service's command (exec form)
    probe: str  # a sh command run inside the container; exit 0 = the program works
    proves: str
    family: str = ""  # the image knowledge family whose software this is
    extra_packages: tuple[str, ...] = ()  # tools the probe or the command needs
    duration: str = "5s"
    # Capabilities the program needs without any capability check leastcap could see, given to
    # --minimize-from so minimisation must show each is needed; ``note`` says why.
    minimize_from: tuple[str, ...] = ()
    # "exercised" where the functional rule would keep the program working with less isolation
    # (workers left running as root when their setuid is denied); None: leastcap's default rule.
    rule: str | None = None
    note: str = ""
    # Where a commonly cited capability list is wrong for this build: (what and why, the list's URL).
    differs: tuple[tuple[str, str], ...] = ()

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.package, *self.extra_packages)

    @property
    def tag(self) -> str:
        return f"leastcap-measure/{self.name}:latest"


def _bash(script: str, seconds: int = 5) -> str:
    return f"timeout {seconds} bash -c {shlex.quote(script)}"


def _http(port: int, path: str = "/", *, proxy_url: str = "") -> str:
    target = proxy_url or path
    return _bash(
        f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {target} HTTP/1.0\\r\\n\\r\\n' >&3"
        " && head -n1 <&3 | grep -q '^HTTP/1\\.[01] 200 '"
    )


def _banner(port: int, pattern: str) -> str:
    return _bash(f"exec 3<>/dev/tcp/127.0.0.1/{port} && head -n1 <&3 | grep -q {shlex.quote(pattern)}")


def _dig(name: str, answer: str) -> str:
    return f"dig +short +time=2 +tries=1 @127.0.0.1 {name} A | grep -qx {answer}"


def _sh(script: str) -> tuple[str, ...]:
    return ("sh", "-c", script)


PROGRAMS: tuple[Program, ...] = (
    Program(
        name="nginx",
        title="nginx (Debian package), master as root, workers as www-data",
        package="nginx",
        family="nginx",
        command=("nginx", "-g", "daemon off;"),
        probe=_http(80),
        proves="an HTTP 200 response for / on port 80",
        differs=(
            (
                "The set cited for the official image (CHOWN, SETGID, SETUID) lacks DAC_OVERRIDE for Debian's"
                " package: its postinst creates /var/log/nginx/access.log and error.log as www-data:adm 0640,"
                " and the root master opens them for writing (without DAC_OVERRIDE: open() error.log failed"
                " (13: Permission denied), exit 1). The official image links its logs to stdout and stderr.",
                "https://github.com/nginx/docker-nginx/issues/524",
            ),
        ),
    ),
    Program(
        name="dnsmasq",
        title="dnsmasq (Debian package) as a DNS server, dropping to user dnsmasq",
        package="dnsmasq",
        extra_packages=("bind9-dnsutils",),
        command=(
            "dnsmasq",
            "--keep-in-foreground",
            "--log-facility=-",
            "--no-resolv",
            "--address=/probe.test/192.0.2.1",
        ),
        probe=_dig("probe.test", "192.0.2.1"),
        proves="a DNS answer (probe.test A 192.0.2.1) from dnsmasq on 127.0.0.1:53",
    ),
    Program(
        name="openssh-server",
        title="OpenSSH server (Debian package), privilege separation, key login with a pty",
        package="openssh-server",
        extra_packages=("openssh-client",),
        command=_sh(
            "mkdir -p /run/sshd /root/.ssh && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519"
            " && cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys && exec /usr/sbin/sshd -D -e"
        ),
        probe="timeout 8 ssh -tt -i /root/.ssh/id_ed25519 -o StrictHostKeyChecking=no"
        " -o UserKnownHostsFile=/dev/null -o BatchMode=yes root@127.0.0.1 'tty && echo logged-in' | grep -q logged-in",
        proves="an SSH public-key login of root with a pty that runs a command",
    ),
    Program(
        name="bind9",
        title="BIND 9 named (Debian package), running as user bind",
        package="bind9",
        extra_packages=("bind9-dnsutils",),
        command=("named", "-g", "-u", "bind"),
        probe=_dig("localhost", "127.0.0.1"),
        proves="a DNS answer (localhost A 127.0.0.1, the default zone) from named on 127.0.0.1:53",
    ),
    Program(
        name="squid",
        title="Squid proxy (Debian package), default configuration",
        package="squid",
        command=("squid", "-N", "-d1"),
        rule="exercised",
        note="Measured with the strict rule (--keep-exercised): with the functional rule SETGID is left out,"
        " since squid logs 'ALERT: setgid: (1) Operation not permitted' and keeps serving, but as group root."
        " The strict rule keeps the setuid-root helper /usr/lib/squid/pinger working (its NET_RAW), so the"
        " set is verified without no-new-privileges; with no-new-privileges pinger gains nothing, its ICMP"
        " socket is denied and squid serves without it (NET_RAW then unused).",
        probe=_http(3128, proxy_url="cache_object://localhost/info"),
        proves="an HTTP 200 response from squid's cache manager (cache_object://localhost/info) on port 3128",
    ),
    Program(
        name="haproxy",
        title="HAProxy (Debian package), Debian's global section (chroot, user haproxy)",
        package="haproxy",
        command=_sh(
            "mkdir -p /run/haproxy && printf 'frontend probe\\n  bind :80\\n  http-request return status 200\\n'"
            " >> /etc/haproxy/haproxy.cfg && exec haproxy -db -f /etc/haproxy/haproxy.cfg"
        ),
        probe=_http(80),
        proves="an HTTP 200 response from an haproxy frontend on port 80",
    ),
    Program(
        name="lighttpd",
        title="lighttpd (Debian package), default configuration, serving as www-data",
        package="lighttpd",
        command=_sh("echo ok > /var/www/html/index.html && exec lighttpd -D -f /etc/lighttpd/lighttpd.conf"),
        probe=_http(80),
        proves="an HTTP 200 response for / on port 80",
    ),
    Program(
        name="tcpdump",
        title="tcpdump (Debian package) capturing on lo, dropping to user tcpdump",
        package="tcpdump",
        command=_sh("exec tcpdump -i lo -n -l udp port 9 > /tmp/captured"),
        probe=_bash(
            "echo probe > /dev/udp/127.0.0.1/9; sleep 0.5; grep -q '127.0.0.1.[0-9]* > 127.0.0.1.9: UDP' /tmp/captured"
        ),
        proves="a UDP packet sent to 127.0.0.1:9 is in tcpdump's output",
    ),
    Program(
        name="postfix",
        title="Postfix (Debian package) in the foreground, chrooted smtpd",
        package="postfix",
        command=("postfix", "start-fg"),
        probe=_banner(25, "^220 .*ESMTP Postfix"),
        proves="the SMTP greeting (220 ... ESMTP Postfix) on port 25",
    ),
    Program(
        name="chrony",
        title="chronyd (Debian package) with -x: never touches the clock",
        package="chrony",
        family="chrony",
        command=("chronyd", "-d", "-x"),
        minimize_from=("NET_BIND_SERVICE",),
        note="chronyd keeps NET_BIND_SERVICE across its switch to user _chrony with capset(2), which makes no"
        " capability check (the kernel only checks that the new sets are within the permitted one), so no"
        " recording shows it; the harness starts minimising from it (--minimize-from NET_BIND_SERVICE), and"
        " without it chronyd exits with 'Fatal error : cap_set_proc() failed'.",
        probe="chronyc -n tracking | grep -q '^Reference ID'",
        proves="chronyc gets chronyd's tracking report over its command socket",
    ),
    Program(
        name="openvpn",
        title="OpenVPN (Debian package), point-to-point with a static key on tun0",
        package="openvpn",
        extra_packages=("iproute2",),
        family="openvpn",
        command=_sh(
            "openvpn --genkey secret /tmp/static.key && exec openvpn --dev tun0 --ifconfig 10.8.0.1 10.8.0.2"
            " --secret /tmp/static.key --cipher AES-256-CBC --verb 3"
        ),
        probe="ip -o addr show dev tun0 | grep -q 'inet 10.8.0.1 '",
        proves="tun0 exists with the address 10.8.0.1 that openvpn configured",
    ),
    Program(
        name="nftables",
        title="nft (Debian nftables) loading Debian's /etc/nftables.conf in the container's namespace",
        package="nftables",
        command=_sh("nft -f /etc/nftables.conf && exec sleep infinity"),
        probe="nft list chain inet filter input | grep -q 'hook input'",
        proves="the ruleset nft loaded is listed back from the container's network namespace",
    ),
    Program(
        name="iptables",
        title="iptables (Debian package, nf_tables backend) adding a rule in the container's namespace",
        package="iptables",
        command=_sh("iptables -A INPUT -p udp --dport 9 -j ACCEPT && exec sleep infinity"),
        probe="iptables -S INPUT | grep -q -- '--dport 9 -j ACCEPT'",
        proves="the rule iptables added is listed back from the container's network namespace",
    ),
    Program(
        name="unbound",
        title="Unbound (Debian package) answering local data",
        package="unbound",
        extra_packages=("bind9-dnsutils",),
        command=_sh(
            "rm -f /etc/unbound/unbound.conf.d/root-auto-trust-anchor-file.conf"
            " && printf 'server:\\n  interface: 127.0.0.1\\n  local-data: \"probe.test. A 192.0.2.1\"\\n'"
            " > /etc/unbound/unbound.conf.d/probe.conf && exec unbound -d"
        ),
        probe=_dig("probe.test", "192.0.2.1"),
        proves="a DNS answer (probe.test A 192.0.2.1) from unbound on 127.0.0.1:53",
    ),
    Program(
        name="apache2",
        title="Apache httpd (Debian package), workers as www-data",
        package="apache2",
        command=("apache2ctl", "-D", "FOREGROUND"),
        rule="exercised",
        note="Measured with the strict rule (--keep-exercised): with the functional rule only CHOWN is kept,"
        " since the workers' setgid is denied and they keep serving, but as root.",
        probe=_http(80),
        proves="an HTTP 200 response for / (Debian's default page) on port 80",
    ),
)

BY_NAME = {p.name: p for p in PROGRAMS}
