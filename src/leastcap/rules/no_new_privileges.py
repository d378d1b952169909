from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import chooses_own_settings, confidence_for, context
from leastcap.rules.base import Fixable, Rule
from leastcap.semantics import last_of, parse_go_bool


class NoNewPrivileges(Rule):
    """Flags a service where ``no-new-privileges`` is not set to true.

    ## What it does
    Reads ``security_opt`` as the daemon does: the bare ``no-new-privileges`` means true, and
    ``no-new-privileges=<bool>``/``no-new-privileges:<bool>`` take Go ``strconv.ParseBool`` values
    (``1``, ``t``, ``true``, ``TRUE``, ``0``, ``f``, ``false``, ...). The last occurrence wins, so a
    later ``no-new-privileges:false`` (often from an override file) switches it off again. Reports
    a service where the option is missing, set to false, or set to a value the daemon refuses
    (``yes``). A missing option is reported where it will be added: at the service's
    ``security_opt:`` key when it has one, else at the service's key.

    ## Why is this bad
    Without ``no_new_privs`` a process can gain privileges by executing a setuid or file-capability
    binary (``su``, ``sudo``, ``ping``, anything an attacker drops with ``chmod u+s``). With it, the
    kernel never raises privileges on ``execve``. It costs nothing for services that do not rely on
    setuid binaries after start.

    ## Example
    ```yaml
    services:
      web:
        image: nginx
        security_opt:
          - no-new-privileges:false
    ```

    ## Fix
    ```yaml
    services:
      web:
        image: nginx
        security_opt:
          - no-new-privileges:true
    ```
    """

    slug = "no-new-privileges"
    summary = "no-new-privileges is not set to true"
    severity = Severity.LOW
    fixable = Fixable.WITH_ALL
    cis = ("5.26",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        if not chooses_own_settings(service):
            return
        option = last_of(service.security_opt, "no-new-privileges")
        if option is None:
            # Point where the option will be added: the security_opt list when there is one.
            yield self.finding(
                service,
                project,
                f"service {service.name!r} does not set security_opt no-new-privileges:true, so setuid "
                "and file-capability binaries can raise privileges" + context(service),
                service.setting_key("security_opt") or service.key,
            )
            return
        entry = option.entry
        value = parse_go_bool(option.value)
        if value is True:
            return
        if value is False:
            what = "switches no-new-privileges off"
        else:
            what = f"sets no-new-privileges to {option.value!r}, which the daemon refuses (it takes true or false)"
        yield self.finding(
            service,
            project,
            f"service {service.name!r} {what} ({entry.value}), so setuid and file-capability binaries "
            "can raise privileges" + context(service, entry),
            entry.origin,
            entry.via,
            confidence=confidence_for(entry),
        )
