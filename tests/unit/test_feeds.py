"""The feed filter: only allow-listed fields, never a sealed one, a pseudonym per subscriber."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.feeds import FeedFieldNotAllowedError, Subscriber, check_allow_list, feed_message

from shared.contracts import Envelope
from shared.contracts.contacts import ContactLost, Evidence, SealedPerson
from shared.privacy import TOKEN_PREFIX, PersonalDataCipher

from .support import ADDRESS, CUSTOMER_NUMBER, NAME, PHONE

pytestmark = pytest.mark.unit

ALLOW = {"ContactLost": ["reason", "evidence.missed_appointments", "case_id", "deadline"]}


def subscriber(
    name: str = "youth-office",
    allow: dict[str, list[str]] | None = None,
    districts: frozenset[str] = frozenset({"kassel"}),
) -> Subscriber:
    return Subscriber(name, "capacity planning", allow or ALLOW, os.urandom(32), districts)


def contact_lost(cipher: PersonalDataCipher) -> dict[str, Any]:
    subject = cipher.subject_for(CUSTOMER_NUMBER)
    seal = cipher.seal
    envelope = Envelope[ContactLost](
        event_id=uuid4(),
        event_type="ContactLost",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="contacts",
        district="kassel",
        subject=subject,
        correlation_id=uuid4(),
        payload=ContactLost(
            case_id=uuid4(),
            local_office="mitte",
            person=SealedPerson(
                customer_number=seal(subject, CUSTOMER_NUMBER),
                name=seal(subject, NAME),
                address=seal(subject, ADDRESS),
                phone=seal(subject, PHONE),
            ),
            reason="missed_appointments",
            evidence=Evidence(unanswered_letters=3, missed_appointments=2),
            deadline=date(2027, 1, 15),
            case_manager="cm-mueller",
            reported_by="cm-mueller",
        ),
    )
    return envelope.model_dump(mode="json")


def test_a_subscriber_gets_only_its_allow_listed_fields(cipher: PersonalDataCipher) -> None:
    raw = contact_lost(cipher)

    message = feed_message(subscriber(), raw)

    assert message is not None
    assert message["event_type"] == "ContactLost"
    assert set(message["data"]) == {"reason", "evidence", "case_id", "deadline"}
    assert message["data"]["evidence"] == {"missed_appointments": 2}
    assert message["data"]["reason"] == "missed_appointments"
    assert message["district"] == "kassel"
    text = str(message)
    assert TOKEN_PREFIX not in text
    assert "cm-mueller" not in text
    assert raw["subject"] not in text


def test_event_types_off_the_allow_list_are_not_passed_on(cipher: PersonalDataCipher) -> None:
    raw = contact_lost(cipher)

    assert feed_message(subscriber(allow={"ContactRestored": ["channel"]}), raw) is None


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("ContactLost", "person"),
        ("ContactLost", "person.name"),
        ("ContactLost", "person.address"),
        ("ContactDetailsUpdated", "phone"),
        ("VisitAnnounced", "name"),
        ("VisitAnnounced", "place_description"),
    ],
)
def test_sealed_fields_can_never_be_allow_listed(event_type: str, field: str) -> None:
    with pytest.raises(FeedFieldNotAllowedError):
        check_allow_list({event_type: [field]})


def test_unknown_fields_and_the_erasure_events_cannot_be_allow_listed() -> None:
    check_allow_list(ALLOW)
    with pytest.raises(FeedFieldNotAllowedError):
        check_allow_list({"ContactLost": ["no_such_field"]})
    with pytest.raises(FeedFieldNotAllowedError):
        check_allow_list({"SubjectErased": ["erasure_id"]})


def test_a_sealed_value_is_dropped_even_if_an_allow_list_named_it(
    cipher: PersonalDataCipher,
) -> None:
    careless = subscriber(allow={"ContactLost": ["person.name", "person", "reason"]})

    message = feed_message(careless, contact_lost(cipher))

    assert message is not None
    assert message["data"] == {"reason": "missed_appointments"}


def test_each_subscriber_has_its_own_pseudonyms(cipher: PersonalDataCipher) -> None:
    raw = contact_lost(cipher)
    youth, housing = subscriber("youth-office"), subscriber("housing-office")

    first, second = feed_message(youth, raw), feed_message(housing, raw)
    again = feed_message(youth, raw)

    assert first is not None
    assert second is not None
    assert again is not None
    assert first["person"] != second["person"]
    assert first["data"]["case_id"] != second["data"]["case_id"]
    assert first["feed_event_id"] != second["feed_event_id"]
    assert first["person"] == again["person"]  # stable within one subscriber's feed
    assert first["data"]["case_id"] == again["data"]["case_id"]
    assert UUID(first["person"]) != UUID(raw["subject"])
    assert first["data"]["case_id"] != raw["payload"]["case_id"]


def test_an_erasure_reaches_every_subscriber_as_a_tombstone_of_its_pseudonym(
    cipher: PersonalDataCipher,
) -> None:
    raw = contact_lost(cipher)
    erased = {**raw, "event_type": "SubjectErased", "event_id": str(uuid4()), "payload": {}}
    youth = subscriber(allow={"ContactRestored": ["channel"]})

    tombstone = feed_message(youth, erased)
    earlier = feed_message(youth, raw)

    assert earlier is None
    assert tombstone is not None
    assert tombstone["event_type"] == "SubjectErased"
    assert tombstone["data"] == {}
    assert tombstone["person"] == str(youth.pseudonym(UUID(raw["subject"])))


def test_a_subscriber_gets_only_the_events_of_the_districts_it_was_registered_for(
    cipher: PersonalDataCipher,
) -> None:
    raw = contact_lost(cipher)  # of kassel

    elsewhere = subscriber(districts=frozenset({"darmstadt-dieburg"}))
    here = subscriber(districts=frozenset({"darmstadt-dieburg", "kassel"}))

    assert feed_message(elsewhere, raw) is None
    assert feed_message(here, raw) is not None


def test_a_tombstone_reaches_a_subscriber_of_another_district_too(
    cipher: PersonalDataCipher,
) -> None:
    """The person may have had a case in the subscriber's district as well."""
    raw = contact_lost(cipher)
    erased = {**raw, "event_type": "SubjectErased", "event_id": str(uuid4()), "payload": {}}
    elsewhere = subscriber(districts=frozenset({"darmstadt-dieburg"}))

    tombstone = feed_message(elsewhere, erased)

    assert tombstone is not None
    assert tombstone["person"] == str(elsewhere.pseudonym(UUID(raw["subject"])))
