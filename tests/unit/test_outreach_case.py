"""The OutreachCase aggregate and the open-case index: commands, invariants, events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from uuid import uuid4

import pytest
from contacts.domain import (
    CaseClosedError,
    CaseStatus,
    CategoryErasure,
    ContactAlreadyRestoredError,
    DateBeforeLastContactError,
    Erasure,
    LegalHold,
    NothingToUpdateError,
    OpenCaseExistsError,
    OpenCaseIndex,
    OutreachCase,
)
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic, resolve_topic

from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.dates import DateInFutureError
from shared.errors import ConflictError, InvalidInputError
from shared.privacy import PersonalDataCipher

from .support import TODAY, acting, report_case

pytestmark = pytest.mark.unit


def restore(case: OutreachCase, restored_on: date = TODAY) -> None:
    with acting(case.subject_id, actor="ow-schulz"):
        case.restore_contact(
            channel=ContactChannel.AFTER_ANNOUNCEMENT_LETTER, restored_on=restored_on, today=TODAY
        )


def test_reporting_contact_lost_records_the_evidence(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)

    [created] = case.collect_events()

    assert isinstance(created, OutreachCase.ContactLost)
    assert created.originator_id == case.id
    assert created.evidence == {
        "unanswered_letters": 3,
        "missed_appointments": 2,
        "last_contact_on": date(2026, 3, 2),
    }
    assert created.reason == "missed_appointments"
    assert created.deadline == date(2027, 1, 15)
    assert created.reported_on == TODAY
    assert created.case_manager == "cm-mueller"
    assert created.meta["actor"] == "cm-mueller"
    assert case.status is CaseStatus.CONTACT_LOST
    assert case.reason is ContactLostReason.MISSED_APPOINTMENTS
    assert case.is_open


def test_reported_case_holds_only_sealed_personal_fields(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)

    assert cipher.open(case.person["name"] or "") == "Erika Mustermann"
    assert all(v is None or v.startswith("pii:v1:") for v in case.person.values())


def test_last_contact_in_the_future_is_rejected(cipher: PersonalDataCipher) -> None:
    with pytest.raises(DateInFutureError) as raised:
        report_case(cipher, last_contact_on=TODAY + timedelta(days=1), deadline=None)

    assert raised.value.code == "date_in_future"
    assert raised.value.status == 422
    assert raised.value.extra == {"field": "last_contact_on"}


def test_last_contact_today_is_accepted(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher, last_contact_on=TODAY, deadline=None)

    assert case.evidence["last_contact_on"] == TODAY


def test_deadline_before_the_last_contact_is_rejected(cipher: PersonalDataCipher) -> None:
    with pytest.raises(DateBeforeLastContactError) as raised:
        report_case(cipher, last_contact_on=date(2026, 3, 2), deadline=date(2026, 3, 1))

    assert raised.value.code == "date_before_last_contact"
    assert raised.value.extra == {"field": "deadline"}


def test_deadline_without_a_known_last_contact_is_accepted(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher, last_contact_on=None, deadline=date(2020, 1, 1))

    assert case.deadline == date(2020, 1, 1)


def test_restoring_contact_records_channel_date_and_case_manager(
    cipher: PersonalDataCipher,
) -> None:
    case = report_case(cipher, case_manager="cm-yilmaz")
    case.collect_events()

    restore(case, restored_on=date(2026, 11, 20))

    [restored] = case.collect_events()
    assert isinstance(restored, OutreachCase.ContactRestored)
    assert restored.channel == "after_announcement_letter"
    assert restored.restored_on == date(2026, 11, 20)
    assert restored.case_manager == "cm-yilmaz"
    assert restored.meta["actor"] == "ow-schulz"
    assert restored.originator_version == 2
    assert case.status is CaseStatus.CONTACT_RESTORED
    assert case.restored_channel is ContactChannel.AFTER_ANNOUNCEMENT_LETTER
    assert case.is_open


def test_restoring_contact_twice_is_a_conflict(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)
    restore(case)

    with pytest.raises(ContactAlreadyRestoredError) as raised:
        restore(case)

    assert isinstance(raised.value, ConflictError)
    assert raised.value.code == "contact_already_restored"
    assert raised.value.extra == {"case_id": str(case.id)}
    assert len(case.collect_events()) == 2


def test_contact_restored_in_the_future_is_rejected(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)

    with pytest.raises(DateInFutureError) as raised:
        restore(case, restored_on=TODAY + timedelta(days=1))

    assert raised.value.extra == {"field": "restored_on"}
    assert case.status is CaseStatus.CONTACT_LOST


def test_contact_restored_before_the_last_contact_is_rejected(
    cipher: PersonalDataCipher,
) -> None:
    case = report_case(cipher, last_contact_on=date(2026, 3, 2))

    with pytest.raises(DateBeforeLastContactError):
        restore(case, restored_on=date(2026, 3, 1))


def test_updating_contact_details_changes_only_the_given_fields(
    cipher: PersonalDataCipher,
) -> None:
    case = report_case(cipher)
    case.collect_events()
    new_address = cipher.seal(case.subject_id, "Friedrichsplatz 2, 34117 Kassel")
    name_before = case.person["name"]

    with acting(case.subject_id):
        case.update_contact_details(changes={"address": new_address})

    [updated] = case.collect_events()
    assert isinstance(updated, OutreachCase.ContactDetailsUpdated)
    assert updated.changes == {"address": new_address}
    assert case.person["address"] == new_address
    assert case.person["name"] == name_before


def test_updating_contact_details_without_changes_is_rejected(
    cipher: PersonalDataCipher,
) -> None:
    case = report_case(cipher)
    case.collect_events()

    with acting(case.subject_id), pytest.raises(NothingToUpdateError) as raised:
        case.update_contact_details(changes={})

    assert isinstance(raised.value, InvalidInputError)
    assert raised.value.code == "nothing_to_update"
    assert case.collect_events() == []


def test_closing_records_the_reason_and_closes_the_case(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)
    case.collect_events()

    with acting(case.subject_id, actor="tl-schmidt"):
        case.close(reason=CaseClosedReason.MOVED_AWAY)

    [closed] = case.collect_events()
    assert isinstance(closed, OutreachCase.Closed)
    assert closed.reason == "moved_away"
    assert closed.meta["actor"] == "tl-schmidt"
    assert case.status is CaseStatus.CLOSED
    assert not case.is_open


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(restore, id="restore_contact"),
        pytest.param(
            lambda case: case.update_contact_details(changes={"phone": "x"}),
            id="update_contact_details",
        ),
        pytest.param(
            lambda case: case.update_contact_details(changes={}),
            id="update_contact_details_without_changes",
        ),
        pytest.param(lambda case: case.close(reason=CaseClosedReason.OTHER), id="close"),
    ],
)
def test_closed_case_rejects_every_command(
    cipher: PersonalDataCipher, command: Callable[[OutreachCase], object]
) -> None:
    case = report_case(cipher)
    with acting(case.subject_id):
        case.close(reason=CaseClosedReason.CONTACT_LASTING)
    case.collect_events()

    with acting(case.subject_id), pytest.raises(CaseClosedError) as raised:
        command(case)

    assert raised.value.code == "case_closed"
    assert raised.value.status == 409
    assert case.collect_events() == []
    assert case.status is CaseStatus.CLOSED


def test_open_case_index_rejects_a_second_open_case_naming_the_first() -> None:
    first_case = uuid4()
    index = OpenCaseIndex(id=OpenCaseIndex.id_for(b"lookup"), case_id=first_case)

    with pytest.raises(OpenCaseExistsError) as raised:
        index.check_no_open_case()

    assert raised.value.code == "open_case_exists"
    assert raised.value.extra == {"existing_case_id": str(first_case)}
    with pytest.raises(OpenCaseExistsError):
        index.open(uuid4())


def test_open_case_index_can_be_opened_again_after_release() -> None:
    first_case, second_case = uuid4(), uuid4()
    index = OpenCaseIndex(id=OpenCaseIndex.id_for(b"lookup"), case_id=first_case)

    index.release(first_case)
    index.check_no_open_case()
    index.open(second_case)

    assert index.case_id == second_case
    kinds = [type(e) for e in index.collect_events()]
    assert kinds == [OpenCaseIndex.Opened, OpenCaseIndex.Released, OpenCaseIndex.OpenedAgain]


def test_releasing_another_case_leaves_the_index_untouched() -> None:
    open_case = uuid4()
    index = OpenCaseIndex(id=OpenCaseIndex.id_for(b"lookup"), case_id=open_case)
    index.collect_events()

    index.release(uuid4())

    assert index.case_id == open_case
    assert index.collect_events() == []
    with pytest.raises(OpenCaseExistsError):
        index.check_no_open_case()


def test_open_case_index_id_is_derived_from_the_lookup_only() -> None:
    assert OpenCaseIndex.id_for(b"a") == OpenCaseIndex.id_for(b"a")
    assert OpenCaseIndex.id_for(b"a") != OpenCaseIndex.id_for(b"b")


STORED_TOPICS = {
    OutreachCase: (
        "ContactLost",
        "ContactRestored",
        "ContactDetailsUpdated",
        "Closed",
        "CoachingNoted",
        "VisitNoted",
        "LetterNoted",
    ),
    OpenCaseIndex: ("Opened", "OpenedAgain", "Released"),
    LegalHold: ("Placed", "PlacedAgain", "Lifted"),
    Erasure: ("Requested", "KeyDestroyed", "Confirmed"),
    CategoryErasure: ("Requested", "RequestedAgain", "KeyDestroyed"),
}


@pytest.mark.parametrize("aggregate", list(STORED_TOPICS), ids=lambda a: a.__name__)
def test_the_events_keep_the_topics_they_were_stored_under(aggregate: type[Aggregate]) -> None:
    """The projections select the stored log by these topics, and stored events and
    aggregates resolve to their classes by them: moving a class into another module must not
    change them."""
    name = aggregate.__name__
    for event_name in STORED_TOPICS[aggregate]:
        stored = f"contacts.domain:{name}.{event_name}"
        event_class = getattr(aggregate, event_name)

        assert get_topic(event_class) == stored
        assert resolve_topic(stored) is event_class
    assert resolve_topic(f"contacts.domain:{name}") is aggregate


def test_a_case_records_its_events_under_the_stored_topics(cipher: PersonalDataCipher) -> None:
    case = report_case(cipher)
    restore(case)

    stored = [get_topic(type(e)) for e in case.collect_events()]

    assert stored == [
        "contacts.domain:OutreachCase.ContactLost",
        "contacts.domain:OutreachCase.ContactRestored",
    ]
