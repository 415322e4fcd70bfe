"""Builders shared by the unit tests: a fixed "today", command metadata, a reported case."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from contacts.domain import OpenCaseIndex, OutreachCase
from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.messaging.consumer import Effect
from shared.privacy import PersonalDataCipher

TODAY = date(2026, 11, 23)
DISTRICT = "kassel"
CUSTOMER_NUMBER = "123D456789"
NAME = "Erika Mustermann"
ADDRESS = "Wilhelmshöher Allee 1, 34117 Kassel"
PHONE = "0561 123456"


def context(actor: str = "cm-mueller", role: str = "case_manager") -> CommandContext:
    return CommandContext(actor=actor, role=role, trace={})


@contextmanager
def acting(
    subject_id: UUID,
    *,
    actor: str = "cm-mueller",
    district: str = DISTRICT,
    trace: dict[str, str] | None = None,
    causation_id: UUID | None = None,
) -> Iterator[CommandContext]:
    """The events recorded inside are of ``actor``'s command about the person (as the
    contacts application records them)."""
    context = CommandContext(
        actor=actor,
        role="case_manager",
        causation_id=causation_id,
        trace=trace or {},
        subject=subject_id,
        district=district,
    )
    with acting_as(context):
        yield context


def sealed_person(cipher: PersonalDataCipher, subject_id: UUID) -> dict[str, str | None]:
    return {
        "customer_number": cipher.seal(subject_id, CUSTOMER_NUMBER),
        "name": cipher.seal(subject_id, NAME),
        "address": cipher.seal(subject_id, ADDRESS),
        "phone": cipher.seal(subject_id, PHONE),
        "date_of_birth": None,
    }


def report_case(
    cipher: PersonalDataCipher,
    *,
    actor: str = "cm-mueller",
    trace: dict[str, str] | None = None,
    causation_id: UUID | None = None,
    **overrides: Any,
) -> OutreachCase:
    """A case reported today for one person, with sealed personal fields, by ``actor``
    (in the request of ``trace``, caused by ``causation_id``)."""
    subject_id = overrides.pop("subject_id", None) or cipher.subject_for(CUSTOMER_NUMBER)
    arguments: dict[str, Any] = {
        "case_id": uuid4(),
        "index_id": OpenCaseIndex.id_for(
            cipher.blind_index("open-case", DISTRICT, CUSTOMER_NUMBER)
        ),
        "subject_id": subject_id,
        "district": DISTRICT,
        "local_office": "mitte",
        "person": sealed_person(cipher, subject_id),
        "reason": ContactLostReason.MISSED_APPOINTMENTS,
        "unanswered_letters": 3,
        "missed_appointments": 2,
        "last_contact_on": date(2026, 3, 2),
        "deadline": date(2027, 1, 15),
        "case_manager": "cm-mueller",
        "today": TODAY,
    }
    arguments.update(overrides)
    district = arguments["district"]
    with acting(subject_id, actor=actor, district=district, trace=trace, causation_id=causation_id):
        return OutreachCase.report(**arguments)


def as_consumed(effect: Effect) -> Effect:
    """``effect`` as the consumer applies it: each message in a command context of its own,
    caused by it (``shared.messaging.subscription``)."""

    def consumed(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        with acting_as(CommandContext.following(envelope.event_id, envelope.correlation_id)):
            return effect(envelope, tracking)

    return consumed
