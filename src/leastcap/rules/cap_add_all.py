from __future__ import annotations

from collections.abc import Iterator

from leastcap.capabilities import ALL
from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import confidence_for, context
from leastcap.rules.base import Fixable, Rule


class CapAddAll(Rule):
    """Flags ``ALL`` in ``cap_add``, in any spelling.

    ## What it does
    Reports every ``cap_add`` entry that moby reads as the magic value ``ALL`` (``all``, ``All``,
    ...). ``CAP_ALL`` is not that value: moby refuses it as an unknown capability, which the
    ``dangerous-capability`` rule reports.

    ## Why is this bad
    ``cap_add: [ALL]`` grants every capability the daemon has, including ``SYS_ADMIN``,
    ``SYS_MODULE`` and ``SYS_PTRACE``: most of what ``privileged`` grants. ``cap_drop: [ALL]``
    does not undo it: moby checks for ``ALL`` in the add list first (``TweakCapabilities``), so
    ``cap_add: [ALL]`` with ``cap_drop: [ALL]`` still means all capabilities.

    ## Example
    ```yaml
    services:
      vpn:
        image: vpn
        cap_drop: [ALL]
        cap_add: [ALL]
    ```

    ## Fix
    List the capabilities the service needs instead of ``ALL``.
    ```yaml
    services:
      vpn:
        image: vpn
        cap_drop: [ALL]
        cap_add: [NET_ADMIN]
    ```
    """

    slug = "cap-add-all"
    summary = "cap_add grants ALL capabilities"
    severity = Severity.CRITICAL
    fixable = Fixable.YES
    cis = ("5.4",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        drop_all = [d for d in service.cap_drop if d.value.upper() == ALL]
        for entry in service.cap_add:
            if entry.value.upper() != ALL:
                continue
            message = f"service {service.name!r} adds ALL capabilities (cap_add: {entry.value})"
            related = entry.via
            if drop_all:
                message += "; cap_drop: [ALL] does not undo it, moby applies cap_add ALL first"
                related = related + tuple(d.origin.with_note("cap_drop ALL (ignored)") for d in drop_all)
            yield self.finding(
                service,
                project,
                message + context(service, entry),
                entry.origin,
                related,
                confidence=confidence_for(entry),
            )
