"""``leastcap profile``: measure the capabilities a service uses, from the kernel, then minimise and verify.

Modules: ``format`` (the profile file), ``tracefs`` (a private tracing instance), ``events`` (trace
text parsing, tracepoint and kprobe), ``proctree`` (the container's process tree), ``classify``,
``composebin`` (finding Compose v2), ``docker`` (compose/docker plumbing), ``recorder`` (one
recording run), ``runner`` (record, verify, minimise).
"""

from leastcap.profile.composebin import compose_binary
from leastcap.profile.format import Profile, read_profile, write_profile

__all__ = ["Profile", "compose_binary", "read_profile", "write_profile"]
