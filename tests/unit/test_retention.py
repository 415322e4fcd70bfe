"""Retention decisions: what is due after the end of the case, what a legal hold keeps."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from contacts.retention import Action, Decision, PersonRecord, decide, erasure_request, report

from shared.retention import RetentionPeriods, RetentionSettings

pytestmark = pytest.mark.unit

TODAY = date(2031, 6, 1)


def person(
    closed: date | None,
    *,
    districts: tuple[str, ...] = ("kassel",),
    open_cases: int = 0,
    held: bool = False,
    erased: bool = False,
    notes_erased: date | None = None,
) -> PersonRecord:
    return PersonRecord(uuid4(), districts, open_cases, closed, held, erased, notes_erased)


def defaults(_: str) -> RetentionPeriods:
    return RetentionPeriods()


def test_the_case_record_is_erased_five_years_after_the_case_closed() -> None:
    due = person(date(2026, 5, 31))
    not_yet = person(date(2026, 6, 2))

    decisions = decide([due, not_yet], defaults, TODAY)

    erase = [d for d in decisions if d.action is Action.ERASE]
    assert [(d.subject, d.category, d.due_on) for d in erase] == [
        (due.subject, "case_record", date(2031, 5, 31)),
        (not_yet.subject, "visit_notes", date(2027, 6, 2)),
    ]


def test_visit_notes_are_erased_on_their_own_one_year_after_the_case_closed() -> None:
    closed_last_year = person(date(2030, 5, 1))
    not_yet = person(date(2030, 6, 2))

    [decision] = decide([closed_last_year, not_yet], defaults, TODAY)

    assert decision.subject == closed_last_year.subject
    assert decision.category == "visit_notes"
    assert decision.action is Action.ERASE
    assert decision.due_on == date(2031, 5, 1)


def test_notes_erased_after_the_last_closing_are_not_due_again() -> None:
    erased_notes = person(date(2030, 5, 1), notes_erased=date(2031, 5, 2))
    erased_before_a_later_case = person(date(2030, 5, 1), notes_erased=date(2029, 1, 1))

    decisions = decide([erased_notes, erased_before_a_later_case], defaults, TODAY)

    assert [(d.subject, d.category) for d in decisions] == [
        (erased_before_a_later_case.subject, "visit_notes")
    ]


def test_when_the_record_is_due_the_person_is_erased_notes_included() -> None:
    due = person(date(2026, 5, 31))
    notes_gone_already = person(date(2026, 5, 31), notes_erased=date(2027, 6, 1))

    decisions = decide([due, notes_gone_already], defaults, TODAY)

    assert [d.category for d in decisions] == ["case_record", "case_record"]


def test_a_legal_hold_keeps_the_visit_notes() -> None:
    held = person(date(2030, 5, 1), held=True)

    [decision] = decide([held], defaults, TODAY)

    assert (decision.category, decision.action) == ("visit_notes", Action.HELD)


def test_notes_destroy_only_their_key_the_record_erases_the_person() -> None:
    subject = uuid4()
    notes = Decision(subject, "kassel", "visit_notes", Action.ERASE, date(2031, 5, 1))
    record = Decision(subject, "kassel", "case_record", Action.ERASE, date(2031, 5, 1))

    notes_path, notes_body = erasure_request(notes)
    record_path, record_body = erasure_request(record)

    assert notes_path == "/dpo/category-erasures"
    assert notes_body["category"] == "visit_note"
    assert notes_body["ground"] == "retention_period_ended"
    assert notes_body["subject"] == str(subject)
    assert record_path == "/dpo/erasures"
    assert "category" not in record_body


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
    notes = person(date(2030, 1, 1))

    text = report(decide([due, held, notes], defaults, TODAY), dry_run=True)

    assert "dry run: nothing changed" in text
    assert str(due.subject) in text
    assert str(held.subject) in text
    [notes_line] = [line for line in text.splitlines() if str(notes.subject) in line]
    assert notes_line.split()[:2] == ["erase", "visit_notes"]
    assert "summary: 2 erase, 1 held" in text
