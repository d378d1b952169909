"""The exception-invalid rule on hand-built ledgers: exact findings, messages and places."""

from __future__ import annotations

from governance import CONFIG, exception, ignore, review

from leastcap.model import Location
from leastcap.rules.base import Ledger


def test_every_suppression_that_cannot_be_honoured_and_nothing_else() -> None:
    ledger = Ledger(
        ignores=(
            ignore(4, "host-namespace", problem="its reason is not acceptable: it is empty"),
            ignore(6, "privileged", unused=("privileged",)),  # honoured (unused is another rule's)
        ),
        exceptions=(
            exception(10, "approved_by is missing", "expires is missing"),
            exception(20),
        ),
    )
    assert review("exception-invalid", ledger) == [
        (
            "exception-invalid",
            "medium",
            "inline ignore[host-namespace] is not honoured: its reason is not acceptable: it is empty",
            Location("compose.yml", 4, 12),
            "",
        ),
        (
            "exception-invalid",
            "medium",
            "exception for rule 'privileged' (service 'web10') is not honoured: approved_by is missing; "
            "expires is missing",
            Location(CONFIG, 10, 5),
            "",
        ),
    ]
    assert review("exception-invalid", Ledger()) == []
