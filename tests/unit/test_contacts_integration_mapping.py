"""Domain events of the contacts service -> integration events on ``outreach.contacts``."""

from __future__ import annotations

from datetime import UTC, date
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.domain import OpenCaseIndex, OutreachCase
from contacts.integration import PRODUCER, to_integration_event

from shared.contracts import parse_envelope, stable_event_id
from shared.contracts.contacts import (
    CaseClosedReason,
    ContactChannel,
    ContactDetailsUpdated,
    ContactLost,
    ContactRestored,
    OutreachCaseClosed,
)
from shared.messaging.relay import Outgoing
from shared.privacy import PersonalDataCipher
from tests.support.contracts import assert_matches_its_schema

from .support import TODAY, acting, report_case

pytestmark = pytest.mark.unit

TRACE = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


def case_history(cipher: PersonalDataCipher) -> tuple[OutreachCase, list[Any]]:
    """A case that went through every command, and the events it recorded."""
    subject_id = cipher.subject_for("123D456789")
    causation = uuid4()
    case = report_case(
        cipher, subject_id=subject_id, actor="cm-mueller", trace=TRACE, causation_id=causation
    )
    with acting(subject_id, actor="ow-schulz", trace=TRACE):
        case.restore_contact(
            channel=ContactChannel.PHONE, restored_on=date(2026, 11, 20), today=TODAY
        )
    with acting(subject_id, actor="ow-schulz"):
        case.update_contact_details(changes={"phone": cipher.seal(subject_id, "0561 654321")})
    with acting(subject_id, actor="tl-schmidt"):
        case.close(reason=CaseClosedReason.CONTACT_LASTING)
    return case, list(case.collect_events())


def mapped(domain_event: Any) -> Outgoing:
    outgoing = to_integration_event(domain_event)
    assert outgoing is not None
    assert_matches_its_schema(outgoing.envelope)  # what an integration team validates
    return outgoing


def test_every_case_event_maps_to_a_valid_contract(cipher: PersonalDataCipher) -> None:
    case, events = case_history(cipher)

    envelopes = [mapped(e).envelope for e in events]

    assert [type(e.payload) for e in envelopes] == [
        ContactLost,
        ContactRestored,
        ContactDetailsUpdated,
        OutreachCaseClosed,
    ]
    for envelope in envelopes:
        wire = envelope.model_dump(mode="json")
        assert parse_envelope(wire) == envelope
        assert envelope.event_type == type(envelope.payload).event_type
        assert envelope.schema_version == 1
        assert envelope.producer == PRODUCER
        assert envelope.district == "kassel"
        assert envelope.subject == case.subject_id
        assert envelope.payload.case_id == case.id  # type: ignore[attr-defined]
        assert envelope.occurred_at.tzinfo is not None
        assert envelope.occurred_at.utcoffset() == UTC.utcoffset(None)


def test_mapped_envelope_serialises_its_whole_payload(cipher: PersonalDataCipher) -> None:
    _, events = case_history(cipher)

    for event in events:
        envelope = mapped(event).envelope
        plain = envelope.model_dump(mode="json")["payload"]
        as_relayed = envelope.model_dump(mode="json", serialize_as_any=True)["payload"]

        assert plain == as_relayed == envelope.payload.model_dump(mode="json")
        assert plain["case_id"] == str(event.originator_id)


def test_contact_lost_carries_the_sealed_person_and_the_evidence(
    cipher: PersonalDataCipher,
) -> None:
    _, events = case_history(cipher)

    payload = mapped(events[0]).envelope.payload

    assert isinstance(payload, ContactLost)
    assert payload.local_office == "mitte"
    assert payload.reason == "missed_appointments"
    assert payload.evidence.last_contact_on == date(2026, 3, 2)
    assert payload.evidence.unanswered_letters == 3
    assert payload.deadline == date(2027, 1, 15)
    assert payload.case_manager == "cm-mueller"
    assert payload.reported_by == "cm-mueller"
    assert cipher.open(payload.person.name) == "Erika Mustermann"
    assert payload.person.date_of_birth is None
    assert "Mustermann" not in mapped(events[0]).envelope.model_dump_json()


def test_contact_restored_names_who_recorded_it_and_the_case_manager(
    cipher: PersonalDataCipher,
) -> None:
    _, events = case_history(cipher)

    payload = mapped(events[1]).envelope.payload

    assert payload == ContactRestored(
        case_id=events[1].originator_id,
        channel=ContactChannel.PHONE,
        restored_on=date(2026, 11, 20),
        case_manager="cm-mueller",
        recorded_by="ow-schulz",
    )


def test_details_update_carries_only_the_changed_fields(cipher: PersonalDataCipher) -> None:
    _, events = case_history(cipher)

    payload = mapped(events[2]).envelope.payload

    assert isinstance(payload, ContactDetailsUpdated)
    assert payload.name is None
    assert payload.address is None
    assert cipher.open(payload.phone or "") == "0561 654321"
    assert payload.updated_by == "ow-schulz"


def test_closing_names_the_reason_and_who_closed(cipher: PersonalDataCipher) -> None:
    _, events = case_history(cipher)

    payload = mapped(events[3]).envelope.payload

    assert isinstance(payload, OutreachCaseClosed)
    assert payload.reason is CaseClosedReason.CONTACT_LASTING
    assert payload.closed_by == "tl-schmidt"


def test_event_id_is_stable_for_the_same_stored_event(cipher: PersonalDataCipher) -> None:
    case, events = case_history(cipher)

    ids = [mapped(e).envelope.event_id for e in events]

    assert ids == [mapped(e).envelope.event_id for e in events]
    assert len(set(ids)) == len(ids)
    assert ids[0] == stable_event_id(PRODUCER, case.id, 1)
    assert ids[3] == stable_event_id(PRODUCER, case.id, 4)


def test_correlation_causation_and_trace_come_from_the_event_meta(
    cipher: PersonalDataCipher,
) -> None:
    _, events = case_history(cipher)

    reported, restored, updated = (mapped(e) for e in events[:3])

    assert reported.envelope.correlation_id == UUID(events[0].meta["correlation_id"])
    assert reported.envelope.causation_id == UUID(events[0].meta["causation_id"])
    assert restored.envelope.causation_id is None
    assert reported.trace == TRACE
    assert restored.trace == TRACE
    assert updated.trace == {}


def test_trace_carrier_is_a_copy_of_the_meta(cipher: PersonalDataCipher) -> None:
    _, events = case_history(cipher)

    outgoing = mapped(events[0])
    outgoing.trace["traceparent"] = "changed"

    assert events[0].meta["trace"] == TRACE


def test_open_case_index_events_stay_internal() -> None:
    case_id = uuid4()
    index = OpenCaseIndex(id=OpenCaseIndex.id_for(b"lookup"), case_id=case_id)
    index.release(case_id)
    index.open(uuid4())

    events = index.collect_events()

    assert len(events) == 3
    assert [to_integration_event(e) for e in events] == [None, None, None]
