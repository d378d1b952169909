"""``leastcap profile``: measure the capabilities a service uses, from the kernel, then minimise and verify.

Modules: ``format`` (the profile file), ``tracefs`` (a private tracing instance), ``events`` (trace
text parsing, tracepoint and kprobe), ``rawtrace`` (the binary ring buffer instead of trace_pipe),
``bpf`` (the BPF recorder: capability checks counted in the kernel), ``proctree`` (the container's
process tree), ``classify``, ``fanotify`` and ``openwatch`` (the container's opens below /dev and
writes below /proc/sys and /sys), ``touched`` (devices and sysctls privileged provided), ``helpers``
(setuid and file-capability binaries it exec'd), ``composebin`` (finding Compose v2), ``docker``
(compose/docker plumbing), ``recorder`` (one recording run), ``watch`` (the container's state,
healthcheck and probes during a run), ``attach`` (following a running container), ``runner``
(record, verify, minimise), ``verdict`` (judging a verification run against the recording, and the
recording itself), ``minimize`` (the search of --minimize), ``doctor`` (can profile run on this host).
"""

from leastcap.profile.composebin import compose_binary
from leastcap.profile.format import Profile, read_profile, write_profile

__all__ = ["Profile", "compose_binary", "read_profile", "write_profile"]
