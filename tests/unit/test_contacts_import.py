"""Importing existing cases: per-row results; duplicates within the import and against open
cases are rejected, and nothing else changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from contacts.application import CaseImport, Contacts, PersonDetails
from contacts.domain import OutreachCase

from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher

from .support import TODAY

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def team_lead() -> Iterator[None]:
    """The imports are a team lead's (as an HTTP request of theirs)."""
    with acting_as(CommandContext(actor="tl-anna", role="team_lead")):
        yield


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Contacts:
    return Contacts(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher, today=lambda: TODAY
    )


def row(number: str, district: str = "kassel", **changes: object) -> CaseImport:
    base = CaseImport(
        district=district,
        local_office="mitte",
        person=PersonDetails(customer_number=number, name=f"Person {number}", address="Weg 1"),
        reason=ContactLostReason.UNANSWERED_INVITATIONS,
        unanswered_letters=2,
        missed_appointments=1,
        last_contact_on=None,
        deadline=None,
        case_manager="cm-mueller",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_imports_every_valid_row_in_batches(app: Contacts) -> None:
    rows = [row(f"123D{n:06d}") for n in range(7)]
    results = app.import_cases(rows, batch_size=3)
    assert all(r.case_id is not None and r.error is None for r in results)
    case = app.get_case(results[0].case_id)  # type: ignore[arg-type]
    assert isinstance(case, OutreachCase)
    assert case.district == "kassel"
    assert app.cipher.open(case.person["name"] or "") == "Person 123D000000"


def test_a_person_twice_in_one_import_is_rejected_once(app: Contacts) -> None:
    rows = [row("123D000001"), row("123D000002"), row("123D000001")]
    results = app.import_cases(rows, batch_size=2)  # the duplicate is in a later batch
    assert results[0].case_id is not None
    assert results[1].case_id is not None
    assert results[2].case_id is None
    assert results[2].error is not None
    assert results[2].error.code == "duplicate_in_import"


def test_a_person_with_an_open_case_is_rejected_and_changes_nothing(app: Contacts) -> None:
    (first,) = app.import_cases([row("123D000001")])
    before = app.recorder.max_notification_id()
    results = app.import_cases([row("123D000001"), row("123D000002")])
    assert results[0].error is not None
    assert results[0].error.code == "open_case_exists"
    assert results[1].case_id is not None
    assert app.recorder.max_notification_id() == (before or 0) + 2  # only the second row
    assert first.case_id is not None
    assert app.get_case(first.case_id).status.value == "contact_lost"


def test_the_same_person_in_another_district_is_another_case(app: Contacts) -> None:
    results = app.import_cases([row("123D000001"), row("123D000001", "fulda")])
    assert all(r.case_id is not None for r in results)
    subjects = {app.get_case(r.case_id).subject_id for r in results}  # type: ignore[arg-type]
    assert len(subjects) == 1  # one person, one key


def test_a_row_breaking_a_rule_is_rejected_alone(app: Contacts) -> None:
    results = app.import_cases(
        [row("123D000001", last_contact_on=date(2999, 1, 1)), row("123D000002")]
    )
    assert results[0].error is not None
    assert results[0].error.code == "date_in_future"
    assert results[1].case_id is not None
