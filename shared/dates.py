"""Rules about dates that every domain applies alike."""

from __future__ import annotations

from datetime import date

from shared.errors import InvalidInputError


class DateInFutureError(InvalidInputError):
    code = "date_in_future"


def check_not_in_future(name: str, value: date | None, today: date) -> None:
    """What happened (a contact, a visit, a session) happened on a day up to today."""
    if value is not None and value > today:
        raise DateInFutureError(f"{name} {value.isoformat()} lies in the future", field=name)
