"""Rules about dates that every domain applies alike, and how German letters and documents
write a day."""

from __future__ import annotations

from datetime import date

from shared.errors import InvalidInputError

MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)


def german_day(day: date) -> str:
    """``1. Dezember 2026``: a day as a German letter or document writes it."""
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


class DateInFutureError(InvalidInputError):
    code = "date_in_future"


def check_not_in_future(name: str, value: date | None, today: date) -> None:
    """What happened (a contact, a visit, a session) happened on a day up to today."""
    if value is not None and value > today:
        raise DateInFutureError(f"{name} {value.isoformat()} lies in the future", field=name)
