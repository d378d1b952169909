"""Governance rules: findings about the suppressions themselves, from the ledger the suppression
pass (:mod:`leastcap.suppress`) keeps. Each rule words its own findings."""

from __future__ import annotations

from collections.abc import Iterator

from leastcap.model import Finding, Severity
from leastcap.rules.base import GovernanceRule, Ledger


class ExceptionInvalid(GovernanceRule):
    """Flags a suppression that cannot be honoured: no real justification, missing fields, unknown rule.

    ## What it does
    Reports an entry of ``exceptions:`` in ``.leastcap.yml`` that has no ``justification`` or only
    a placeholder one (empty, fewer than 8 letters or 2 words, or ``todo``, ``tbd``, ``n/a``,
    ``fixme``, ``temp``, ``wip``, ...), lacks ``approved_by`` or ``expires``, names neither
    ``project`` nor ``service``, or names a rule that does not exist. Also reports an inline
    ``# leastcap: ignore[...]`` comment with no reason (or a placeholder one) or an unknown rule
    name. Such a suppression is not honoured: the findings it meant to hide stay active.

    ## Why is this bad
    An exception is a decision to accept a risk. Without a reason, an approver and an end date,
    nobody can review it later, and it silently becomes permanent.

    ## Example
    ```yaml
    exceptions:
      - rule: privileged
        service: dind
        justification: todo
    ```

    ## Fix
    ```yaml
    exceptions:
      - rule: privileged
        service: dind
        justification: Docker-in-Docker CI runner; isolated build host, no secrets mounted
        approved_by: security-team
        expires: 2027-06-30
        ticket: SEC-1234
    ```
    """

    slug = "exception-invalid"
    summary = "A suppression has no real justification or is incomplete"
    severity = Severity.MEDIUM

    def review(self, ledger: Ledger) -> Iterator[Finding]:
        for ignore in ledger.ignores:
            if ignore.problem is not None:
                yield self.at(
                    f"inline ignore[{','.join(ignore.rules)}] is not honoured: {ignore.problem}", ignore.location
                )
        for exception in ledger.exceptions:
            if exception.problems:
                yield self.at(
                    f"exception {exception.label} is not honoured: " + "; ".join(exception.problems), exception.location
                )


class ExceptionExpired(GovernanceRule):
    """Flags an exception in ``.leastcap.yml`` whose ``expires`` date has passed.

    ## What it does
    Reports an ``exceptions:`` entry whose ``expires`` date is before today (the date itself is
    the last day it applies). An expired exception is not honoured: the findings it covered are
    active again.

    ## Why is this bad
    Exceptions are granted for a time, until the real fix lands. One past its date means the fix
    did not happen and the risk was never re-approved.

    ## Example
    ```yaml
    exceptions:
      - rule: docker-socket
        service: traefik
        justification: reads container labels until the socket proxy is deployed
        approved_by: alice
        expires: 2024-01-31
    ```

    ## Fix
    Fix the finding and delete the exception, or have it re-approved with a new ``expires`` date.
    """

    slug = "exception-expired"
    summary = "An exception is past its expires date"
    severity = Severity.MEDIUM

    def review(self, ledger: Ledger) -> Iterator[Finding]:
        for exception in ledger.exceptions:
            if exception.expired and not exception.problems and exception.expires is not None:
                yield self.at(
                    f"exception {exception.label} expired on {exception.expires.isoformat()}; "
                    "its findings are active again",
                    exception.expires_location,
                )


class ExceptionUnused(GovernanceRule):
    """Flags a suppression that matches no finding.

    ## What it does
    Reports an ``exceptions:`` entry in ``.leastcap.yml`` that matched no finding in the scan, an
    inline ``# leastcap: ignore[rule]`` comment for a rule that reported nothing on that line
    (or, on a service's key line, in that service), and an entry of the baseline file given to
    ``scan --baseline`` whose finding is gone (located at its line in the baseline file).

    ## Why is this bad
    A stale suppression hides the next real finding that happens to match it, and makes the list
    of accepted risks look longer than it is. Deleting it keeps the exceptions honest.

    ## Example
    ```yaml
    services:
      web:  # leastcap: ignore[privileged] legacy host agent, see SEC-12
        image: nginx
    ```

    ## Fix
    Delete the comment, the exception entry or the baseline entry. (An exception scoped to a project that was not part
    of this scan is also reported: scan the whole repository, or narrow ``project``.)
    """

    slug = "exception-unused"
    summary = "A suppression matches no finding"
    severity = Severity.LOW

    def review(self, ledger: Ledger) -> Iterator[Finding]:
        for ignore in ledger.ignores:
            if ignore.problem is None:
                for rule in ignore.unused:
                    yield self.at(
                        f"inline ignore[{rule}] matches no finding on this line or in this service", ignore.location
                    )
        for exception in ledger.exceptions:
            if not (exception.problems or exception.expired or exception.used) and exception.covers_enabled_rule:
                yield self.at(f"exception {exception.label} matches no finding", exception.location)
        for entry in ledger.baseline:
            yield self.at(
                f"baseline entry {entry.label} matches no finding; delete it so the baseline only "
                "shrinks (or write it again with `leastcap baseline`)",
                entry.location,
            )
