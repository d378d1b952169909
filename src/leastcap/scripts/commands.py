"""Recognise container-starting commands among lexed shell commands and parse their flags.

Flags are parsed the way the real CLIs (spf13/pflag) parse them: ``--flag=value`` and
``--flag value``, ``-v value`` and ``-vvalue``, combined booleans (``-it``, ``-itv /x:/y``), and
option parsing stops at the first positional argument (the image, or compose's service), so flags
of the container's own command (``docker run img sh -c '... --privileged'``) are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leastcap.scripts.shell import Command, Word

# Boolean flags (every other flag takes a value). docker run/create from `docker run --help`
# (CLI 28); podman and nerdctl add theirs. Short spellings are mapped to long names below.
_RUN_BOOL = frozenset(
    {
        "detach", "disable-content-trust", "help", "init", "interactive", "no-healthcheck",
        "oom-kill-disable", "privileged", "publish-all", "quiet", "read-only", "rm", "sig-proxy",
        "tty", "use-api-socket",
        # podman / nerdctl
        "env-host", "http-proxy", "no-hosts", "passwd", "read-only-tmpfs", "replace", "rmi",
        "tls-verify", "unsetenv-all", "systemd-always", "help-all",
    }
)  # fmt: skip
_RUN_SHORT = {
    "d": "detach", "i": "interactive", "t": "tty", "P": "publish-all", "q": "quiet",
    "v": "volume", "u": "user", "e": "env", "p": "publish", "w": "workdir", "h": "hostname",
    "l": "label", "m": "memory", "c": "cpu-shares", "a": "attach",
}  # fmt: skip

# `docker compose run` (from its `run --help`): it has no --privileged; its other privilege flags
# are the same as docker run's.
_COMPOSE_RUN_BOOL = frozenset(
    {
        "build", "detach", "dry-run", "interactive", "no-TTY", "no-deps", "quiet", "quiet-build",
        "quiet-pull", "remove-orphans", "rm", "service-ports", "use-aliases", "help",
    }
)  # fmt: skip
_COMPOSE_RUN_SHORT = {
    "d": "detach", "e": "env", "i": "interactive", "l": "label", "T": "no-TTY", "p": "publish",
    "q": "quiet", "P": "service-ports", "u": "user", "v": "volume", "w": "workdir",
}  # fmt: skip
_COMPOSE_GLOBAL_BOOL = frozenset({"all-resources", "compatibility", "dry-run", "verbose", "help"})
_COMPOSE_GLOBAL_SHORT = {"f": "file", "p": "project-name"}

# Global options of docker / podman / nerdctl that take a value (the others are booleans).
_GLOBAL_VALUE = frozenset(
    {
        "host", "context", "config", "log-level", "tlscacert", "tlscert", "tlskey",
        "url", "connection", "root", "runroot", "storage-driver", "storage-opt", "cgroup-manager",
        "module", "identity", "runtime", "tmpdir", "events-backend", "network-cmd-path",
        "namespace", "address", "snapshotter", "data-root", "cni-path", "cni-netconfpath",
        "hosts-dir",
    }
)  # fmt: skip
_GLOBAL_SHORT = {"H": "host", "c": "context", "l": "log-level", "n": "namespace", "a": "address"}

_ENGINES = ("docker", "podman", "nerdctl")
_RESERVED = frozenset({"{", "}", "!", "if", "then", "else", "elif", "do", "while", "until", "time", "[[", "in"})
_SUDO_VALUE = frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "-R"})


@dataclass(frozen=True, slots=True)
class Flag:
    """One parsed option: ``name`` is the long name; ``token`` the word the flag was written in."""

    name: str
    value: Word | None
    token: Word
    # The value's own text when given as ``--flag=value`` (the token is the whole word then).
    inline: str | None = None

    @property
    def text(self) -> str:
        if self.inline is not None:
            return self.inline
        return self.value.value if self.value is not None else ""

    @property
    def variables(self) -> tuple[str, ...]:
        if self.value is not None and self.value is not self.token:
            return self.value.variables
        return self.token.variables if self.inline is not None else ()


@dataclass(frozen=True, slots=True)
class Invocation:
    """A recognised command. ``kind`` is e.g. ``docker-run``, ``podman-create``, ``compose-run``."""

    kind: str
    start: Word  # the command's first word (``sudo`` in ``sudo docker run``): its line is the key line
    first: Word  # the engine's word (``docker``)
    flags: tuple[Flag, ...]
    target: Word | None  # the image, or the compose service
    args: tuple[Word, ...]


def find_invocations(commands: Sequence[Command]) -> list[Invocation]:
    found = []
    for cmd in commands:
        inv = recognise(cmd.words)
        if inv is not None:
            found.append(inv)
    return found


def _basename(word: Word) -> str:
    return word.value.rsplit("/", 1)[-1]


def _is_assignment(value: str) -> bool:
    name, eq, _ = value.partition("=")
    return (
        bool(eq)
        and bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(ch.isalnum() or ch == "_" for ch in name)
    )


def _skip_prefixes(words: Sequence[Word]) -> int:
    """Index of the command name after reserved words, assignments and sudo/env/exec-style wrappers."""
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        v = w.value
        if w.quoted and v in _RESERVED:
            return i
        if v in _RESERVED or _is_assignment(v):
            i += 1
            continue
        base = _basename(w)
        if base in ("sudo", "doas"):
            i += 1
            while i < n and words[i].value.startswith("-") and words[i].value != "--":
                i += 2 if words[i].value in _SUDO_VALUE else 1
            if i < n and words[i].value == "--":
                i += 1
            continue
        if base == "env":
            i += 1
            while i < n and (words[i].value.startswith("-") or _is_assignment(words[i].value)):
                i += 2 if words[i].value in ("-u", "-C", "-S", "--unset", "--chdir") else 1
            continue
        if base == "exec":
            i += 1
            while i < n and words[i].value.startswith("-"):
                i += 2 if words[i].value == "-a" else 1
            continue
        if base in ("command", "nohup", "builtin"):
            i += 1
            while i < n and words[i].value.startswith("-") and base == "command":
                i += 1
            continue
        return i
    return i


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"})


def shell_c_string(words: Sequence[Word]) -> Word | None:
    """The script word of ``sh -c 'SCRIPT'`` / ``sudo bash -ec "SCRIPT"``, or None."""
    lead = 0
    while lead < len(words) and words[lead].value in _RESERVED and not words[lead].quoted:
        lead += 1
    words = words[lead:]
    i = _skip_prefixes(words)
    if i >= len(words) or _basename(words[i]) not in _SHELLS:
        return None
    i += 1
    while i < len(words) and words[i].value.startswith("-") and not words[i].value.startswith("--"):
        if "c" in words[i].value[1:]:
            return words[i + 1] if i + 1 < len(words) else None
        i += 1
    return None


def recognise(words: Sequence[Word]) -> Invocation | None:
    # The command starts after control words (``then``, ``!``): that word's line is the key line.
    lead = 0
    while lead < len(words) and words[lead].value in _RESERVED and not words[lead].quoted:
        lead += 1
    words = words[lead:]
    i = _skip_prefixes(words)
    if i >= len(words) or words[i].dynamic:
        return None
    first = words[i]
    engine = _basename(first)
    i += 1
    if engine == "docker-compose":
        return _compose(words, i, words[0], first, "compose-run")
    if engine not in _ENGINES:
        return None
    i = _skip_options(
        words, i, value_flags=_GLOBAL_VALUE, bool_flags=frozenset(), short=_GLOBAL_SHORT, value_default=False
    )
    if i >= len(words):
        return None
    sub = words[i].value
    i += 1
    if sub == "container" and i < len(words):
        sub = words[i].value
        i += 1
    if sub == "compose":
        kind = "compose-run" if engine == "docker" else f"{engine}-compose-run"
        return _compose(words, i, words[0], first, kind)
    if sub not in ("run", "create"):
        return None
    return parse_run(words, i, start=words[0], first=first, kind=f"{engine}-{sub}")


def _compose(words: Sequence[Word], i: int, start: Word, first: Word, kind: str) -> Invocation | None:
    i = _skip_options(
        words,
        i,
        value_flags=frozenset(),
        bool_flags=_COMPOSE_GLOBAL_BOOL,
        short=_COMPOSE_GLOBAL_SHORT,
        value_default=True,
    )
    if i >= len(words) or words[i].value != "run":
        return None
    return parse_run(
        words, i + 1, start=start, first=first, kind=kind, bools=_COMPOSE_RUN_BOOL, short=_COMPOSE_RUN_SHORT
    )


def _skip_options(
    words: Sequence[Word],
    i: int,
    *,
    value_flags: frozenset[str],
    bool_flags: frozenset[str],
    short: dict[str, str],
    value_default: bool,
) -> int:
    """Skip global options before the subcommand."""
    n = len(words)
    while i < n:
        v = words[i].value
        if v == "--":
            return i + 1
        if not v.startswith("-") or v == "-":
            return i
        if v.startswith("--"):
            name = v[2:]
            if "=" in name:
                i += 1
                continue
        else:
            name = short.get(v[1:2], v[1:2]) if len(v) == 2 else ""
            if len(v) > 2:
                i += 1
                continue
        takes_value = name in value_flags if not value_default else name not in bool_flags
        i += 2 if takes_value else 1
    return i


def parse_run(
    words: Sequence[Word],
    i: int,
    *,
    start: Word,
    first: Word,
    kind: str,
    bools: frozenset[str] = _RUN_BOOL,
    short: dict[str, str] | None = None,
) -> Invocation:
    """Options from ``words[i]`` on, then the image (or compose service) and its arguments."""
    short = _RUN_SHORT if short is None else short
    flags: list[Flag] = []
    n = len(words)
    target: Word | None = None
    while i < n:
        w = words[i]
        v = w.value
        if v == "--":
            i += 1
            break
        if not v.startswith("-") or v == "-":
            break
        if v.startswith("--"):
            name, eq, inline = v[2:].partition("=")
            if eq:
                flags.append(Flag(name, w, w, inline))
                i += 1
            elif name in bools:
                flags.append(Flag(name, None, w))
                i += 1
            else:
                flags.append(Flag(name, words[i + 1] if i + 1 < n else None, w))
                i += 2
            continue
        # A group of short flags: booleans until one that takes a value, which takes the rest.
        k = 1
        i += 1
        while k < len(v):
            name = short.get(v[k], v[k])
            if name in bools:
                flags.append(Flag(name, None, w))
                k += 1
                continue
            rest = v[k + 1 :]
            if rest:
                flags.append(Flag(name, w, w, rest[1:] if rest.startswith("=") and k == 1 else rest))
            else:
                flags.append(Flag(name, words[i] if i < n else None, w))
                i += 1
            break
    if i < n:
        target = words[i]
        i += 1
    return Invocation(kind, start, first, tuple(flags), target, tuple(words[i:]))
