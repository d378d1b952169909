"""Which shell scripts an image runs at start-up, and what their commands need.

Reached from the entrypoint and command: a script they name, the scripts those run, source (``.``)
or list through a directory (``/docker-entrypoint.d``, ``run-parts``), and under s6-overlay every
service and init script. Commands come from the project's POSIX shell lexer
(:mod:`leastcap.scripts.shell`); nothing is evaluated. A command word is matched on its basename,
after the words that only wrap another command (``exec``, ``env VAR=x``, ``nohup``...).

What a command needs, and the source of each rule:

* user switching (gosu, su-exec, s6-setuidgid, setpriv --reuid, chpst -u, su, runuser) calls
  setgroups/setgid/setuid as root: SETUID and SETGID; the rest of the command then runs as that
  user, where capabilities from ``cap_add`` do not reach, so it is not searched further;
* chown, chgrp, lsiown (linuxserver's chown wrapper) on files of another owner: CHOWN;
* setcap gives a binary file capabilities: SETFCAP to set them, and the capabilities it names in
  the bounding set; ``no-new-privileges`` makes the kernel ignore them (capabilities(7));
* ip/ifconfig/route/brctl changing links, addresses or routes, tc, nft, wg, wg-quick: NET_ADMIN;
  iptables and friends: NET_ADMIN, and NET_RAW for the legacy backend's raw socket;
* mknod: MKNOD;
* sysctl -w, ``sysctl name=value`` or a write to /proc/sys: /proc/sys is read-only in a container,
  so a namespaced sysctl must be set with ``sysctls:``; any other needs the host;
* modprobe/insmod: a kernel module, which only the host should load (never SYS_MODULE).
"""

from __future__ import annotations

import bisect
import fnmatch
import posixpath
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from leastcap.capabilities import short, try_normalize
from leastcap.imagefacts.files import ImageFiles
from leastcap.imagefacts.model import FactKind, ImageFact
from leastcap.profile.touched import sysctl_refusal
from leastcap.scripts.shell import lex

MAX_SCRIPTS = 200
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
# Words that run the command that follows them.
_WRAPPERS = frozenset({"exec", "command", "nohup", "nice", "time", "builtin", "stdbuf", "ionice", "taskset", "timeout"})
# Shell reserved words that start a line before the command they guard or loop.
_RESERVED = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"})
_INITS = frozenset({"tini", "dumb-init", "catatonit", "docker-init", "tini-static"})
_SWITCHERS = frozenset(
    {"gosu", "su-exec", "s6-setuidgid", "setuidgid", "s6-applyuidgid", "setpriv", "chpst", "su", "runuser"}
)
_CHOWNERS = frozenset({"chown", "chgrp", "lsiown"})
_IPTABLES = frozenset(
    {
        "iptables",
        "ip6tables",
        "iptables-legacy",
        "ip6tables-legacy",
        "iptables-restore",
        "ip6tables-restore",
        "iptables-legacy-restore",
        "ip6tables-legacy-restore",
        "ebtables",
        "arptables",
        "ipset",
    }
)
_NFT_IPTABLES = frozenset({"iptables-nft", "ip6tables-nft", "iptables-nft-restore", "ip6tables-nft-restore"})
# Tools that only exist to change the network: any use with arguments needs NET_ADMIN.
_NETLINK_TOOLS = frozenset({"tc", "nft", "wg", "wg-quick", "tunctl"})
_IP_CHANGES = frozenset(
    {"add", "del", "delete", "set", "change", "replace", "flush", "append", "prepend", "up", "down"}
)
_S6_ROOTS = ("/etc/cont-init.d", "/etc/s6-overlay/s6-rc.d", "/etc/services.d", "/custom-cont-init.d")
_PROC_SYS_WRITE = re.compile(r">>?\s*['\"]?/proc/sys/([A-Za-z0-9_./-]+)")
_MAX_TEXT = 200
# ``echo 1 > /proc/sys/...``: the literal value echoed before the redirection.
_ECHO_VALUE = re.compile(r"\becho\s+(?:-n\s+)?['\"]?([^\s'\"<>|;&$`]+)['\"]?\s*>>?\s*$")
_CAP_CLAUSE = re.compile(r"^([A-Za-z_,]+)[=+-]")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True)
class Start:
    """Where start-up begins: the argv the image runs and its PATH."""

    argv: tuple[str, ...]
    search_path: str


def is_s6_overlay(files: ImageFiles) -> bool:
    return files.exists("/package/admin/s6-overlay") or files.exists("/etc/s6-overlay")


@dataclass(frozen=True, slots=True)
class Startup:
    facts: tuple[ImageFact, ...]
    read: tuple[str, ...]  # scripts read, in the order start-up reaches them
    called: frozenset[str]  # resolved paths of every command those scripts run
    limits: tuple[str, ...]


def analyse_startup(files: ImageFiles, start: Start) -> Startup:
    """The facts of every script start-up reaches."""
    walk = _Walk(files, start.search_path)
    walk.argv(start.argv, "", 0, " ".join(start.argv)[:_MAX_TEXT])
    if start.argv and posixpath.basename(start.argv[0]) == "init" and is_s6_overlay(files):
        for root in _S6_ROOTS:
            for path in files.scripts_in(root):
                walk.enqueue(path)
    walk.run()
    return Startup(tuple(walk.facts), tuple(walk.read), frozenset(walk.called), tuple(walk.limits))


class _Walk:
    def __init__(self, files: ImageFiles, search_path: str) -> None:
        self.files = files
        self.search_path = search_path
        self.queue: deque[str] = deque()
        self.seen: set[str] = set()
        self.read: list[str] = []
        self.facts: list[ImageFact] = []
        self.limits: list[str] = []
        self.called: set[str] = set()  # resolved paths of every command run

    def enqueue(self, path: str) -> None:
        if path in self.seen or path not in self.files.scripts:
            return
        if len(self.seen) >= MAX_SCRIPTS:
            if not self.limits:
                self.limits.append(f"more than {MAX_SCRIPTS} start-up scripts; the rest not read")
            return
        self.seen.add(path)
        self.queue.append(path)

    def run(self) -> None:
        while self.queue:
            path = self.queue.popleft()
            self.read.append(path)
            self.script(path, self.files.scripts[path])

    def script(self, path: str, text: str) -> None:
        first = len(self.facts)
        # Lines as the shell (and _line_starts) count them: "\n" only, never str.splitlines()'s
        # form feeds and Unicode separators, so a fact's line and its text stay the same line.
        lines = text.split("\n")
        starts = _line_starts(text)
        for command in lex(text):
            words = command.words
            if not words:
                continue
            line = _line_of(starts, words[0].start)
            self.argv(tuple(w.value for w in words), path, line, _text(lines, line))
        # Redirections are not command words: writes to /proc/sys are found on the line itself.
        for number, content in enumerate(lines, start=1):
            for match in _PROC_SYS_WRITE.finditer(content):
                name = match.group(1).strip("/").replace("/", ".")
                echoed = _ECHO_VALUE.search(content[: match.start() + 1])
                value = echoed.group(1) if echoed else ""
                self.facts.append(_sysctl_fact(name, path, number, content.strip()[:_MAX_TEXT], value))
        self.facts[first:] = sorted(self.facts[first:], key=lambda f: f.line)

    def argv(self, argv: Sequence[str], path: str, line: int, text: str) -> None:
        """Judge one command (and, through wrappers and shells, the command it runs)."""
        args = list(_unwrap(argv))
        if not args:
            return
        name = posixpath.basename(args[0])
        resolved = self.files.which(args[0], self.search_path)
        if resolved is not None:
            self.called.add(resolved)
            if resolved in self.files.scripts:
                self.enqueue(resolved)
        if name in _SHELLS:
            self.shell(args, path, line, text)
            return
        if name in {".", "source"} and len(args) > 1:
            target = self.files.resolve(args[1])
            if target is not None:
                self.enqueue(target)
            return
        if name == "run-parts":
            for arg in args[1:]:
                if arg.startswith("/"):
                    for script in self.files.scripts_in(arg):
                        self.enqueue(script)
        for arg in args[1:]:
            if arg.startswith("/"):
                self.mentioned(arg)
        self.facts.extend(_command_facts(name, args, path, line, text))

    def mentioned(self, arg: str) -> None:
        """A path a command names: a script runs (or is sourced), a directory or glob of scripts
        is usually looped over (``for f in /docker-entrypoint.d/*.sh``)."""
        if any(ch in arg for ch in "*?["):
            directory, pattern = posixpath.split(arg)
            for script in self.files.scripts_in(directory):
                if posixpath.dirname(script) == self.files.resolve(directory) and fnmatch.fnmatchcase(
                    posixpath.basename(script), pattern
                ):
                    self.enqueue(script)
            return
        target = self.files.resolve(arg)
        if target is None:
            return
        if target in self.files.scripts:
            self.enqueue(target)
        else:
            for script in self.files.scripts_in(target):
                self.enqueue(script)

    def shell(self, args: list[str], path: str, line: int, text: str) -> None:
        rest = args[1:]
        if "-c" in rest:
            index = rest.index("-c")
            if index + 1 < len(rest):
                inline = rest[index + 1]
                for command in lex(inline):
                    if command.words:
                        self.argv(tuple(w.value for w in command.words), path, line, text or inline[:_MAX_TEXT])
            return
        script = next((a for a in rest if not a.startswith("-")), None)
        if script is not None:
            target = self.files.which(script, self.search_path) if "/" not in script else self.files.resolve(script)
            if target is not None:
                self.enqueue(target)


def _unwrap(argv: Sequence[str]) -> Iterator[str]:
    """The command a line really runs: past assignments, wrappers, ``env`` and init shims."""
    i = 0
    while i < len(argv):
        word = argv[i]
        base = posixpath.basename(word)
        if _ASSIGNMENT.match(word) or word in _RESERVED:
            i += 1
        elif base in _WRAPPERS or base in _INITS:
            i += 1
            while i < len(argv) and argv[i].startswith("-"):
                i += 1  # the wrapper's own options (tini --, timeout -s KILL is rare enough)
        elif base == "env":
            i += 1
            while i < len(argv) and (argv[i].startswith("-") or "=" in argv[i]):
                i += 1
        elif base == "with-contenv":
            i += 1
        else:
            break
    yield from argv[i:]


def _command_facts(name: str, args: list[str], path: str, line: int, text: str) -> Iterator[ImageFact]:
    def fact(
        kind: FactKind, caps: tuple[str, ...], *, breaks_nnp: bool = False, needs_host: bool = False, note: str = ""
    ) -> ImageFact:
        return ImageFact(kind, path, line, text, caps, breaks_nnp=breaks_nnp, needs_host=needs_host, note=note)

    rest = args[1:]
    if name in _SWITCHERS and _switches_user(name, rest):
        yield fact(FactKind.USER_SWITCH, ("SETUID", "SETGID"))
    elif name in _CHOWNERS:
        yield fact(FactKind.CHOWN, ("CHOWN",))
    elif name == "setcap":
        caps = tuple(dict.fromkeys(c for arg in rest for c in _setcap_capabilities(arg)))
        yield fact(
            FactKind.SETCAP,
            ("SETFCAP", *caps),
            breaks_nnp=True,
            note="no-new-privileges makes the kernel ignore the file capabilities it sets",
        )
    elif _changes_network(name, rest):
        yield fact(FactKind.NETWORK, ("NET_ADMIN",))
    elif name in _IPTABLES:
        yield fact(
            FactKind.NETWORK,
            ("NET_ADMIN", "NET_RAW"),
            note="the legacy iptables backend opens a raw socket (NET_RAW); the nft backend needs only NET_ADMIN",
        )
    elif name == "mknod":
        yield fact(FactKind.MKNOD, ("MKNOD",))
    elif name == "sysctl":
        for arg in rest:
            if "=" in arg and not arg.startswith("-"):
                name, value = arg.split("=", 1)
                yield _sysctl_fact(name, path, line, text, value)
    elif name in {"modprobe", "insmod"} and rest:
        yield fact(
            FactKind.MODULE,
            (),
            needs_host=True,
            note="loads a kernel module: load it on the host; SYS_MODULE would let the container load any module",
        )


def _switches_user(name: str, rest: list[str]) -> bool:
    if name == "setpriv":
        return any(a.startswith(("--reuid", "--regid", "--init-groups", "--clear-groups", "--groups")) for a in rest)
    if name == "chpst":
        return any(a.startswith(("-u", "-U")) for a in rest)
    if name in {"su", "runuser"}:
        return any(not a.startswith("-") for a in rest)
    return bool(rest)


def _changes_network(name: str, rest: list[str]) -> bool:
    """True for a command that changes links, addresses, routes, filters or tunnels."""
    if name in _NETLINK_TOOLS or name in _NFT_IPTABLES:
        return bool(rest)
    if name == "ifconfig":
        return len(rest) >= 2
    if name in {"ip", "route", "bridge"}:
        return any(a in _IP_CHANGES for a in rest)
    return name == "brctl" and bool(rest)


def _setcap_capabilities(arg: str) -> Iterator[str]:
    """``cap_net_raw,cap_net_admin+eip`` or ``cap_net_bind_service=+ep`` -> NET_RAW, NET_ADMIN...
    (cap_from_text(3): a capability list, then an operator = + or -, then flags)."""
    match = _CAP_CLAUSE.match(arg)
    if match is None:
        return
    for part in match.group(1).split(","):
        normal = try_normalize(part)
        if normal is not None and normal != "ALL":
            yield short(normal)


def _sysctl_fact(name: str, path: str, line: int, text: str, value: str = "") -> ImageFact:
    refusal = sysctl_refusal(name)
    note = refusal or f"/proc/sys is read-only in a container: set it with sysctls: {name}"
    literal = value if value and not any(ch in value for ch in "$`*?") else ""
    return ImageFact(
        FactKind.SYSCTL, path, line, text, (), sysctl=name, value=literal, needs_host=refusal is not None, note=note
    )


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def _line_of(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset)


def _text(lines: list[str], line: int) -> str:
    return lines[line - 1].strip()[:_MAX_TEXT] if 0 < line <= len(lines) else ""
