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

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is None)

    def exit_code(self) -> int:
        """0 clean, 1 findings at or above ``fail_on``, 2 an input could not be loaded."""
        if self.errors:
            return ExitCode.ERROR
        if any(f.severity >= self.fail_on for f in self.active_findings):
            return ExitCode.FINDINGS
        return ExitCode.OK
