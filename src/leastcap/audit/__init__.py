"""``leastcap audit``: what actually runs on Docker hosts, judged by the same rules as ``scan``.

Docker engines (``targets``) are inspected through the docker SDK (``engine``), each container is
mapped to the shared ``Service`` model (``mapping``), and the pipeline judges it exactly as it
judges a Compose file. ``--drift`` pairs containers with their Compose services (``compare``) for
the comparison rule ``drift`` (``drift``).

The package itself imports nothing: the rule registry imports ``leastcap.audit.drift``, and that
must not pull in the audit run (which uses the pipeline, which uses the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from leastcap.audit.run import AuditOptions, AuditResult, audit

__all__ = ["AuditOptions", "AuditResult", "audit"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from leastcap.audit import run

        return getattr(run, name)
    raise AttributeError(name)
