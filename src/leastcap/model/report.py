"""The result of a scan, history walk or audit: what every reporter renders."""

from __future__ import annotations

from dataclasses import dataclass, field

from leastcap.contract import ExitCode
from leastcap.model.finding import Finding, Severity
from leastcap.model.service import Problem


@dataclass(frozen=True, slots=True)
class Report:
    findings: tuple[Finding, ...]
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    # The threshold the exit code is judged against (``--fail-on``).
    fail_on: Severity = Severity.HIGH
    # What was looked at: "scan", "audit", "history"...
    command: str = "scan"
    scanned_files: tuple[str, ...] = field(default=())
    # The lowest severity shown (``--min-severity``): a display filter only; the exit code is
    # still judged on every finding against ``fail_on``.
    min_severity: Severity = Severity.INFO

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def shown_findings(self) -> tuple[Finding, ...]:
        """The findings the reporters list: those at or above ``min_severity``."""
        return tuple(f for f in self.findings if f.severity >= self.min_severity)

    @property
    def not_shown(self) -> int:
        """Active findings below ``min_severity``: counted in the exit code, not listed."""
        return sum(1 for f in self.active_findings if f.severity < self.min_severity)

    def exit_code(self) -> int:
        """0 clean, 1 findings at or above ``fail_on``, 2 an input could not be loaded."""
        if self.errors:
            return ExitCode.ERROR
        if any(f.severity >= self.fail_on for f in self.active_findings):
            return ExitCode.FINDINGS
        return ExitCode.OK
