"""A worker's agenda: each day's round in address order, and its iCalendar export (of one
day for ``/agenda.ics``, of the days ahead for a calendar link).

Pure functions over opened rows (no I/O). The calendar is written by hand (RFC 5545): it
needs a handful of properties, not a dependency. It holds no name, only the address of a
visit the reader is assigned to, and is marked ``CLASS:CONFIDENTIAL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from visits.domain import address_sort_key

LOCAL_TIME = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class AgendaItem:
    visit_id: UUID
    case_id: UUID
    first_day: date
    last_day: date
    time_from: time | None
    time_to: time | None
    purpose: str
    place: str
    workers: tuple[str, ...]
    sort_address: str
    """The opened address, used for the order only."""
    name: str | None
    """Opened for the assigned workers only (``None`` for anyone else)."""
    address: str | None
    place_description: str | None
    version: int = 1
    """The visit's version (its commands' ``expected_version``)."""


Round = tuple[date, Sequence[AgendaItem]]
"""One day of a worker's visits, in round order."""


def in_round_order(items: Sequence[AgendaItem]) -> list[AgendaItem]:
    """By postal code and street (then house number), then by time slot."""
    return sorted(
        items,
        key=lambda i: (address_sort_key(i.sort_address), i.time_from or time(0), str(i.visit_id)),
    )


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on the next line after one space."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode()) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return [out[0], *(" " + rest for rest in out[1:])]


def _utc(day: date, moment: time) -> str:
    local = datetime.combine(day, moment, tzinfo=LOCAL_TIME)
    return local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def rounds(items: Sequence[AgendaItem], first: date, last: date) -> list[Round]:
    """Each day from ``first`` to ``last`` with the visits whose date or window includes it,
    in round order (a visit in a window of days is on each of its days; a day without a
    visit is left out)."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    covering = ((day, [i for i in items if i.first_day <= day <= i.last_day]) for day in days)
    return [(day, in_round_order(visits)) for day, visits in covering if visits]


def to_icalendar(day: date, items: Sequence[AgendaItem], *, now: datetime) -> str:
    """The day's visits as a calendar; a visit in a window of days is an all-day entry."""
    return calendar_of([(day, items)], now=now)


def calendar_of(days: Sequence[Round], *, now: datetime, refresh: timedelta | None = None) -> str:
    """The rounds of ``days`` as one calendar (``refresh``: how often a subscribed calendar
    app should fetch it again)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Outreach//visits agenda//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ]
    if refresh is not None:
        minutes = int(refresh.total_seconds() // 60)
        lines += [
            "X-WR-CALNAME:Outreach visits",
            f"REFRESH-INTERVAL;VALUE=DURATION:PT{minutes}M",
            f"X-PUBLISHED-TTL:PT{minutes}M",
        ]
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for day, items in days:
        for item in items:
            lines += _event(day, item, stamp)
    lines.append("END:VCALENDAR")
    return "".join(folded + "\r\n" for line in lines for folded in _fold(line))


def _event(day: date, item: AgendaItem, stamp: str) -> list[str]:
    """One visit on one day of its round."""
    # No name: a calendar file leaves the system (phones sync it); the address is what
    # the round needs, and only the assigned workers get it.
    summary = f"Visit: {item.purpose.replace('_', ' ')}"
    lines = ["BEGIN:VEVENT", f"UID:{item.visit_id}-{day:%Y%m%d}@outreach", f"DTSTAMP:{stamp}"]
    if item.time_from is not None and item.time_to is not None:
        lines += [f"DTSTART:{_utc(day, item.time_from)}", f"DTEND:{_utc(day, item.time_to)}"]
    else:
        lines += [
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
        ]
    description = [f"Workers: {', '.join(item.workers)}"]
    if item.first_day != item.last_day:
        description.append(f"Window: {item.first_day} to {item.last_day}")
    if item.place_description:
        description.append(f"Meeting place: {item.place_description}")
    lines.append(f"SUMMARY:{_escape(summary)}")
    location = item.place_description if item.place != "home" else item.address
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    return [
        *lines,
        f"DESCRIPTION:{_escape(chr(10).join(description))}",
        "CLASS:CONFIDENTIAL",
        "TRANSP:OPAQUE",
        "END:VEVENT",
    ]
