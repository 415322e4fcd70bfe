"""The values and rules of a visit: when it is (:class:`Schedule`), the district's rules
(:class:`VisitRules`), and the order of a day's round (:func:`address_sort_key`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from visits.domain.errors import InvalidScheduleError, LeadTimeTooShortError, WindowInPastError


@dataclass(frozen=True)
class VisitRules:
    """The district-specific rules (configuration, DOMAIN.md step 1 and 2)."""

    min_lead_days: Mapping[str, int] = field(default_factory=dict)
    """Days the letter must go out before the visit, per district."""
    max_attempts: Mapping[str, int] = field(default_factory=dict)
    """Visits without reaching the person before the team lead looks at the case."""
    default_min_lead_days: int = 5
    default_max_attempts: int = 3

    def lead_days_for(self, district: str) -> int:
        return self.min_lead_days.get(district, self.default_min_lead_days)

    def max_attempts_for(self, district: str) -> int:
        return self.max_attempts.get(district, self.default_max_attempts)


@dataclass(frozen=True)
class Schedule:
    """One day with an optional time slot, or a window of days without an exact time."""

    first_day: date
    last_day: date
    time_from: time | None = None
    time_to: time | None = None

    @classmethod
    def on(cls, day: date, time_from: time | None = None, time_to: time | None = None) -> Schedule:
        return cls(day, day, time_from, time_to)

    @classmethod
    def window(cls, first_day: date, last_day: date) -> Schedule:
        return cls(first_day, last_day)

    def check_is_valid(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidScheduleError("the window ends before it starts", field="window")
        if (self.time_from is None) != (self.time_to is None):
            raise InvalidScheduleError("a time slot needs a start and an end", field="time_slot")
        if self.time_from is not None and self.time_to is not None:
            if self.first_day != self.last_day:
                raise InvalidScheduleError(
                    "a time slot is only given with a single date", field="time_slot"
                )
            if self.time_to <= self.time_from:
                raise InvalidScheduleError("the time slot ends before it starts", field="time_slot")

    def check_announceable(self, *, announced_on: date, today: date, lead_days: int) -> None:
        """The visit lies ahead, and the letter goes out at least ``lead_days`` before it."""
        self.check_is_valid()
        if self.first_day < today:
            raise WindowInPastError(
                f"the visit would start on {self.first_day.isoformat()}, in the past",
                field="schedule",
            )
        if announced_on < today:
            raise WindowInPastError(
                "the announcement letter cannot go out in the past", field="announced_on"
            )
        lead = (self.first_day - announced_on).days
        if lead < lead_days:
            raise LeadTimeTooShortError(
                f"the letter must go out at least {lead_days} days before the visit; "
                f"it would be {lead}",
                minimum_days=lead_days,
                lead_days=lead,
            )

    def as_event(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day,
            "last_day": self.last_day,
            "time_from": self.time_from.isoformat("minutes") if self.time_from else None,
            "time_to": self.time_to.isoformat("minutes") if self.time_to else None,
        }

    @classmethod
    def from_event(cls, data: Mapping[str, Any]) -> Schedule:
        def parse_time(value: str | None) -> time | None:
            return time.fromisoformat(value) if value else None

        return cls(
            data["first_day"],
            data["last_day"],
            parse_time(data.get("time_from")),
            parse_time(data.get("time_to")),
        )


_POSTCODE = re.compile(r"\b(\d{5})\b")
_HOUSE_NUMBER = re.compile(r"^(?P<street>.*?)\s+(?P<number>\d+)\s*(?P<suffix>[a-zA-Z]?)\b.*$")


def address_sort_key(address: str) -> tuple[str, str, int, str]:
    """Order for a day's round: postal code, then street, then house number.

    Parses German addresses like ``"Friedrich-Ebert-Straße 12, 34117 Kassel"``; what cannot
    be parsed sorts last, by its text.
    """
    postcode = _POSTCODE.search(address)
    street_part = address.split(",", 1)[0].strip()
    match = _HOUSE_NUMBER.match(street_part)
    street, number, suffix = (
        (match["street"], int(match["number"]), match["suffix"].lower())
        if match
        else (street_part, 0, "")
    )
    return (postcode.group(1) if postcode else "99999", street.casefold(), number, suffix)
