"""Retention decisions: what is due after the end of the case, what a legal hold keeps."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from shared.retention import (
    Action,
    PersonRecord,
    RetentionPeriods,
    RetentionSettings,
    decide,
    report,
)

pytestmark = pytest.mark.unit

TODAY = date(2031, 6, 1)


def person(
    closed: date | None,
    *,
    districts: tuple[str, ...] = ("kassel",),
    open_cases: int = 0,
    held: bool = False,
    erased: bool = False,
) -> PersonRecord:
    return PersonRecord(uuid4(), districts, open_cases, closed, held, erased)


def defaults(_: str) -> RetentionPeriods:
    return RetentionPeriods()


def test_the_case_record_is_erased_five_years_after_the_case_closed() -> None:
    due = person(date(2026, 5, 31))
    not_yet = person(date(2026, 6, 2))

    decisions = decide([due, not_yet], defaults, TODAY)

    erase = [d for d in decisions if d.action is Action.ERASE]
    assert [(d.subject, d.category, d.due_on) for d in erase] == [
        (due.subject, "case_record", date(2031, 5, 31))
    ]


def test_visit_notes_are_due_after_one_year_and_reported_as_not_separately_erasable() -> None:
    closed_last_year = person(date(2030, 5, 1))

    [decision] = decide([closed_last_year], defaults, TODAY)

    assert decision.category == "visit_notes"
    assert decision.action is Action.NOT_SEPARATELY_ERASABLE
    assert decision.due_on == date(2031, 5, 1)


def test_a_legal_hold_keeps_what_is_due() -> None:
    held = person(date(2020, 1, 1), held=True)

    [decision] = decide([held], defaults, TODAY)

    assert decision.action is Action.HELD


def test_open_cases_erased_persons_and_never_closed_cases_are_left_alone() -> None:
    people = [
        person(date(2020, 1, 1), open_cases=1),
        person(date(2020, 1, 1), erased=True),
        person(None),
    ]

    assert decide(people, defaults, TODAY) == []


def test_periods_are_set_per_district_and_the_longest_applies() -> None:
    settings = RetentionSettings(
        retention_periods={"kassel": RetentionPeriods(case_record_years=10, visit_notes_years=2)}
    )
    in_kassel = person(date(2024, 1, 1))
    in_both = person(date(2024, 1, 1), districts=("borken", "kassel"))
    in_borken = person(date(2024, 1, 1), districts=("borken",))

    decisions = {
        d.subject: d for d in decide([in_kassel, in_both, in_borken], settings.periods, TODAY)
    }

    assert decisions[in_kassel.subject].category == "visit_notes"
    assert decisions[in_both.subject].district == "kassel"
    assert decisions[in_both.subject].category == "visit_notes"
    assert decisions[in_borken.subject].action is Action.ERASE


def test_the_dry_run_report_lists_each_decision_and_a_summary() -> None:
    due, held = person(date(2020, 1, 1)), person(date(2020, 1, 1), held=True)

    text = report(decide([due, held], defaults, TODAY), dry_run=True)

    assert "dry run: nothing changed" in text
    assert str(due.subject) in text
    assert str(held.subject) in text
    assert "summary: 1 erase, 1 held" in text
