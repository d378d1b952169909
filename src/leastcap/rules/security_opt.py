"""security_opt as compose and the daemon read it (compose pkg/compose/create.go, moby
daemon/daemon_unix.go parseSecurityOpt): ``key=value`` or, deprecated, ``key:value``; the bare
``no-new-privileges``; options are applied in order and the last one of a key wins."""

from __future__ import annotations

from dataclasses import dataclass

from leastcap.model import Located

# Go strconv.ParseBool
_GO_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass(frozen=True, slots=True)
class SecurityOption:
    key: str
    value: str
    entry: Located[str]


def parse(entry: Located[str]) -> SecurityOption:
    text = entry.value
    if text == "no-new-privileges":
        return SecurityOption("no-new-privileges", "true", entry)
    # The daemon splits on "=" when present, else on ":" (so `label:seccomp:unconfined` is the
    # label option `seccomp:unconfined`, and `seccomp=a:b` is the seccomp value `a:b`).
    sep = "=" if "=" in text else ":"
    key, _, value = text.partition(sep)
    return SecurityOption(key, value, entry)


def parse_go_bool(text: str) -> bool | None:
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    return None


def last_of(options: tuple[Located[str], ...], key: str) -> SecurityOption | None:
    """The option of ``key`` that takes effect (the last one), or None."""
    found: SecurityOption | None = None
    for entry in options:
        option = parse(entry)
        if option.key == key:
            found = option
    return found
