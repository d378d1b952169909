from __future__ import annotations

from collections.abc import Iterator

from leastcap.capabilities import ALL, DOCKER_DEFAULT_CAPABILITIES, short, sort_capabilities, try_normalize
from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import chooses_own_settings, context, is_true
from leastcap.rules.base import Fixable, Rule


class MissingCapDrop(Rule):
    """Flags a service that keeps Docker's default capabilities (no ``cap_drop: [ALL]``).

    ## What it does
    Reports a service without ``cap_drop: [ALL]`` (any spelling of ``ALL``) that still keeps at
    least one of Docker's 14 default capabilities, listing the ones it keeps. The finding points
    at the service's key. Privileged services and services with ``cap_add: [ALL]`` are left to
    ``privileged`` and ``cap-add-all``, which are worse. Dropping every default one by one counts
    as dropping them all.

    ## Why is this bad
    Few workloads need ``CHOWN``, ``DAC_OVERRIDE``, ``FOWNER``, ``SETUID``, ``SETGID``, ``MKNOD``,
    ``NET_RAW``, ``SETFCAP`` and the rest of the default set once they run. An attacker who gets
    code execution uses them: ``NET_RAW`` spoofs traffic on the bridge, ``DAC_OVERRIDE`` reads
    every file, ``MKNOD`` with a permissive device cgroup opens host devices. Dropping all and
    adding back the few needed ones is the least-privilege baseline (CIS Docker Benchmark v1.6.0 5.4).

    ## Example
    ```yaml
    services:
      web:
        image: nginx
    ```

    ## Fix
    Drop everything and add back what the process needs (``leastcap profile`` records it).
    ```yaml
    services:
      web:
        image: nginx
        cap_drop: [ALL]
        cap_add: [CHOWN, SETGID, SETUID]
    ```
    """

    slug = "missing-cap-drop"
    summary = "A service keeps Docker's default capabilities"
    severity = Severity.MEDIUM
    fixable = Fixable.WITH_ALL
    cis = ("5.4",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        if is_true(service.privileged) or any(a.value.upper() == ALL for a in service.cap_add):
            return
        if not chooses_own_settings(service):
            return
        dropped = {try_normalize(d.value) for d in service.cap_drop}
        if ALL in dropped:
            return
        kept = [c for c in sort_capabilities(DOCKER_DEFAULT_CAPABILITIES) if c not in dropped]
        if not kept:
            return
        if service.cap_drop:
            what = f"drops only some capabilities and keeps {len(kept)} of Docker's defaults"
        else:
            what = "has no cap_drop: [ALL] and keeps Docker's default capabilities"
        yield self.finding(
            service,
            project,
            f"service {service.name!r} {what} ({', '.join(short(c) for c in kept)})" + context(service),
            service.key,
            facts=(("kept", ",".join(kept)),),
        )
