"""Integration-event contracts: checked-in schemas, envelope parsing, stable event ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from shared.contracts import (
    PAYLOADS,
    TOPICS,
    UnknownEventTypeError,
    all_topics,
    parse_envelope,
    stable_event_id,
)
from shared.contracts.contacts import ContactLost, ContactLostReason
from shared.contracts.export import drifted, rendered
from shared.privacy import PersonalDataCipher

pytestmark = pytest.mark.unit


@pytest.fixture
def message(cipher: PersonalDataCipher) -> dict[str, Any]:
    """A valid ContactLost message as it arrives from Kafka (JSON types only)."""
    subject = cipher.subject_for("123D456789")
    return {
        "event_id": str(stable_event_id("contacts", uuid4(), 1)),
        "event_type": "ContactLost",
        "schema_version": 1,
        "occurred_at": "2026-11-23T10:15:00+01:00",
        "producer": "contacts",
        "district": "kassel",
        "subject": str(subject),
        "correlation_id": str(uuid4()),
        "causation_id": None,
        "payload": {
            "case_id": str(uuid4()),
            "local_office": "mitte",
            "person": {
                "customer_number": cipher.seal(subject, "123D456789"),
                "name": cipher.seal(subject, "Erika Mustermann"),
                "address": cipher.seal(subject, "Wilhelmshöher Allee 1, 34117 Kassel"),
                "phone": None,
            },
            "reason": "missed_appointments",
            "evidence": {
                "unanswered_letters": 3,
                "missed_appointments": 2,
                "last_contact_on": "2026-03-02",
            },
            "deadline": "2027-01-15",
            "case_manager": "cm-mueller",
            "reported_by": "cm-mueller",
        },
    }


def test_checked_in_schemas_match_the_contracts() -> None:
    assert drifted() == []


def test_every_contract_has_a_schema() -> None:
    assert set(rendered()) == {f"{name}.v1.json" for name in PAYLOADS}
    assert set(PAYLOADS) == {
        "ContactLost",
        "ContactRestored",
        "ContactDetailsUpdated",
        "OutreachCaseClosed",
        "VisitAnnounced",
        "VisitRescheduled",
        "VisitCancelled",
        "VisitCompleted",
        "CoachingRequested",
        "CoachAssigned",
        "CoachingExtended",
        "CoachingEnded",
        "ProviderOutreachContracted",
        "ProviderOutreachContractEnded",
        "ProgrammeParticipantEnrolled",
        "ProgrammeParticipationCompleted",
        "NotificationQueued",
        "NotificationSent",
        "NotificationFailed",
        "NotificationGivenUp",
        "NotificationRetryRequested",
        "SubjectErased",
        "SubjectErasureConfirmed",
    }


def test_schema_of_a_sealed_field_requires_a_token() -> None:
    schema = json.loads(rendered()["ContactLost.v1.json"])
    name = schema["$defs"]["SealedPerson"]["properties"]["name"]

    assert name["pattern"].startswith("^pii:v1:")


@pytest.mark.parametrize("raw", ["bytes", "str", "dict"])
def test_valid_contact_lost_message_is_parsed(message: dict[str, Any], raw: str) -> None:
    data: Any = {
        "bytes": json.dumps(message).encode(),
        "str": json.dumps(message),
        "dict": message,
    }[raw]

    envelope = parse_envelope(data)

    assert isinstance(envelope.payload, ContactLost)
    assert envelope.payload.reason is ContactLostReason.MISSED_APPOINTMENTS
    assert envelope.payload.person.phone is None
    assert envelope.subject == UUID(message["subject"])
    assert envelope.event_id == UUID(message["event_id"])


def test_occurred_at_is_normalised_to_utc(message: dict[str, Any]) -> None:
    envelope = parse_envelope(message)

    assert envelope.occurred_at.utcoffset() == timedelta(0)
    assert envelope.occurred_at == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert envelope.model_dump(mode="json")["occurred_at"].startswith("2026-11-23T09:15:00")


def test_occurred_at_without_a_time_zone_is_rejected(message: dict[str, Any]) -> None:
    message["occurred_at"] = "2026-11-23T10:15:00"

    with pytest.raises(ValidationError):
        parse_envelope(message)


def test_parsed_envelope_survives_a_json_round_trip(message: dict[str, Any]) -> None:
    envelope = parse_envelope(message)

    again = parse_envelope(envelope.model_dump_json())

    assert again == envelope


@pytest.mark.parametrize("event_type", ["ContactFound", None, "contactlost"])
def test_unknown_event_type_is_rejected(message: dict[str, Any], event_type: Any) -> None:
    message["event_type"] = event_type

    with pytest.raises(UnknownEventTypeError):
        parse_envelope(message)


@pytest.mark.parametrize("version", [2, 0, None])
def test_an_unknown_schema_version_is_rejected(message: dict[str, Any], version: Any) -> None:
    message["schema_version"] = version

    with pytest.raises(UnknownEventTypeError, match="schema version"):
        parse_envelope(message)


def test_message_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(UnknownEventTypeError):
        parse_envelope("[1, 2, 3]")


def test_plaintext_name_where_a_sealed_token_is_required_is_rejected(
    message: dict[str, Any],
) -> None:
    message["payload"]["person"]["name"] = "Erika Mustermann"

    with pytest.raises(ValidationError) as raised:
        parse_envelope(message)

    assert raised.value.errors()[0]["loc"][-1] == "name"
    assert raised.value.errors()[0]["type"] == "string_pattern_mismatch"


def test_token_of_another_format_is_rejected(message: dict[str, Any]) -> None:
    message["payload"]["person"]["address"] = "pii:v2:" + "0" * 32 + ":abc"

    with pytest.raises(ValidationError):
        parse_envelope(message)


@pytest.mark.parametrize(
    "where",
    [(), ("payload",), ("payload", "person"), ("payload", "evidence")],
    ids=["envelope", "payload", "person", "evidence"],
)
def test_extra_fields_are_rejected(message: dict[str, Any], where: tuple[str, ...]) -> None:
    target = message
    for key in where:
        target = target[key]
    target["nickname"] = "Eri"

    with pytest.raises(ValidationError) as raised:
        parse_envelope(message)

    assert raised.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_reason_is_rejected(message: dict[str, Any]) -> None:
    message["payload"]["reason"] = "sanction"

    with pytest.raises(ValidationError):
        parse_envelope(message)


def test_negative_evidence_is_rejected(message: dict[str, Any]) -> None:
    message["payload"]["evidence"]["missed_appointments"] = -1

    with pytest.raises(ValidationError):
        parse_envelope(message)


def test_payload_of_another_event_type_is_rejected(message: dict[str, Any]) -> None:
    message["event_type"] = "OutreachCaseClosed"

    with pytest.raises(ValidationError):
        parse_envelope(message)


def test_parsed_envelope_is_immutable(message: dict[str, Any]) -> None:
    envelope = parse_envelope(message)

    with pytest.raises(ValidationError):
        envelope.district = "halle"  # type: ignore[misc]


def test_stable_event_id_is_deterministic_and_differs_per_version() -> None:
    case_id = uuid4()

    first = stable_event_id("contacts", case_id, 1)

    assert stable_event_id("contacts", case_id, 1) == first
    assert stable_event_id("contacts", case_id, 2) != first
    assert stable_event_id("contacts", uuid4(), 1) != first
    assert stable_event_id("visits", case_id, 1) != first
    assert first.version == 5


def test_every_topic_has_a_dead_letter_topic() -> None:
    assert "outreach.contacts" in all_topics()
    assert {f"{t}.dlq" for t in TOPICS.values()} <= set(all_topics())
    assert {"outreach.erasures", "outreach.erasures.dlq"} <= set(all_topics())
