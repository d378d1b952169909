"""An audit's ``Report`` (the pipeline's, as ``audit.run.audit`` returns it) and the rule catalogue
the reporters describe.

The audit judges through the same pipeline as ``scan`` (config, suppression, governance), so exit
codes and every output format behave the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from leastcap.audit.run import AuditOptions, audit
from leastcap.config import Config
from leastcap.model import Report, Severity
from leastcap.progress import Tick, silent
from leastcap.rules.base import BaseRule
from leastcap.rules.registry import ALL_RULES


def catalogue() -> tuple[BaseRule, ...]:
    return ALL_RULES


def build_report(
    *,
    hosts: Sequence[str] = (),
    contexts: Sequence[str] = (),
    include_stopped: bool = False,
    drift: bool = False,
    jobs: int = 4,
    timeout: float = 10.0,
    config: Config | None = None,
    fail_on: Severity = Severity.HIGH,
    tick: Tick = silent,
) -> tuple[Report, tuple[BaseRule, ...]]:
    options = AuditOptions(tuple(hosts), tuple(contexts), include_stopped, drift, jobs, timeout)
    return audit(options, config, tick, fail_on).report, catalogue()
