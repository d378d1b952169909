"""``leastcap audit``: what actually runs on Docker hosts, judged by the same rules as ``scan``.

Docker engines (``targets``) are inspected through the docker SDK (``engine``), each container is
mapped to the shared ``Service`` model (``mapping``), and the rule registry judges it exactly as it
judges a Compose file. ``--drift`` compares containers with their Compose files (``drift``).
"""

from leastcap.audit.run import AuditOptions, AuditResult, audit

__all__ = ["AuditOptions", "AuditResult", "audit"]
