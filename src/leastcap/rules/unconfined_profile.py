from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules.base import Rule
from leastcap.semantics import SecurityOption, last_of, parse_security_opt

_WHAT = {
    "seccomp": "switches off the seccomp filter: every syscall the capabilities allow is reachable "
    "(mount, unshare, bpf, keyctl, ...)",
    "apparmor": "switches off AppArmor, the profile that denies mount and writes to /proc and /sys",
    "label": "switches off SELinux separation: the container's processes run unconfined and can "
    "use files of other containers and the host that mounts expose",
    "systempaths": "unmasks /proc and /sys (kcore, keys, sysrq-trigger, /proc/sys writable)",
}


class UnconfinedProfile(Rule):
    """Flags security_opt entries that switch off seccomp, AppArmor, SELinux or path masking.

    ## What it does
    Reads ``security_opt`` as compose and the daemon do and reports
    ``seccomp=unconfined``/``seccomp:unconfined``, ``apparmor=unconfined``/``apparmor:unconfined``,
    ``label=disable``/``label:disable`` and ``systempaths=unconfined``. Seccomp and AppArmor
    options are applied in order and the last one wins, so ``seccomp=unconfined`` followed by
    ``seccomp=profile.json`` is not reported. Not reported, because they do not unconfine anything:
    ``label:seccomp:unconfined`` (an SELinux label option named ``seccomp:unconfined``; seccomp stays
    on) and ``systempaths:unconfined`` (compose only recognises the ``=`` form; the daemon refuses
    the colon form, so the container never starts).

    ## Why is this bad
    Seccomp, AppArmor/SELinux and the masked ``/proc``/``/sys`` paths are the layers that stop a
    root process with capabilities from reaching the host kernel's most dangerous interfaces.
    Several container escapes (cgroup release_agent, mounting host filesystems) are blocked by them
    even when a capability such as ``SYS_ADMIN`` was granted.

    ## Example
    ```yaml
    services:
      tracer:
        image: tracer
        security_opt:
          - seccomp=unconfined
          - apparmor:unconfined
    ```

    ## Fix
    Keep the default profiles. If one syscall is missing, ship a custom seccomp profile that
    allows just it (``seccomp=./seccomp.json``); for AppArmor, load a profile that allows the
    needed operation.
    ```yaml
    services:
      tracer:
        image: tracer
        security_opt:
          - seccomp=./tracer-seccomp.json
    ```
    """

    slug = "unconfined-profile"
    summary = "seccomp, AppArmor, SELinux or path masking is switched off"
    severity = Severity.HIGH
    cis = ("5.2", "5.3", "5.22")

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        hits: list[SecurityOption] = []
        for key in ("seccomp", "apparmor"):
            option = last_of(service.security_opt, key)
            if option is not None and option.value == "unconfined":
                hits.append(option)
        for entry in service.security_opt:
            option = parse_security_opt(entry)
            # compose removes exactly `systempaths=unconfined` and unmasks everything; the colon
            # form reaches the daemon, which refuses it.
            label_off = option.key == "label" and option.value == "disable"
            if label_off or entry.value == "systempaths=unconfined":
                hits.append(option)
        for option in sorted(hits, key=lambda o: (o.entry.origin, o.key)):
            entry = option.entry
            yield self.finding(
                service,
                project,
                f"service {service.name!r} has security_opt {entry.value}, which {_WHAT[option.key]}"
                + context(service, entry),
                entry.origin,
                entry.via,
                confidence=confidence_for(entry),
                facts=(("option", option.key),),
            )
