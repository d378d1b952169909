"""The exception-unused rule on hand-built ledgers: exact findings, messages and places."""

from __future__ import annotations

import datetime as dt

from governance import CONFIG, baseline_entry, exception, ignore, review

from leastcap.model import Location
from leastcap.rules.base import Ledger


def test_each_suppression_that_matches_no_finding() -> None:
    ledger = Ledger(
        ignores=(
            ignore(4, "privileged", "cap-add-all", unused=("cap-add-all",)),
            # Not honoured: exception-invalid reports it, not this rule.
            ignore(6, "privileged", problem="its reason is not acceptable: it is empty", unused=("privileged",)),
        ),
        exceptions=(
            exception(10),
            exception(20, used=True),
            exception(30, covers_enabled_rule=False),  # its rule is switched off: nothing to match
            exception(40, expires=dt.date(2026, 1, 1), expired=True),  # exception-expired's
            exception(50, "expires is missing"),  # exception-invalid's
        ),
        baseline=(baseline_entry(3),),
    )
    assert review("exception-unused", ledger) == [
        (
            "exception-unused",
            "low",
            "inline ignore[cap-add-all] matches no finding on this line or in this service",
            Location("compose.yml", 4, 12),
            "",
        ),
        (
            "exception-unused",
            "low",
            "exception for rule 'privileged' (service 'web10') matches no finding",
            Location(CONFIG, 10, 5),
            "",
        ),
        (
            "exception-unused",
            "low",
            "baseline entry for rule 'privileged' (project 'p', service 'web') matches no finding; delete it so "
            "the baseline only shrinks (or write it again with `leastcap baseline`)",
            Location("baseline.json", 3, 5),
            "",
        ),
    ]
