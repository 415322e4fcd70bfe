"""A worker's day: the round in address order, the iCalendar export, the request shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError
from visits.agenda import AgendaItem, in_round_order, to_icalendar
from visits.api.schemas import AnnounceVisit, RecordOutcome, RescheduleVisit
from visits.domain import Schedule

pytestmark = pytest.mark.unit

DAY = date(2026, 12, 1)


def item(street_address: str, **overrides: Any) -> AgendaItem:
    values: dict[str, Any] = {
        "visit_id": uuid4(),
        "case_id": uuid4(),
        "first_day": DAY,
        "last_day": DAY,
        "time_from": None,
        "time_to": None,
        "purpose": "first_contact",
        "place": "home",
        "workers": ("ow-yilmaz", "ow-becker"),
        "sort_address": street_address,
        "name": "Erika Beispiel",
        "address": street_address,
        "place_description": None,
    }
    values.update(overrides)
    return AgendaItem(**values)


def test_the_round_goes_by_postal_code_then_street() -> None:
    items = [
        item("Holländische Straße 40, 34127 Kassel"),
        item("Wilhelmshöher Allee 200, 34119 Kassel"),
        item("Friedrich-Ebert-Straße 12, 34117 Kassel"),
        item("Friedrich-Ebert-Straße 2, 34117 Kassel"),
    ]

    ordered = [i.sort_address for i in in_round_order(items)]

    assert ordered == [
        "Friedrich-Ebert-Straße 2, 34117 Kassel",
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        "Wilhelmshöher Allee 200, 34119 Kassel",
        "Holländische Straße 40, 34127 Kassel",
    ]


def unfold(calendar: str) -> list[str]:
    return calendar.replace("\r\n ", "").split("\r\n")


def test_the_calendar_has_one_event_per_visit_with_times_in_utc_and_whole_days() -> None:
    slot = item(
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        visit_id=UUID("3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"),
        time_from=time(9, 0),
        time_to=time(10, 30),
    )
    window = item("Marktplatz 3, 64807 Dieburg", last_day=date(2026, 12, 3))

    calendar = to_icalendar(DAY, [slot, window], now=datetime(2026, 11, 23, 8, tzinfo=UTC))

    assert calendar.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in calendar.split("\r\n"))
    lines = unfold(calendar)
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines.count("BEGIN:VEVENT") == 2
    assert "UID:3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c-20261201@outreach" in lines
    assert "DTSTART:20261201T080000Z" in lines  # 09:00 in Kassel is 08:00 UTC in winter
    assert "DTEND:20261201T093000Z" in lines
    assert "DTSTART;VALUE=DATE:20261201" in lines
    assert "DTEND;VALUE=DATE:20261202" in lines
    assert "LOCATION:Friedrich-Ebert-Straße 12\\, 34117 Kassel" in lines
    assert "DESCRIPTION:Workers: ow-yilmaz\\, ow-becker\\nWindow: 2026-12-01 to 2026-12-03" in lines
    assert "CLASS:CONFIDENTIAL" in lines
    assert "Erika" not in calendar  # a calendar leaves the system: no names in it


def test_a_visit_of_someone_else_has_no_address_in_the_calendar() -> None:
    other = item("Friedrich-Ebert-Straße 12, 34117 Kassel", name=None, address=None)

    calendar = to_icalendar(DAY, [other], now=datetime(2026, 11, 23, tzinfo=UTC))

    assert "Friedrich-Ebert" not in calendar
    assert "Erika" not in calendar


def announce_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": str(uuid4()),
        "workers": ["ow-yilmaz"],
        "purpose": "first_contact",
        "date": "2026-12-01",
    }
    body.update(overrides)
    return body


def test_an_announcement_is_a_home_visit_on_a_date_by_default() -> None:
    body = AnnounceVisit.model_validate(announce_body(time_slot={"start": "09:00", "end": "11:00"}))

    assert body.place == "home"
    assert body.schedule() == Schedule.on(DAY, time(9), time(11))


def test_a_window_of_days_has_no_exact_time() -> None:
    body = RescheduleVisit.model_validate({"window": {"start": "2026-12-01", "end": "2026-12-03"}})

    assert body.schedule() == Schedule.window(DAY, date(2026, 12, 3))


@pytest.mark.parametrize(
    "overrides",
    [
        {"date": None},
        {"window": {"start": "2026-12-01", "end": "2026-12-03"}},
        {
            "date": None,
            "window": {"start": "2026-12-01", "end": "2026-12-03"},
            "time_slot": {"start": "09:00", "end": "10:00"},
        },
        {"workers": []},
        {"workers": ["a", "b", "c"]},
        {"purpose": "sanction_check"},
        {"place": "office"},
    ],
)
def test_an_announcement_out_of_shape_is_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AnnounceVisit.model_validate(announce_body(**overrides))


def test_an_outcome_takes_needs_from_the_fixed_list_only() -> None:
    ok = RecordOutcome.model_validate({"outcome": "entry_refused"})
    assert ok.next_step == "none"
    assert ok.coaching_referral_consent is False

    with pytest.raises(ValidationError):
        RecordOutcome.model_validate({"outcome": "met_and_talked", "needs": ["criminal_record"]})
    with pytest.raises(ValidationError):
        RecordOutcome.model_validate({"outcome": "uncooperative"})
