"""The exception-expired rule on hand-built ledgers: exact findings, messages and places."""

from __future__ import annotations

import datetime as dt

from governance import CONFIG, exception, review

from leastcap.model import Location
from leastcap.rules.base import Ledger


def test_an_expired_exception_points_at_its_expires_date() -> None:
    ledger = Ledger(
        exceptions=(
            exception(10, expires=dt.date(2026, 5, 31), expired=True),
            exception(20, expires=dt.date(2027, 1, 1)),
            # Expired and not honoured for another reason: exception-invalid says why, once.
            exception(30, "approved_by is missing", expires=dt.date(2026, 1, 1), expired=True),
        ),
    )
    assert review("exception-expired", ledger) == [
        (
            "exception-expired",
            "medium",
            "exception for rule 'privileged' (service 'web10') expired on 2026-05-31; its findings are active again",
            Location(CONFIG, 14, 14),
            "",
        )
    ]
