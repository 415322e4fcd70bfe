"""The contacts application over the library's in-memory persistence."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.application import Contacts, PersonDetails
from contacts.domain import (
    CaseClosedError,
    CaseNotFoundError,
    CaseStatus,
    CategoryNotErasableError,
    ContactAlreadyRestoredError,
    NothingToUpdateError,
    OpenCaseExistsError,
    OutreachCase,
)
from eventsourcing.persistence import Tracking

from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.contracts.erasures import ErasureGround
from shared.dates import DateInFutureError
from shared.errors import ConflictError
from shared.eventsourcing.meta import (
    CommandContext,
    NoCommandContextError,
    acting_as,
    concerning,
)
from shared.privacy import ERASED, DataCategory, PersonalDataCipher

from .memory_keystore import InMemoryKeyStore
from .support import ADDRESS, CUSTOMER_NUMBER, NAME, PHONE, TODAY, context

pytestmark = pytest.mark.unit

PERSON = PersonDetails(
    customer_number=CUSTOMER_NUMBER,
    name=NAME,
    address=ADDRESS,
    phone=PHONE,
    date_of_birth=date(1990, 4, 1),
)


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Contacts:
    return Contacts(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher, today=lambda: TODAY
    )


def report(
    app: Contacts,
    *,
    district: str = "kassel",
    person: PersonDetails = PERSON,
    ctx: CommandContext | None = None,
    **kw: Any,
) -> UUID:
    """A case reported by ``ctx`` (the tests' case manager unless given)."""
    arguments: dict[str, Any] = {
        "district": district,
        "local_office": "mitte",
        "person": person,
        "reason": ContactLostReason.UNANSWERED_INVITATIONS,
        "unanswered_letters": 3,
        "missed_appointments": 0,
        "last_contact_on": date(2026, 3, 2),
        "deadline": None,
        "case_manager": "cm-mueller",
    }
    arguments.update(kw)
    with acting_as(ctx or context()):
        return app.report_contact_lost(**arguments)


def stored_states(app: Contacts) -> list[bytes]:
    return [n.state for n in app.recorder.select_notifications(start=1, limit=100)]


def events_of(app: Contacts, originator_id: UUID) -> list[Any]:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=100)
        if n.originator_id == originator_id
    ]


@pytest.fixture(autouse=True)
def case_manager() -> Iterator[None]:
    """The tests' commands are a case manager's (as an HTTP request of theirs)."""
    with acting_as(context()):
        yield


def test_reported_case_can_be_read_back_with_its_personal_data(
    app: Contacts, cipher: PersonalDataCipher
) -> None:
    case_id = report(app)

    case = app.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_LOST
    assert case.district == "kassel"
    assert case.subject_id == cipher.subject_for(CUSTOMER_NUMBER)
    assert {k: cipher.open_optional(v) for k, v in case.person.items()} == {
        "customer_number": CUSTOMER_NUMBER,
        "name": NAME,
        "address": ADDRESS,
        "phone": PHONE,
        "date_of_birth": "1990-04-01",
    }


def test_recorded_events_carry_who_did_it_and_for_whom(app: Contacts) -> None:
    ctx = context(actor="tl-schmidt", role="team_lead")
    case_id = report(app, ctx=ctx)

    [created] = events_of(app, case_id)
    assert isinstance(created, OutreachCase.ContactLost)
    assert created.meta == {
        "actor": "tl-schmidt",
        "role": "team_lead",
        "correlation_id": str(ctx.correlation_id),
        "causation_id": None,
        "trace": {},
        "subject": str(app.get_case(case_id).subject_id),
        "district": "kassel",
    }


def test_reporting_the_same_customer_twice_in_a_district_names_the_open_case(
    app: Contacts,
) -> None:
    first = report(app)
    events_before = len(stored_states(app))

    with pytest.raises(OpenCaseExistsError) as raised:
        report(app, ctx=context(actor="cm-other"))

    assert raised.value.extra == {"existing_case_id": str(first)}
    assert len(stored_states(app)) == events_before


def test_open_case_lookup_ignores_case_and_surrounding_whitespace(app: Contacts) -> None:
    first = report(app)
    sloppy = PersonDetails(customer_number=" 123d456789 ", name=NAME, address=ADDRESS)

    with pytest.raises(OpenCaseExistsError) as raised:
        report(app, person=sloppy)

    assert raised.value.extra == {"existing_case_id": str(first)}


def test_same_customer_number_in_another_district_opens_its_own_case(app: Contacts) -> None:
    in_kassel = report(app, district="kassel")

    in_borken = report(app, district="borken")

    assert in_borken != in_kassel
    assert app.get_case(in_borken).district == "borken"
    assert app.get_case(in_kassel).is_open


def test_closing_a_case_lets_a_new_case_be_opened_for_the_person(app: Contacts) -> None:
    first = report(app)
    app.close_case(first, reason=CaseClosedReason.CONTACT_LASTING)

    second = report(app)

    assert second != first
    assert app.get_case(second).status is CaseStatus.CONTACT_LOST
    with pytest.raises(OpenCaseExistsError) as raised:
        report(app)
    assert raised.value.extra == {"existing_case_id": str(second)}


def test_rejected_report_stores_nothing(app: Contacts) -> None:
    with pytest.raises(DateInFutureError):
        report(app, last_contact_on=date(2026, 11, 24))

    assert stored_states(app) == []
    report(app)  # the open-case index was not taken by the rejected report


def test_event_store_holds_no_plaintext_personal_data(app: Contacts) -> None:
    case_id = report(app)
    app.update_contact_details(
        case_id, name="Erika Musterfrau", address="Friedrichsplatz 2", phone=None
    )
    app.close_case(case_id, reason=CaseClosedReason.MOVED_AWAY)

    states = stored_states(app)
    assert len(states) == 5  # reported, index opened, details updated, closed, index released
    plaintexts = [
        CUSTOMER_NUMBER,
        CUSTOMER_NUMBER.lower(),
        "Mustermann",
        "Musterfrau",
        "Wilhelmsh",
        "Friedrichsplatz",
        "123456",
        "1990-04-01",
    ]
    for state in states:
        text = state.decode("utf-8", errors="replace")
        for plaintext in plaintexts:
            assert plaintext not in text
    assert any(b"pii:v1:" in state for state in states)


def test_erasing_the_person_makes_the_stored_case_unreadable(
    app: Contacts, cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    case_id = report(app)
    case = app.get_case(case_id)

    keystore.destroy(case.subject_id)

    reread = app.get_case(case_id)
    assert reread.district == "kassel"
    assert cipher.open(reread.person["name"] or "") == ERASED


def test_a_person_reported_again_after_erasure_is_a_new_subject(
    app: Contacts, keystore: InMemoryKeyStore
) -> None:
    first = report(app)
    erased_subject = app.get_case(first).subject_id
    app.close_case(first, reason=CaseClosedReason.MOVED_AWAY)
    keystore.destroy(erased_subject)

    second = report(app)

    assert app.get_case(second).subject_id != erased_subject


def test_changing_details_of_an_erased_person_is_a_conflict_not_a_crash(
    app: Contacts, keystore: InMemoryKeyStore
) -> None:
    case_id = report(app)
    keystore.destroy(app.get_case(case_id).subject_id)

    with pytest.raises(ConflictError) as raised:
        app.update_contact_details(case_id, name="Neu", address=None, phone=None)
    assert raised.value.code == "subject_erased"


def test_restoring_contact_is_stored(app: Contacts) -> None:
    case_id = report(app)

    app.restore_contact(case_id, channel=ContactChannel.PHONE, restored_on=date(2026, 11, 20))

    case = app.get_case(case_id)
    assert case.status is CaseStatus.CONTACT_RESTORED
    assert case.restored_channel is ContactChannel.PHONE
    assert case.version == 2
    with pytest.raises(ContactAlreadyRestoredError):
        app.restore_contact(case_id, channel=ContactChannel.PHONE, restored_on=TODAY)


def test_restoring_contact_uses_the_applications_today(app: Contacts) -> None:
    case_id = report(app)

    with pytest.raises(DateInFutureError):
        app.restore_contact(case_id, channel=ContactChannel.PHONE, restored_on=date(2026, 11, 24))

    assert app.get_case(case_id).version == 1


def test_updating_contact_details_seals_and_stores_only_given_fields(
    app: Contacts, cipher: PersonalDataCipher
) -> None:
    case_id = report(app)
    before = app.get_case(case_id).person

    app.update_contact_details(
        case_id, name=None, address="Friedrichsplatz 2, 34117 Kassel", phone=None
    )

    case = app.get_case(case_id)
    assert cipher.open(case.person["address"] or "") == "Friedrichsplatz 2, 34117 Kassel"
    assert case.person["name"] == before["name"]
    assert case.person["phone"] == before["phone"]
    [_, updated] = events_of(app, case_id)
    assert isinstance(updated, OutreachCase.ContactDetailsUpdated)
    assert set(updated.changes) == {"address"}


def test_updating_contact_details_with_nothing_given_is_rejected(app: Contacts) -> None:
    case_id = report(app)

    with pytest.raises(NothingToUpdateError):
        app.update_contact_details(case_id, name=None, address=None, phone=None)

    assert app.get_case(case_id).version == 1


def test_closed_case_is_stored_closed_and_rejects_commands(app: Contacts) -> None:
    case_id = report(app)

    app.close_case(case_id, reason=CaseClosedReason.DECEASED)

    case = app.get_case(case_id)
    assert case.status is CaseStatus.CLOSED
    with pytest.raises(CaseClosedError):
        app.close_case(case_id, reason=CaseClosedReason.DECEASED)
    with pytest.raises(CaseClosedError):
        app.restore_contact(case_id, channel=ContactChannel.PHONE, restored_on=TODAY)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda app, case_id: app.get_case(case_id), id="get_case"),
        pytest.param(
            lambda app, case_id: app.restore_contact(
                case_id, channel=ContactChannel.PHONE, restored_on=TODAY
            ),
            id="restore_contact",
        ),
        pytest.param(
            lambda app, case_id: app.update_contact_details(
                case_id, name="x", address=None, phone=None
            ),
            id="update_contact_details",
        ),
        pytest.param(
            lambda app, case_id: app.close_case(case_id, reason=CaseClosedReason.OTHER),
            id="close_case",
        ),
    ],
)
def test_unknown_case_is_not_found(
    app: Contacts, command: Callable[[Contacts, UUID], object]
) -> None:
    with pytest.raises(CaseNotFoundError) as raised:
        command(app, uuid4())

    assert raised.value.status == 404
    assert raised.value.code == "case_not_found"


def test_open_case_index_id_is_not_a_case(app: Contacts) -> None:
    case_id = report(app)
    index_id = app.get_case(case_id).index_id

    with pytest.raises(CaseNotFoundError):
        app.get_case(index_id)


def test_saving_with_a_new_tracking_record_stores_events_and_position(app: Contacts) -> None:
    case_id = report(app)
    case = app.get_case(case_id)
    with concerning(case.subject_id, case.district):
        case.restore_contact(
            channel=ContactChannel.AFTER_ANNOUNCEMENT_LETTER, restored_on=TODAY, today=TODAY
        )

    assert app.save_tracked(Tracking("visits", 7), case) is True

    assert app.recorder.max_tracking_id("visits") == 7
    assert app.get_case(case_id).status is CaseStatus.CONTACT_RESTORED


def test_saving_with_a_tracking_record_seen_before_stores_nothing(app: Contacts) -> None:
    case_id = report(app)
    first = app.get_case(case_id)
    with concerning(first.subject_id, first.district):
        first.restore_contact(
            channel=ContactChannel.AFTER_ANNOUNCEMENT_LETTER, restored_on=TODAY, today=TODAY
        )
    assert app.save_tracked(Tracking("visits", 7), first) is True
    stored = len(stored_states(app))

    again = app.get_case(case_id)
    with concerning(again.subject_id, again.district):
        again.close(reason=CaseClosedReason.CONTACT_LASTING)

    assert app.save_tracked(Tracking("visits", 7), again) is False
    assert len(stored_states(app)) == stored
    assert app.get_case(case_id).status is CaseStatus.CONTACT_RESTORED
    assert app.recorder.max_tracking_id("visits") == 7


def test_a_report_racing_another_for_the_same_customer_names_the_winner(
    app: Contacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = report(app)
    stored = len(stored_states(app))
    looked_up = app.find
    calls = 0

    def stale_lookup(kind: type[Any], aggregate_id: UUID) -> Any:
        # The first look-up happened before the winner saved: no index yet.
        nonlocal calls
        calls += 1
        return None if calls == 1 else looked_up(kind, aggregate_id)

    monkeypatch.setattr(app, "find", stale_lookup)

    with pytest.raises(OpenCaseExistsError) as raised:
        report(app, ctx=context(actor="cm-other"))

    assert raised.value.extra == {"existing_case_id": str(winner)}
    assert len(stored_states(app)) == stored


# --- erasing one data category (retention of visit notes) ----------------------------------


def erase_notes(app: Contacts, keystore: InMemoryKeyStore, subject: UUID, **kw: Any) -> Any:
    arguments: dict[str, Any] = {
        "category": "visit_note",
        "district": "kassel",
        "ground": ErasureGround.RETENTION_PERIOD_ENDED,
        "reason": "Aufbewahrungsfrist abgelaufen",
        "destroy_key": keystore.destroy,
    }
    arguments.update(kw)
    return app.request_category_erasure(subject, **arguments)


def test_erasing_the_visit_notes_destroys_only_their_key_and_is_recorded(
    app: Contacts, cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    case = app.get_case(report(app))
    note = cipher.seal(case.subject_id, "Notiz", DataCategory.VISIT_NOTE)

    erasure = erase_notes(app, keystore, case.subject_id)

    assert cipher.open(note) == ERASED
    assert cipher.open(case.person["name"] or "") == NAME
    assert erasure.category == "visit_note"
    assert erasure.key_destroyed_at is not None
    assert app.erasure_of(case.subject_id) is None
    assert [type(e).__name__ for e in events_of(app, erasure.id)] == ["Requested", "KeyDestroyed"]

    again = erase_notes(app, keystore, case.subject_id)

    assert again.id == erasure.id
    assert [type(e).__name__ for e in events_of(app, erasure.id)][2:] == [
        "RequestedAgain",
        "KeyDestroyed",
    ]


def test_a_legal_hold_refuses_erasing_the_notes(
    app: Contacts, cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = app.get_case(report(app)).subject_id
    note = cipher.seal(subject, "Notiz", DataCategory.VISIT_NOTE)
    app.place_legal_hold(subject, district="kassel", reason="Az. SG-1")

    with pytest.raises(ConflictError) as raised:
        erase_notes(app, keystore, subject)

    assert raised.value.code == "legal_hold"
    assert cipher.open(note) == "Notiz"


def test_a_legal_hold_on_an_erased_person_is_refused(
    app: Contacts, keystore: InMemoryKeyStore
) -> None:
    subject = app.get_case(report(app)).subject_id
    app.request_erasure(
        subject,
        district="kassel",
        ground=ErasureGround.REQUESTED_BY_PERSON,
        reason="Az. DSB-1",
        destroy_key=keystore.destroy,
    )

    with pytest.raises(ConflictError) as raised:
        app.place_legal_hold(subject, district="kassel", reason="Az. SG-2")

    assert raised.value.code == "subject_erased"
    assert app.legal_hold(subject) is None


def test_the_record_category_is_not_erased_on_its_own(
    app: Contacts, cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    case = app.get_case(report(app))

    with pytest.raises(CategoryNotErasableError):
        erase_notes(app, keystore, case.subject_id, category="record")

    assert cipher.open(case.person["name"] or "") == NAME


def test_an_erasure_names_the_officer_who_requested_it_also_when_read_back(
    app: Contacts, keystore: InMemoryKeyStore
) -> None:
    subject = app.get_case(report(app)).subject_id
    with acting_as(context("dpo-anna", "data_protection_officer")):
        app.request_erasure(
            subject,
            district="kassel",
            ground=ErasureGround.REQUESTED_BY_PERSON,
            reason="Az. DSB-1",
            destroy_key=keystore.destroy,
        )

    erasure = app.erasure_of(subject)
    assert erasure is not None
    assert erasure.requested_by == "dpo-anna"
    assert [e.requested_by for e in events_of(app, erasure.id)[1:]] == ["dpo-anna"]


def test_a_later_erasure_of_the_notes_names_its_own_requester(
    app: Contacts, keystore: InMemoryKeyStore
) -> None:
    subject = app.get_case(report(app)).subject_id
    with acting_as(context("retention-job", "system")):
        first = erase_notes(app, keystore, subject)
    with acting_as(context("dpo-anna", "data_protection_officer")):
        erase_notes(app, keystore, subject)

    again = app.get_category_erasure(first.id)
    assert again.requested_by == "dpo-anna"
    destroyed = [e for e in events_of(app, first.id) if type(e).__name__ == "KeyDestroyed"]
    assert [e.requested_by for e in destroyed] == ["retention-job", "dpo-anna"]


def test_a_change_recorded_outside_any_request_or_consumed_message_is_refused(
    app: Contacts,
) -> None:
    case_id = report(app)
    stored = len(stored_states(app))

    def close() -> None:
        app.close_case(case_id, reason=CaseClosedReason.OTHER)

    with pytest.raises(NoCommandContextError):
        contextvars.Context().run(close)  # a context no request or message set

    assert len(stored_states(app)) == stored
    assert app.get_case(case_id).status is CaseStatus.CONTACT_LOST
