from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Project, Service, Severity
from leastcap.rules._common import confidence_for, context, fact, is_true
from leastcap.rules.base import Fixable, Rule

_EFFECT = "all capabilities, every host device, no seccomp or AppArmor, writable /sys and cgroups"


class Privileged(Rule):
    """Flags ``privileged: true`` on a service, ``build.privileged: true`` and privileged lifecycle hooks.

    ## What it does
    Reports a service whose container runs privileged, a build that runs privileged, and a
    ``post_start``/``pre_stop``/``pre_start`` hook with ``privileged: true``. The value is judged
    after interpolation and Compose's merge rules (``yes``/``on``/``"${PRIV:-true}"`` count); when
    it comes from a variable the finding says so and its confidence is medium.

    ## Why is this bad
    A privileged container gets every capability (``cap_drop`` is ignored), every host device
    node with an allow-all device cgroup, no seccomp filter, AppArmor and SELinux switched off,
    and a writable ``/sys`` and cgroup tree with no masked paths (moby ``daemon/oci_linux.go``).
    Root in such a container is root on the host: mounting the host disk or loading a kernel
    module is one command away. A privileged hook is an ``exec`` with the same powers.

    ## Example
    ```yaml
    services:
      agent:
        image: monitoring/agent
        privileged: true
    ```

    ## Fix
    Remove ``privileged`` and grant only what the workload needs: ``cap_drop: [ALL]`` plus an
    explicit ``cap_add`` list, the specific ``devices``, and read-only mounts.
    ``leastcap fix`` proposes that set from a recorded profile.
    ```yaml
    services:
      agent:
        image: monitoring/agent
        cap_drop: [ALL]
        cap_add: [SYS_PTRACE]
    ```
    """

    slug = "privileged"
    summary = "A service, its build or a lifecycle hook runs privileged"
    severity = Severity.CRITICAL
    fixable = Fixable.YES
    cis = ("5.5",)

    def check(self, service: Service, project: Project) -> Iterator[Finding]:
        if is_true(service.privileged):
            assert service.privileged is not None
            yield self.finding(
                service,
                project,
                f"service {service.name!r} runs privileged: {_EFFECT}"
                + context(service, service.privileged, flag="privileged")
                + (f" ({reason})" if (reason := fact(service, "script.reason")) else ""),
                service.privileged.origin,
                service.privileged.via,
                confidence=confidence_for(service.privileged),
            )
        if is_true(service.build_privileged):
            assert service.build_privileged is not None
            yield self.finding(
                service,
                project,
                f"service {service.name!r} builds its image privileged (build.privileged): the build's "
                "RUN steps get all capabilities and host devices"
                + context(service, service.build_privileged, flag="build.privileged"),
                service.build_privileged.origin,
                service.build_privileged.via,
                confidence=confidence_for(service.build_privileged),
            )
        for hook in service.hooks:
            if is_true(hook.privileged):
                assert hook.privileged is not None
                yield self.finding(
                    service,
                    project,
                    f"a {hook.kind} hook of service {service.name!r} runs privileged: {_EFFECT}"
                    + context(service, hook.privileged, flag=f"{hook.kind}.privileged"),
                    hook.privileged.origin,
                    hook.privileged.via,
                    confidence=confidence_for(hook.privileged),
                    facts=(("hook", hook.kind),),
                )
